"""Every non-area rule against truth.csv on synthetic districts (seeds 1-5), on real PostGIS."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from supervision import models
from supervision.package.service import import_package
from tests.supervision.models.conftest import truth_of

OTHER_RULES = {"ID_INVALID", "ID_NOT_FOUND", "NAME_MISMATCH", "DECEASED", "MOVED_OUT", "NON_VILLAGER",
               "MOVED_IN_AFTER_FREEZE", "SPLIT_AFTER_FREEZE", "HOMESTEAD_AFTER_FREEZE", "DUPLICATE_BUILDING",
               "DUPLICATE_PERSON", "AMOUNT_MISMATCH", "OVERPAID", "PAYEE_NOT_MEMBER", "STAFF_CONFLICT",
               "PHOTO_FAR_FROM_PARCEL"}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_rules_find_exactly_the_planted_anomalies(conn, district_dir, seed):
    pkg = district_dir(seed)
    result, _ = import_package(conn, pkg)
    models.run_all(conn, result.project_code)
    rows = conn.execute(text("SELECT rule_code, subject_type, subject_key FROM alert WHERE project_id = :p "
                             "AND firing AND rule_code = ANY(:r)"), {"p": result.project_id, "r": list(OTHER_RULES)})
    found = {tuple(r) for r in rows}
    truth = truth_of(pkg, OTHER_RULES)
    problems = []
    for rule in sorted(OTHER_RULES):
        f = {x for x in found if x[0] == rule}
        t = {x for x in truth if x[0] == rule}
        if not t:
            problems.append(f"{rule}: nothing planted")
        if f != t:
            problems.append(f"{rule}: false positives {sorted(f - t)}, missed {sorted(t - f)}")
    assert not problems, "\n".join(problems)
