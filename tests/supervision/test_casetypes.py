"""Case types as data: stage order, responsible roles, time limits and the mandatory archive."""

from __future__ import annotations

import pytest

from supervision import casetypes
from supervision.casetypes import CaseTypeError

RESIDENTIAL_STAGES = ["pre_announcement", "survey", "quantity", "valuation", "publication", "agreement",
                      "review", "payment", "demolition", "acceptance", "archive"]


def test_residential_follows_data_formats_and_has_the_seed_92_items() -> None:
    ct = casetypes.load("residential")
    assert ct.stage_codes() == RESIDENTIAL_STAGES
    assert ct.mandatory_count() == 92
    assert ct.stage("quantity").name_zh == "核量"
    assert {"quantity_sheet_signed", "agreement_signed", "bank_transfer_record", "empty_plot_photo",
            "valuation_report", "head_id_card_front", "household_booklet_head"} <= {
        i.code for s in ct.stages for i in s.items}


@pytest.mark.parametrize("name", casetypes.CASE_TYPES)
def test_every_type_is_complete(name: str) -> None:
    ct = casetypes.load(name)
    assert ct.case_type == name and ct.version
    assert ct.stages[0].code == "pre_announcement" and ct.stages[-1].code == "archive"
    for stage in ct.stages:
        assert stage.role in casetypes.STAGE_ROLES and stage.time_limit_days > 0
        assert stage.mandatory_items(), f"{name}.{stage.code} has no mandatory item"
        assert all(i.name_zh and i.name_en for i in stage.items)


def test_enterprise_values_the_business_loss_and_farmland_the_land_and_crops() -> None:
    ent = casetypes.load("enterprise")
    _, item = ent.item("business_loss_valuation")
    assert item.mandatory and "停产停业" in item.name_zh
    farm = casetypes.load("farmland")
    assert "demolition" not in farm.stage_codes()
    survey = {i.code for i in farm.stage("survey").items}
    assert {"land_survey_form", "crops_photos", "land_contract_certificate"} <= survey


def test_project_overrides_change_limits_counts_and_items() -> None:
    base = casetypes.load("residential")
    ct = casetypes.for_project("residential", {"residential": {
        "stages": {"survey": {"time_limit_days": 20}},
        "items": {"house_interior_photo": {"min_count": 4}, "crops_photo": {"mandatory": False, "min_count": 0}},
        "remove": ["courtyard_photo"],
        "add": [{"stage": "survey", "code": "pigsty_photo", "name_zh": "猪圈照片", "kind": "photo"}],
    }})
    assert ct.stage("survey").time_limit_days == 20
    assert ct.item("house_interior_photo")[1].min_count == 4
    assert ct.item("pigsty_photo")[0].code == "survey"
    with pytest.raises(CaseTypeError):
        ct.item("courtyard_photo")
    assert ct.mandatory_count() == base.mandatory_count() - 2 + 1
    assert casetypes.load("residential") == base, "the default definition is not changed by an override"


@pytest.mark.parametrize(("override", "needle"), [
    ({"stages": {"nonexistent": {"time_limit_days": 3}}}, "nonexistent"),
    ({"stages": {"survey": {"time_limit_days": 0}}}, "time_limit_days"),
    ({"stages": {"survey": {"colour": "red"}}}, "colour"),
    ({"items": {"house_roof_photo": {"kind": "hologram"}}}, "hologram"),
    ({"remove": ["no_such_item"]}, "no_such_item"),
    ({"add": [{"stage": "survey", "code": "head_id_card_front", "name_zh": "重复", "kind": "photo"}]},
     "head_id_card_front"),
    ({"add": [{"stage": "nowhere", "code": "x", "name_zh": "x", "kind": "photo"}]}, "nowhere"),
])
def test_bad_overrides_name_what_is_wrong(override: dict, needle: str) -> None:
    with pytest.raises(CaseTypeError, match=needle):
        casetypes.for_project("residential", {"residential": override})


def test_unknown_case_type_is_refused() -> None:
    with pytest.raises(CaseTypeError, match="shop"):
        casetypes.load("shop")
