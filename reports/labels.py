"""Chinese names the reports print: rules, states, changes, columns, and the CJK font they are set in."""

from __future__ import annotations

from functools import lru_cache

from reports.errors import ReportFontError

STATE_ZH = {"new": "新预警", "assigned": "已分派", "verifying": "核查中", "confirmed": "属实", "unfounded": "不属实",
            "rectified": "已整改", "closed": "已办结"}
VERDICT_ZH = {"confirmed": "属实", "unfounded": "不属实"}
SEVERITY_ZH = {"prompt": "提示", "internal": "内部报警", "report": "报送纪委监委"}
CHANGE_ZH = {"new": "新增", "still_open": "仍未办结", "resolved": "已解决", "": ""}
SUBJECT_ZH = {"building": "房屋", "claim": "补偿项", "person": "人员", "household": "户", "payment": "支付",
              "parcel": "宗地", "photo": "照片"}

#: The columns of a problem-type sheet: (item column, Chinese header, width).
ITEM_SHEET_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("alert_id", "预警编号", 10),
    ("change", "与上期相比", 11),
    ("severity_zh", "预警级别", 13),
    ("subject_type_zh", "对象类型", 9),
    ("subject_key", "对象编号", 22),
    ("village_name", "村", 14),
    ("household_no", "户号", 14),
    ("claimed_floor_area_m2", "核定建筑面积(㎡)", 16),
    ("measured_floor_area_m2", "实测建筑面积(㎡)", 16),
    ("tolerance_m2", "限差(㎡)", 10),
    ("discrepancy_m2", "差异面积(㎡)", 13),
    ("unit_price_yuan", "单价(元/㎡)", 12),
    ("money_at_stake_yuan", "涉及金额(元)", 14),
    ("state_zh", "处置状态", 10),
    ("verdict_zh", "核查结论", 10),
    ("assignee", "核查人", 10),
    ("firing", "本期仍触发", 10),
    ("amount_recovered_yuan", "追回金额(元)", 13),
    ("first_seen_at", "首次发现", 19),
    ("message", "预警内容", 60),
    ("evidence", "证据(JSON)", 80),
)


def rule_titles() -> dict[str, str]:
    """Rule code → Chinese title of every registered supervision model."""
    from supervision.models import registered

    return {m.code: m.title_zh for m in registered()}


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, int]:
    """Path and collection index of the installed CJK font (the one ``supervision.documents`` embeds)."""
    from supervision.documents import DocumentError, find_cjk_font

    try:
        return find_cjk_font()
    except DocumentError as exc:
        raise ReportFontError(str(exc)) from exc
