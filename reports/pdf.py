"""The report as a PDF in Chinese with the embedded CJK font (fpdf2): tables, claimed against measured areas,
the change against the previous report, dispositions and hit rates, charts and the map of flagged buildings."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd

from reports.data import ReportData
from reports.labels import CHANGE_ZH, STATE_ZH, VERDICT_ZH, cjk_font
from reports.snapshot import AREA_RULES, CHINA
from reports.xlsx import rule_rows, village_rows

#: At most this many rows of a detail table go into the PDF (the workbook has them all).
MAX_PDF_ROWS = 150


def money(value) -> str:
    """Yuan with thousands separators and two decimals."""
    return f"{float(value or 0):,.2f}"


def area(value) -> str:
    """Square metres with two decimals (empty when unknown)."""
    return "" if value is None or pd.isna(value) else f"{float(value):,.2f}"


def taken_at_text(value: dt.datetime) -> str:
    """The run's time in China, to the second."""
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


class _Doc:
    def __init__(self, data: ReportData) -> None:
        from fpdf import FPDF

        font, index = cjk_font()
        run = data.run
        self.pdf = FPDF(orientation="L", unit="mm", format="A4")
        self.pdf.set_creation_date(run.taken_at)
        self.pdf.set_title(f"{run.project_code} {run.period} 面积差异监督报告")
        self.pdf.set_author("Expro 征收监督系统")
        self.pdf.set_creator("Expro")
        self.pdf.set_producer("Expro")
        self.pdf.add_font("cjk", fname=font, collection_font_number=index)
        self.pdf.set_auto_page_break(auto=True, margin=14)
        self.pdf.set_margins(14, 12, 14)
        self.pdf.alias_nb_pages()
        footer_text = f"{run.project_code} · {run.period} · 预警集 {run.alert_set_sha256[:16]}"
        pdf = self.pdf

        def footer() -> None:
            pdf.set_y(-10)
            pdf.set_font("cjk", size=7)
            pdf.cell(0, 5, f"{footer_text}    第 {pdf.page_no()} 页 / 共 {{nb}} 页", align="C")

        self.pdf.footer = footer  # type: ignore[method-assign]
        self.pdf.add_page()

    def title(self, text: str) -> None:
        self.pdf.set_font("cjk", size=18)
        self.pdf.cell(0, 11, text, align="C", new_x="LMARGIN", new_y="NEXT")

    def line(self, text: str, size: int = 10, h: float = 6) -> None:
        self.pdf.set_font("cjk", size=size)
        self.pdf.multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        self.pdf.ln(2)
        self.pdf.set_font("cjk", size=13)
        self.pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")

    def table(self, header: list[str], rows: list[list], widths: tuple[float, ...], size: float = 8) -> None:
        from fpdf.fonts import FontFace

        self.pdf.set_font("cjk", size=size)
        heading = FontFace(emphasis="", fill_color=(225, 225, 225))
        with self.pdf.table(col_widths=widths, text_align="CENTER", line_height=5, headings_style=heading,
                            repeat_headings=1) as table:
            for cells in [header] + rows:
                row = table.row()
                for cell in cells:
                    row.cell("" if cell is None else str(cell))

    def image(self, png: bytes, x: float, y: float, w: float, h: float) -> None:
        """Place ``png`` inside the box (x, y, w, h) in mm, keeping its aspect ratio, centred."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            ratio = im.height / im.width
        width = min(w, h / ratio)
        self.pdf.image(io.BytesIO(png), x=x + (w - width) / 2, y=y, w=width)


def write(data: ReportData, path: Path) -> None:
    """Write the PDF of ``data`` to ``path``."""
    path.write_bytes(render(data))


def render(data: ReportData) -> bytes:
    """The PDF bytes of ``data`` (deterministic: dated by the run)."""
    run, fig = data.run, data.run.figures
    totals, ch = fig["totals"], fig["change"]
    doc = _Doc(data)
    doc.title(f"{run.project_name} 面积差异监督报告（{run.period}）")
    doc.line(f"项目编号：{run.project_code}    报告期：{run.period}    生成时间：{taken_at_text(run.taken_at)}    "
             f"计算引擎：{'Dask 集群' if run.engine == 'dask' else 'PostGIS（本地）'}")
    doc.line(f"上期报告：{data.previous_period or '无（首期报告）'}    预警集 SHA-256：{run.alert_set_sha256}")
    versions = run.data_versions
    check = versions.get("last_check") or {}
    doc.line(f"数据版本：项目包 {(versions.get('project') or {}).get('source_sha256') or '—'}；"
             f"户籍库 {len(versions.get('registry_extracts') or [])} 份；正射影像 {len(versions.get('orthophotos') or [])} 幅；"
             f"最近一次检查 审计序号 {check.get('audit_seq', '—')}", size=8, h=5)

    doc.heading("一、总体情况")
    doc.line(f"未办结预警 {totals['open']} 条，其中面积差异预警 {totals['area_alerts']} 条，涉及房屋 {totals['buildings']} 幢。")
    doc.line(f"核定建筑面积合计 {area(totals['claimed_m2'])} ㎡，实测建筑面积合计 {area(totals['measured_m2'])} ㎡，"
             f"差异面积合计 {area(totals['discrepancy_m2'])} ㎡。")
    doc.line(f"涉及金额合计（差异面积 × 单价）：{money(totals['money_at_stake_yuan'])} 元")
    doc.line(f"与上期相比：新增 {ch['new']} 条，仍未办结 {ch['still_open']} 条，已解决 {ch['resolved']} 条。")

    doc.heading("二、按问题类型")
    header = ["问题类型", "规则代码", "未办结", "新增", "仍未办结", "已解决", "属实", "不属实", "查实率",
              "涉及房屋", "差异面积(㎡)", "涉及金额(元)"]
    rows = [[r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], area(r[12]), money(r[13])]
            for r in rule_rows(data)]
    doc.table(header, rows or [["本期无预警"] + [""] * 11], (38, 42, 15, 13, 17, 15, 13, 14, 16, 17, 28, 32))

    doc.heading("三、按村")
    vrows = [[r[0], r[1], r[2], area(r[3]), area(r[4]), area(r[5]), money(r[6])] for r in village_rows(data)]
    doc.table(["村", "未办结预警", "涉及房屋(幢)", "核定建筑面积(㎡)", "实测建筑面积(㎡)", "差异面积(㎡)", "涉及金额(元)"],
              vrows or [["本期无预警", "", "", "", "", "", ""]], (50, 28, 28, 38, 38, 34, 40))

    doc.heading("四、核定面积与实测面积（面积差异预警，按涉及金额排序）")
    area_open = data.open_items[data.open_items["rule_code"].isin(AREA_RULES)].sort_values(
        ["money_at_stake_yuan", "subject_key"], ascending=[False, True], na_position="last")
    arows = [[data.title(r.rule_code), r.subject_key, r.village_name or "", r.household_no or "",
              area(r.claimed_floor_area_m2), area(r.measured_floor_area_m2), area(r.tolerance_m2),
              area(r.discrepancy_m2), money(r.unit_price_yuan), money(r.money_at_stake_yuan),
              CHANGE_ZH.get(r.change, ""), STATE_ZH.get(r.state, r.state)]
             for r in area_open.head(MAX_PDF_ROWS).itertuples()]
    doc.table(["问题类型", "房屋", "村", "户号", "核定(㎡)", "实测(㎡)", "限差(㎡)", "差异(㎡)", "单价(元/㎡)",
               "涉及金额(元)", "与上期", "状态"], arows or [["本期无面积差异预警"] + [""] * 11],
              (30, 30, 24, 24, 20, 20, 17, 20, 20, 26, 17, 17))
    if len(area_open) > MAX_PDF_ROWS:
        doc.line(f"（仅列涉及金额最高的 {MAX_PDF_ROWS} 幢，共 {len(area_open)} 条，完整清单见同名 XLSX 工作簿。）", size=8)

    doc.heading("五、与上期相比：已解决的预警及处置")
    resolved = data.resolved_items
    rrows = [[data.title(r.rule_code), r.subject_key, r.village_name or "", STATE_ZH.get(r.state, r.state),
              VERDICT_ZH.get(r.verdict or "", ""), r.assignee or "", money(r.amount_recovered_yuan),
              "是" if r.firing else "否"] for r in resolved.head(MAX_PDF_ROWS).itertuples()]
    doc.table(["问题类型", "对象", "村", "处置状态", "核查结论", "核查人", "追回金额(元)", "本期仍触发"],
              rrows or [["上期无未办结预警或本期均未解决", "", "", "", "", "", "", ""]], (44, 44, 30, 26, 26, 26, 34, 26))
    if len(resolved) > MAX_PDF_ROWS:
        doc.line(f"（仅列前 {MAX_PDF_ROWS} 条，共 {len(resolved)} 条。）", size=8)
    rates = fig.get("hit_rates") or {}
    hrows = [[data.title(code), code, v["confirmed"], v["unfounded"],
              "" if v["hit_rate"] is None else f"{v['hit_rate']:.1%}", money(v["recovered_yuan"])]
             for code, v in sorted(rates.items())]
    doc.heading("六、处置结果与查实率（截至本期）")
    doc.table(["问题类型", "规则代码", "属实", "不属实", "查实率", "追回金额(元)"],
              hrows or [["尚无预警", "", "", "", "", ""]], (60, 60, 24, 24, 30, 40))

    doc.pdf.add_page()
    doc.heading("七、图表")
    top = doc.pdf.get_y() + 1
    if "distribution" in data.charts:
        doc.image(data.charts["distribution"], 14, top, 132, 86)
    if "villages" in data.charts:
        doc.image(data.charts["villages"], 151, top, 132, 86)
    if "trend" in data.charts:
        doc.image(data.charts["trend"], 60, top + 92, 177, 86)
    if "map" in data.charts:
        doc.pdf.add_page()
        doc.heading("八、被标记房屋分布图")
        doc.image(data.charts["map"], 14, doc.pdf.get_y() + 1, 269, 160)
        doc.pdf.set_y(doc.pdf.get_y() + 163)
    doc.line("注：实测建筑面积 = 征收前轮廓覆盖面积 × 核定层数；限差按 GB/T 17986.1；涉及金额 = 差异面积 × 该房屋补偿单价。"
             "本报告由征收监督系统根据已冻结的预警集生成，同一报告期重复生成结果相同。", size=8, h=5)
    return bytes(doc.pdf.output())
