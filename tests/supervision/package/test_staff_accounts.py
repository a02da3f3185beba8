"""Importing ``staff.*`` never takes over an existing account (issue 9, point 3)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from supervision.accounts import authenticate, upsert_user
from supervision.errors import PackageError
from supervision.package.service import import_package
from tests.common import package_tables, write_package
from tests.supervision.package.test_import import table_counts

PASSWORD = "a-long-admin-password"


def _account(conn, username: str):
    return conn.execute(text("SELECT id, name, role, id_number, password_hash, active FROM app_user "
                             "WHERE username = :u"), {"u": username}).one_or_none()


def _staff_package(tmp_path, rows: list[dict], name: str = "pkg"):
    tables = package_tables()
    staff = tables["staff"]
    for row in rows:
        staff.loc[len(staff)] = row
    return write_package(tmp_path / name, tables=tables)


def test_staff_row_naming_an_admin_with_another_role_is_refused(conn, tmp_path):
    upsert_user(conn, username="boss", name="管理员", role="admin", password=PASSWORD)
    before_admin = _account(conn, "boss")
    before = table_counts(conn)
    pkg = _staff_package(tmp_path, [dict(staff_id="boss", name="假冒", id_number="", role="field_crew",
                                         supervisor_staff_id="")])
    with pytest.raises(PackageError) as info:
        import_package(conn, pkg)
    hits = [i for i in info.value.issues if i.file == "staff.csv" and i.row == 5 and i.column == "role"]
    assert hits, info.value.report()
    assert "admin" in hits[0].message_en and "管理员" in hits[0].message_zh
    assert _account(conn, "boss") == before_admin
    assert table_counts(conn) == before
    assert authenticate(conn, "boss", PASSWORD) is not None


def test_staff_row_with_another_id_number_is_refused_and_the_cli_exits_2(conn, tmp_path):
    upsert_user(conn, username="S002", name="周强", role="supervisor", password=PASSWORD,
                id_number="210106197501020013")
    tables = package_tables()
    tables["staff"].loc[tables["staff"].staff_id == "S002", "id_number"] = "11010519491231002X"
    pkg = write_package(tmp_path / "pkg", tables=tables)
    before = table_counts(conn)
    res = CliRunner().invoke(cli, ["import", str(pkg)])
    assert res.exit_code == 2, res.output
    assert "staff.csv row 3, column id_number" in res.output
    assert table_counts(conn) == before
    assert _account(conn, "S002").id_number == "210106197501020013"


def test_existing_accounts_keep_role_password_and_name_new_ones_cannot_sign_in(conn, tmp_path):
    upsert_user(conn, username="S002", name="周强(本人)", role="supervisor", password=PASSWORD)
    before = _account(conn, "S002")
    result, _ = import_package(conn, write_package(tmp_path / "pkg"))
    after = _account(conn, "S002")
    assert (after.id, after.name, after.role, after.password_hash, after.active) == \
        (before.id, before.name, before.role, before.password_hash, before.active)
    assert after.id_number == "210106197501020013"          # a missing ID number is filled in, never replaced
    created = _account(conn, "S001")
    assert created.role == "field_crew" and created.password_hash is None
    assert authenticate(conn, "S001", "") is None and authenticate(conn, "S001", "anything-at-all") is None
    # re-importing the same package is no conflict, and still changes nothing
    import_package(conn, write_package(tmp_path / "pkg2"))
    assert _account(conn, "S002") == after
    members = conn.execute(text("SELECT count(*) FROM project_staff WHERE project_id = :p"),
                           {"p": result.project_id}).scalar_one()
    assert members == len(package_tables()["staff"])


def test_synthetic_districts_and_the_canonical_package_share_a_database(conn, tmp_path, district_dir):
    """Staff numbers are global accounts: generated districts number their own people, so that the demo's
    committed district never blocks another package (here two districts and the canonical one, in turn)."""
    import_package(conn, write_package(tmp_path / "pkg"))
    for seed in (1, 2):
        result, _ = import_package(conn, district_dir(seed, 40, False))
        staff = conn.execute(text("SELECT count(*) FROM project_staff WHERE project_id = :p"),
                             {"p": result.project_id}).scalar_one()
        assert staff > 0
