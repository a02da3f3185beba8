"""One project and one set of users for every test of the policy (API, map, CLI, exports use the same).

Alerts planted on the canonical package:
- NAME_MISMATCH (prompt, person 李秀英 of household 0002): the claim names her 李秀;
- AMOUNT_MISMATCH (internal, claim C2 of household 0001);
- AREA_INFLATED (report, building JC00002/1 of household 0002): 150 m² claimed on a 10 × 8 m house;
- STAFF_CONFLICT (report, household 0003): field crew S010 is assigned to the household they live in.
Users: S001 field crew assigned to every household, S009 field crew assigned nothing, S010 field crew of
household 0003 (its own), S002 supervisor, S003 inspector, S011 inspector who lives in household 0002,
G01 GIS officer.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Connection, text

from supervision import models
from supervision.accounts import get_user, hash_password, upsert_user
from supervision.identity import check_char
from supervision.package.service import import_package
from tests.common import HOUSEHOLDS, VILLAGE, package_layers, package_tables, write_package

PASSWORD = "correct-horse-42"
S010_ID = "21010619850505001" + check_char("21010619850505001")
S011_ID = "21010619880808002" + check_char("21010619880808002")
MISMATCH_ID = HOUSEHOLDS[1][1]          # 李秀英, household 0002
USERS = [("S001", "赵敏", "field_crew", None), ("S002", "周强", "supervisor", None), ("S003", "吴刚", "inspector", None),
         ("S009", "钱芳", "field_crew", None), ("S010", "孙丽", "field_crew", S010_ID),
         ("S011", "李娜", "inspector", S011_ID), ("G01", "郑洁", "gis_officer", None)]


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def _registry_row(id_number: str, name: str, household_no: str) -> dict:
    return dict(id_number=id_number, name=name, gender="M" if int(id_number[16]) % 2 else "F",
                birth_date=f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}", household_no=household_no,
                relation_to_head="子女", village_code=VILLAGE, status="active", status_date="", moved_in_on="",
                split_from_household_no="", split_on="")


def build(conn: Connection, tmp_path: Path) -> dict[str, int]:
    """Import the project, set the users' passwords, run the models; returns alert id by rule code."""
    tables = package_tables()
    tables["claims"].loc[2, "claimant_name"] = "李秀"                 # registry: 李秀英
    tables["claims"].loc[1, "amount_yuan"] = "10000.00"              # 6 mu x 1800 = 10800
    tables["payments"].loc[0, "amount_yuan"] = "306000.00"           # no OVERPAID
    tables["registry"] = pd.concat([tables["registry"], pd.DataFrame([
        _registry_row(S010_ID, "孙丽", HOUSEHOLDS[2][0]), _registry_row(S011_ID, "李娜", HOUSEHOLDS[1][0])])],
        ignore_index=True)
    tables["staff"] = pd.concat([tables["staff"], pd.DataFrame([dict(
        staff_id="S010", name="孙丽", id_number=S010_ID, role="field_crew", supervisor_staff_id="S002")])],
        ignore_index=True)
    tables["assignments"] = pd.concat([tables["assignments"], pd.DataFrame([dict(
        household_no=HOUSEHOLDS[2][0], stage="核量", staff_id="S010")])], ignore_index=True)
    layers = package_layers()
    layers["buildings"].loc[2, "claimed_floor_area_m2"] = 150.0
    import_package(conn, write_package(tmp_path / "pkg", tables=tables, layers=layers))
    for username, name, role, id_number in USERS:
        upsert_user(conn, username=username, name=name, role=role, id_number=id_number)
    conn.execute(text("UPDATE app_user SET password_hash = :h WHERE username = ANY(:u)"),   # one argon2 hash
                 {"h": _password_hash(), "u": [u[0] for u in USERS]})
    models.run_all(conn, "T-001")
    rows = conn.execute(text("SELECT a.rule_code, a.id FROM alert a JOIN project p ON p.id = a.project_id "
                             "WHERE p.code = 'T-001' AND a.firing")).all()
    return {r.rule_code: r.id for r in rows}


def user(conn: Connection, username: str):
    """The account ``username``."""
    uid = conn.execute(text("SELECT id FROM app_user WHERE username = :u"), {"u": username}).scalar_one()
    return get_user(conn, uid)


#: The rules whose alerts :func:`build` raises.
ALL = {"NAME_MISMATCH", "AMOUNT_MISMATCH", "AREA_INFLATED", "STAFF_CONFLICT"}


@pytest.fixture
def alerts(conn, tmp_path):
    """The policy project built (:func:`build`): alert ids by rule."""
    ids = build(conn, tmp_path)
    assert set(ids) == ALL
    return ids
