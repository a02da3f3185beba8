"""project.toml's [cases], [casetypes] and [disclosure]: validated at import, stored, used by the cases."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from supervision.errors import PackageError
from supervision.package.service import import_package
from tests.common import PROJECT_TOML, write_package


def _import(conn, tmp_path, extra: str):
    return import_package(conn, write_package(tmp_path / "pkg", project_toml=PROJECT_TOML + extra))


def test_overrides_and_limits_are_stored_and_shape_the_stages(conn, tmp_path):
    _import(conn, tmp_path, '\n[cases]\naccuracy_limit_m = 8\n\n[casetypes.residential.stages.survey]\n'
                            'time_limit_days = 3\n\n[disclosure]\noffice_phone = "024-1234567"\n')
    config = conn.execute(text("SELECT case_config FROM project WHERE code = 'T-001'")).scalar_one()
    assert config["accuracy_limit_m"] == 8 and config["disclosure"]["office_phone"] == "024-1234567"
    limits = dict(conn.execute(text("SELECT DISTINCT s.code, s.time_limit_days FROM case_stage s JOIN case_file cf "
                                    "ON cf.id = s.case_id JOIN project p ON p.id = cf.project_id "
                                    "WHERE p.code = 'T-001' AND cf.case_type = 'residential'")).all())
    assert limits["survey"] == 3 and limits["quantity"] > 3


@pytest.mark.parametrize("extra,key", [
    ('\n[cases]\naccuracy_limit = 8\n', "cases"),
    ('\n[casetypes.residential.stages.nope]\ntime_limit_days = 3\n', "casetypes"),
    ('\n[casetypes.villa]\nremove = []\n', "casetypes"),
    ('\n[disclosure]\nfax = "1"\n', "disclosure"),
])
def test_a_wrong_key_is_a_package_error_naming_it(conn, tmp_path, extra, key):
    with pytest.raises(PackageError) as err:
        _import(conn, tmp_path, extra)
    problem = err.value.issues[0]
    assert problem.file.endswith("project.toml") and problem.column == key
    assert conn.execute(text("SELECT count(*) FROM project WHERE code = 'T-001'")).scalar_one() == 0
