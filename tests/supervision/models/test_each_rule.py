"""Each registry/ledger rule on a hand-built case that fires and a near miss that must not (real PostGIS)."""

from __future__ import annotations

import pandas as pd
import pyproj
import pytest
from sqlalchemy import text

from supervision.identity import check_char
from supervision.package.service import import_package
from supervision.projects import get_project
from tests.common import HOUSEHOLDS, PARCELS, PROJECT_TOML, package_tables, write_package

H1, H2, H3 = HOUSEHOLDS
STAFF_ID = "210106198203040029"      # S001, the field crew assigned to every household


def _with_check(body17: str) -> str:
    return body17 + check_char(body17)


def _set(frame: pd.DataFrame, mask, **values) -> None:
    for k, v in values.items():
        frame.loc[mask, k] = v


def _registry_row(**kw) -> dict:
    row = dict(id_number="", name="", gender="M", birth_date="1980-01-01", household_no="", relation_to_head="户主",
               village_code="210112101201", status="active", status_date="", moved_in_on="",
               split_from_household_no="", split_on="")
    row.update(kw)
    return row


def _add_registry(t, **kw) -> None:
    t["registry"] = pd.concat([t["registry"], pd.DataFrame([_registry_row(**kw)])], ignore_index=True)


def _photo_at(t, dx_m: float, dy_m: float) -> None:
    c = PARCELS["210112101201JC00001"].centroid
    lon, lat = pyproj.Transformer.from_crs("EPSG:4550", "EPSG:4490", always_xy=True).transform(c.x + dx_m, c.y + dy_m)
    _set(t["field_photos"], t["field_photos"].photo_id == "P1", lon=f"{lon:.7f}", lat=f"{lat:.7f}")


def _claims(t, claim_id):
    return t["claims"].claim_id == claim_id


def _reg(t, id_number):
    return t["registry"].id_number == id_number


OFF_BY_ONE = _with_check(H3[1][:15] + ("1" if H3[1][15] != "1" else "2") + H3[1][16])   # a typo in the sequence
OLD_PERSON = _with_check("21011219300101001")       # a county code younger than the person: still a valid ID

