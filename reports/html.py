"""The report as one self-contained HTML page (charts inlined, every value escaped)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from reports.data import ReportData
from reports.labels import CHANGE_ZH, STATE_ZH, VERDICT_ZH
from reports.pdf import area, money, taken_at_text
from reports.snapshot import AREA_RULES
from reports.xlsx import rule_rows, village_rows

#: At most this many rows per problem type on the page (the workbook has them all).
MAX_HTML_ROWS = 1000

CSS = """body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border:1px solid #bbb;padding:3px 6px}
th{background:#e8e8e8;position:sticky;top:0}td.n{text-align:right}.meta{color:#555;font-size:12px}
img{max-width:900px;display:block;margin:10px 0}.new{color:#c0392b}.resolved{color:#27813b}"""


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = "".join(f'<td class="n">{escape(str(v))}</td>' if i in numeric else f"<td>{escape(str(v))}</td>"
                        for i, v in enumerate("" if v is None else v for v in r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(data: ReportData) -> str:
    """The HTML page of ``data``."""
    run, fig = data.run, data.run.figures
    totals, ch = fig["totals"], fig["change"]
    parts = [f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
             f"<title>{escape(run.project_code)} {escape(run.period)} 面积差异监督报告</title><style>{CSS}</style></head><body>",
             f"<h1>{escape(run.project_name)} 面积差异监督报告（{escape(run.period)}）</h1>",
             f"<p class=\"meta\">项目编号 {escape(run.project_code)} · 生成时间 {escape(taken_at_text(run.taken_at))} · "
             f"计算引擎 {escape(run.engine)} · 上期报告 {escape(data.previous_period or '无（首期报告）')} · "
             f"预警集 SHA-256 {escape(run.alert_set_sha256)}</p>",
             "<h2>一、总体情况</h2>",
             f"<p>未办结预警 {totals['open']} 条，其中面积差异预警 {totals['area_alerts']} 条，涉及房屋 {totals['buildings']} 幢；"
             f"核定建筑面积合计 {area(totals['claimed_m2'])} ㎡，实测建筑面积合计 {area(totals['measured_m2'])} ㎡，"
             f"差异面积合计 {area(totals['discrepancy_m2'])} ㎡；<b>涉及金额合计 {money(totals['money_at_stake_yuan'])} 元</b>。</p>",
             f"<p>与上期相比：<span class=\"new\">新增 {ch['new']} 条</span>，仍未办结 {ch['still_open']} 条，"
             f"<span class=\"resolved\">已解决 {ch['resolved']} 条</span>。</p>",
             "<h2>二、按问题类型</h2>"]
    rows = [[r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], area(r[12]), money(r[13])]
            for r in rule_rows(data)]
    parts.append(_table(["问题类型", "规则代码", "未办结", "新增", "仍未办结", "已解决", "属实", "不属实", "查实率",
                         "涉及房屋", "差异面积(㎡)", "涉及金额(元)"], rows, set(range(2, 12))))
    parts.append("<h2>三、按村</h2>")
    parts.append(_table(["村", "未办结预警", "涉及房屋(幢)", "核定建筑面积(㎡)", "实测建筑面积(㎡)", "差异面积(㎡)",
                         "涉及金额(元)"],
                        [[r[0], r[1], r[2], area(r[3]), area(r[4]), area(r[5]), money(r[6])] for r in village_rows(data)],
                        set(range(1, 7))))
    parts.append("<h2>四、图表</h2>")
    for key, alt in (("distribution", "面积差异分布"), ("villages", "各村未办结预警与涉及金额"), ("trend", "历次报告趋势"),
                     ("map", "被标记房屋分布图")):
        if key in data.charts:
            b64 = base64.b64encode(data.charts[key]).decode()
            parts.append(f'<img alt="{escape(alt)}" src="data:image/png;base64,{b64}">')
    parts.append("<h2>五、各类问题明细（含较上期已解决）</h2>")
    for rule in data.rules():
        frame = data.items[(data.items["rule_code"] == rule)
                           & ((data.items["in_run"] & data.items["is_open"]) | (data.items["change"] == "resolved"))]
        parts.append(f"<h3>{escape(data.title(rule))}（{escape(rule)}，{len(frame)} 条）</h3>")
        is_area = rule in AREA_RULES
        header = ["预警编号", "与上期", "对象", "村", "户号"] + (
            ["核定(㎡)", "实测(㎡)", "差异(㎡)", "单价(元/㎡)", "涉及金额(元)"] if is_area else []) + [
            "处置状态", "核查结论", "预警内容"]
        body = []
        for r in frame.head(MAX_HTML_ROWS).itertuples():
            row = [r.alert_id, CHANGE_ZH.get(r.change, ""), r.subject_key, r.village_name or "", r.household_no or ""]
            if is_area:
                row += [area(r.claimed_floor_area_m2), area(r.measured_floor_area_m2), area(r.discrepancy_m2),
                        money(r.unit_price_yuan), money(r.money_at_stake_yuan)]
            row += [STATE_ZH.get(r.state, r.state), VERDICT_ZH.get(r.verdict or "", ""), r.message]
            body.append(row)
        parts.append(_table(header, body, set(range(5, 10)) if is_area else set()))
        if len(frame) > MAX_HTML_ROWS:
            parts.append(f"<p class=\"meta\">仅列前 {MAX_HTML_ROWS} 条，完整清单见同名 XLSX 工作簿。</p>")
    rates = fig.get("hit_rates") or {}
    parts.append("<h2>六、处置结果与查实率（截至本期）</h2>")
    parts.append(_table(["问题类型", "规则代码", "属实", "不属实", "查实率", "追回金额(元)"],
                        [[data.title(c), c, v["confirmed"], v["unfounded"],
                          "" if v["hit_rate"] is None else f"{v['hit_rate']:.1%}", money(v["recovered_yuan"])]
                         for c, v in sorted(rates.items())], {2, 3, 4, 5}))
    parts.append("<p class=\"meta\">实测建筑面积 = 征收前轮廓覆盖面积 × 核定层数；限差按 GB/T 17986.1；"
                 "涉及金额 = 差异面积 × 该房屋补偿单价。同一报告期重复生成结果相同。</p></body></html>")
    return "\n".join(parts)


def write(data: ReportData, path: Path) -> None:
    """Write the HTML page of ``data`` to ``path``."""
    path.write_text(render(data), encoding="utf-8")
