"""The report workbook: a summary sheet, one sheet per problem type (rows and evidence), the report's inputs.

Chinese headers, frozen header rows and filters on every table; written in openpyxl's write-only mode (a
project's hundred thousand alerts stream to the file instead of living in memory twice).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from reports.data import ReportData
from reports.labels import CHANGE_ZH, ITEM_SHEET_COLUMNS

SUMMARY_SHEET = "汇总"
INPUTS_SHEET = "报告输入"
RULE_HEADER = ["问题类型", "规则代码", "未办结预警", "本期新增", "仍未办结", "较上期已解决", "属实", "不属实",
               "查实率", "涉及房屋(幢)", "核定建筑面积(㎡)", "实测建筑面积(㎡)", "差异面积(㎡)", "涉及金额(元)"]
VILLAGE_HEADER = ["村", "未办结预警", "涉及房屋(幢)", "核定建筑面积(㎡)", "实测建筑面积(㎡)", "差异面积(㎡)", "涉及金额(元)"]


def sheet_name(title: str, used: set[str]) -> str:
    """An Excel sheet name for ``title``: forbidden characters replaced, at most 31 characters, unique."""
    name = re.sub(r"[\[\]:*?/\\]", "_", title)[:31] or "sheet"
    base, n = name, 2
    while name in used:
        suffix = f"_{n}"
        name = base[:31 - len(suffix)] + suffix
        n += 1
    used.add(name)
    return name


def rule_rows(data: ReportData) -> list[list]:
    """One summary row per problem type, in rule order."""
    figures = data.run.figures
    rows = []
    for rule in data.rules():
        f = figures["by_rule"].get(rule, {})
        changes = data.items[data.items["rule_code"] == rule]["change"].value_counts()
        rate = (figures.get("hit_rates") or {}).get(rule, {}).get("hit_rate")
        rows.append([data.title(rule), rule, f.get("open", 0), int(changes.get("new", 0)),
                     int(changes.get("still_open", 0)), int(changes.get("resolved", 0)), f.get("confirmed", 0),
                     f.get("unfounded", 0), "" if rate is None else f"{rate:.1%}", f.get("buildings", 0),
                     f.get("claimed_m2", 0.0), f.get("measured_m2", 0.0), f.get("discrepancy_m2", 0.0),
                     f.get("money_at_stake_yuan", 0.0)])
    return rows


def village_rows(data: ReportData) -> list[list]:
    """One summary row per village with open alerts."""
    return [[v, f["open"], f["buildings"], f["claimed_m2"], f["measured_m2"], f["discrepancy_m2"],
             f["money_at_stake_yuan"]] for v, f in (data.run.figures.get("by_village") or {}).items()]


def _cell(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return value.astimezone(_china()).replace(tzinfo=None)
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def _china():
    from reports.snapshot import CHINA

    return CHINA


def item_rows(frame: pd.DataFrame) -> list[list]:
    """The rows of a problem-type sheet, in ``ITEM_SHEET_COLUMNS`` order (change and booleans in Chinese)."""
    cols = [c for c, _, _ in ITEM_SHEET_COLUMNS]
    out = []
    for rec in frame.to_dict("records"):
        rec["change"] = CHANGE_ZH.get(rec["change"], rec["change"])
        out.append([_cell(rec[c]) for c in cols])
    return out


def write(data: ReportData, path: Path) -> None:
    """Write the workbook of ``data`` to ``path``."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDDDDD")

    def header(ws, names: list[str]) -> list:
        cells = []
        for name in names:
            c = WriteOnlyCell(ws, value=name)
            c.font, c.fill, c.alignment = bold, fill, Alignment(wrap_text=True, vertical="center")
            cells.append(c)
        return cells

    run, figures = data.run, data.run.figures
    used: set[str] = set()
    ws = wb.create_sheet(sheet_name(SUMMARY_SHEET, used))
    ws.freeze_panes = "A9"
    for i, width in enumerate([24, 18, 12, 10, 10, 12, 8, 8, 9, 12, 16, 16, 14, 16], start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    totals = figures["totals"]
    ws.append([WriteOnlyCell(ws, value=f"{run.project_name}（{run.project_code}）面积差异监督报告 {run.period}")])
    ws.append(["报告期", run.period, "生成时间", _cell(run.taken_at), "计算引擎", run.engine])
    ws.append(["上期报告", data.previous_period or "（首期）", "预警集 SHA-256", run.alert_set_sha256])
    ws.append(["未办结预警", totals["open"], "面积差异房屋(幢)", totals["buildings"], "涉及金额(元)",
               totals["money_at_stake_yuan"]])
    ws.append(["核定建筑面积(㎡)", totals["claimed_m2"], "实测建筑面积(㎡)", totals["measured_m2"], "差异面积(㎡)",
               totals["discrepancy_m2"]])
    ch = figures["change"]
    ws.append(["较上期：新增", ch["new"], "仍未办结", ch["still_open"], "已解决", ch["resolved"]])
    ws.append(["按问题类型"])
    rows = rule_rows(data)
    ws.append(header(ws, RULE_HEADER))
    for r in rows:
        ws.append(r)
    ws.auto_filter.ref = f"A8:{get_column_letter(len(RULE_HEADER))}{8 + max(len(rows), 1)}"
    ws.append([])
    ws.append(["按村"])
    ws.append(header(ws, VILLAGE_HEADER))
    for r in village_rows(data):
        ws.append(r)

    cols = [c for c, _, _ in ITEM_SHEET_COLUMNS]
    names = [h for _, h, _ in ITEM_SHEET_COLUMNS]
    for rule in data.rules():
        frame = data.items[(data.items["rule_code"] == rule)
                           & ((data.items["in_run"] & data.items["is_open"]) | (data.items["change"] == "resolved"))]
        ws = wb.create_sheet(sheet_name(data.title(rule), used))
        ws.freeze_panes = "A2"
        for i, (_, _, width) in enumerate(ITEM_SHEET_COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(frame) + 1}"
        ws.append(header(ws, names))
        for r in item_rows(frame):
            ws.append(r)

    ws = wb.create_sheet(sheet_name(INPUTS_SHEET, used))
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 100
    ws.append(header(ws, ["输入", "版本"]))
    ws.append(["预警集 SHA-256", run.alert_set_sha256])
    for key, value in run.data_versions.items():
        ws.append([key, _cell(value)])
    wb.save(path)