CASES = {
    "ID_INVALID": (
        lambda t: _set(t["claims"], _claims(t, "C4"), claimant_id_number=H3[1][:17] + ("0" if H3[1][17] != "0" else "1")),
        {H3[1][:17] + ("0" if H3[1][17] != "0" else "1")},
        lambda t: (_set(t["claims"], _claims(t, "C4"), claimant_id_number=OLD_PERSON),
                   _add_registry(t, id_number=OLD_PERSON, name=H3[2], household_no=H3[0])),
    ),
    "ID_NOT_FOUND": (
        lambda t: _set(t["claims"], _claims(t, "C4"), claimant_id_number=OFF_BY_ONE),
        {OFF_BY_ONE},
        lambda t: None,
    ),
    "NAME_MISMATCH": (
        lambda t: _set(t["claims"], _claims(t, "C3"), claimant_name="李绣英"),
        {H2[1]},
        lambda t: (_set(t["claims"], _claims(t, "C3"), claimant_name="李　秀英"),
                   _set(t["payments"], t["payments"].payment_id == "PAY2", payee_name=" 李秀英 ")),
    ),
    "DECEASED": (
        lambda t: _set(t["registry"], _reg(t, H2[1]), status="deceased", status_date="2025-03-01"),
        {H2[1]},
        lambda t: _set(t["registry"], _reg(t, H2[1]), status="deceased", status_date="2025-07-03"),
    ),
    "MOVED_OUT": (
        lambda t: _set(t["registry"], _reg(t, H3[1]), status="moved_out", status_date="2025-02-28"),
        {H3[1]},
        lambda t: _set(t["registry"], _reg(t, H3[1]), status="moved_out", status_date="2025-03-01"),
    ),
    "NON_VILLAGER": (
        lambda t: _set(t["registry"], _reg(t, H3[1]), village_code="210112101299"),
        {H3[1]},
        lambda t: _set(t["registry"], _reg(t, H3[1]), household_no="2101121012019999"),
    ),
    "MOVED_IN_AFTER_FREEZE": (
        lambda t: _set(t["registry"], _reg(t, H3[1]), moved_in_on="2025-03-01"),
        {H3[1]},
        lambda t: _set(t["registry"], _reg(t, H3[1]), moved_in_on="2025-02-28"),
    ),
    "SPLIT_AFTER_FREEZE": (
        lambda t: _set(t["registry"], _reg(t, H3[1]), split_from_household_no=H1[0], split_on="2025-03-01"),
        {H3[0]},
        lambda t: _set(t["registry"], _reg(t, H3[1]), split_from_household_no=H1[0], split_on="2025-02-28"),
    ),
    "HOMESTEAD_AFTER_FREEZE": (
        lambda t: _set(t["homestead_approvals"], slice(None), approved_on="2025-03-01"),
        {"210112101201JC00001"},
        lambda t: _set(t["homestead_approvals"], slice(None), approved_on="2025-02-28"),
    ),
    "DUPLICATE_BUILDING": (
        lambda t: t.__setitem__("claims", pd.concat([t["claims"], t["claims"][_claims(t, "C1")].assign(
            claim_id="C5", household_no=H3[0], claimant_id_number=H3[1], claimant_name=H3[2])])),
        {"210112101201JC00001/1"},
        lambda t: t.__setitem__("claims", pd.concat([t["claims"], t["claims"][_claims(t, "C1")].assign(
            claim_id="C5", quantity="0", amount_yuan="0")])),
    ),
    "DUPLICATE_PERSON": (
        lambda t: _set(t["claims"], _claims(t, "C4"), claimant_id_number=H1[1], claimant_name=H1[2]),
        {H1[1]},
        lambda t: _set(t["claims"], _claims(t, "C4"), claimant_name=H1[2]),       # a namesake, another ID
    ),
    "AMOUNT_MISMATCH": (
        lambda t: _set(t["claims"], _claims(t, "C3"), amount_yuan="128001.20"),
        {"C3"},
        lambda t: _set(t["claims"], _claims(t, "C3"), amount_yuan="128000.90"),
    ),
    "OVERPAID": (
        lambda t: _set(t["payments"], t["payments"].payment_id == "PAY2", amount_yuan="128001.50"),
        {H2[0]},
        lambda t: _set(t["payments"], t["payments"].payment_id == "PAY2", amount_yuan="128000.50"),
    ),
    "PAYEE_NOT_MEMBER": (
        lambda t: _set(t["payments"], t["payments"].payment_id == "PAY2", payee_id_number=H1[1], payee_name=H1[2]),
        {"PAY2"},
        lambda t: (_add_registry(t, id_number=_with_check("21011219620101002"), name="周大勇", household_no=H2[0],
                                 relation_to_head="配偶"),
                   _set(t["payments"], t["payments"].payment_id == "PAY2",
                        payee_id_number=_with_check("21011219620101002"), payee_name="周大勇")),
    ),
    "STAFF_CONFLICT": (
        lambda t: (_add_registry(t, id_number=STAFF_ID, name="赵敏", household_no="2101121012019001"),
                   _set(t["registry"], _reg(t, H3[1]), split_from_household_no="2101121012019001",
                        split_on="2001-05-01")),
        {H3[0]},
        lambda t: _add_registry(t, id_number=STAFF_ID, name="赵敏", household_no="2101121012019001"),
    ),
    "PHOTO_FAR_FROM_PARCEL": (
        lambda t: _photo_at(t, 0, -(15 + 215)),        # 215 m south of the homestead (farmland lies north)
        {"P1"},
        lambda t: _photo_at(t, 0, -(15 + 150)),
    ),
}


def _run(conn, tmp_path, rule: str, mutate) -> set[str]:
    from supervision import models

    tables = package_tables()
    mutate(tables)
    result, _ = import_package(conn, write_package(tmp_path, tables=tables))
    model = next(m for m in models.registered() if m.code == rule)
    model.run(conn, get_project(conn, result.project_code))
    return set(conn.execute(text("SELECT subject_key FROM alert WHERE project_id = :p AND rule_code = :r AND firing"),
                            {"p": result.project_id, "r": rule}).scalars())


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_its_case(conn, tmp_path, rule):
    fire, expected, _ = CASES[rule]
    assert _run(conn, tmp_path / "fire", rule, fire) == expected


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_does_not_fire_on_its_near_miss(conn, tmp_path, rule):
    _, _, near_miss = CASES[rule]
    assert _run(conn, tmp_path / "miss", rule, near_miss) == set()


def test_id_not_found_names_the_probable_intended_person(conn, tmp_path):
    _run(conn, tmp_path, "ID_NOT_FOUND", CASES["ID_NOT_FOUND"][0])
    ev = conn.execute(text("SELECT evidence FROM alert WHERE rule_code = 'ID_NOT_FOUND' AND subject_key = :k"),
                      {"k": OFF_BY_ONE}).scalar_one()
    assert ev["probable_intended"][0]["id_number"] == H3[1] and ev["probable_intended"][0]["name"] == H3[2]


def test_name_mismatch_evidence_compares_pinyin(conn, tmp_path):
    _run(conn, tmp_path, "NAME_MISMATCH", CASES["NAME_MISMATCH"][0])
    ev = conn.execute(text("SELECT evidence FROM alert WHERE rule_code = 'NAME_MISMATCH' AND subject_key = :k"),
                      {"k": H2[1]}).scalar_one()
    comparison = ev["comparisons"][0]
    assert ev["registry_name"] == "李秀英" and comparison["given"] == "李绣英"
    assert comparison["same_pinyin"] is True and comparison["char_distance"] == 1


def test_staff_in_the_same_household_conflicts(conn, tmp_path):
    def mutate(t):
        _add_registry(t, id_number=STAFF_ID, name="赵敏", household_no=H2[0])
    assert _run(conn, tmp_path, "STAFF_CONFLICT", mutate) == {H2[0]}


def test_rules_can_be_rethresholded_per_project(conn, tmp_path):
    from supervision import models

    tables = package_tables()
    CASES["PHOTO_FAR_FROM_PARCEL"][2](tables)           # a photo 150 m away
    toml = PROJECT_TOML.replace("[tolerance]", "[rules.PHOTO_FAR_FROM_PARCEL]\nmax_distance_m = 100\n\n[tolerance]")
    result, _ = import_package(conn, write_package(tmp_path, tables=tables, project_toml=toml))
    counts = models.run_all(conn, result.project_code)
    assert counts["PHOTO_FAR_FROM_PARCEL"] == 1


def test_clean_canonical_project_raises_no_alert(conn, tmp_path):
    from supervision import models

    result, _ = import_package(conn, write_package(tmp_path))
    counts = models.run_all(conn, result.project_code)
    assert len(counts) == 22 and sum(counts.values()) == 0, counts


def _id_ending_in_x(like: str) -> str:
    """An ID number of the same county and birth date as ``like`` whose check character is X."""
    for seq in range(1000):
        body = like[:14] + f"{seq:03d}"
        if check_char(body) == "X":
            return body + "X"
    raise AssertionError("no sequence gives X")


@pytest.mark.parametrize("rule", ["ID_INVALID", "ID_NOT_FOUND", "NAME_MISMATCH", "PAYEE_NOT_MEMBER"])
def test_a_lowercase_x_is_the_same_person(conn, tmp_path, rule):
    upper = _id_ending_in_x(H3[1])

    def mutate(t) -> None:
        for table, column in [("registry", "id_number"), ("households", "head_id_number"),
                              ("claims", "claimant_id_number"), ("payments", "payee_id_number")]:
            if table in t:
                frame = t[table]
                frame.loc[frame[column] == H3[1], column] = upper.lower() if table != "registry" else upper

    assert _run(conn, tmp_path / rule, rule, mutate) == set()
