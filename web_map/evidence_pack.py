"""The evidence pack of an alert: one PDF for the inspector's file (Chinese, embedded CJK font).

It holds the alert's summary, its figures as labelled rows, the lists of its evidence (registry rows, staff,
comparisons), the chips of the subject in both flights, the registry rows of the people it concerns and the
alert's history and audit events. The font is the one the case documents embed
(:func:`supervision.documents.find_cjk_font`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

from supervision.documents import find_cjk_font
from web_map.workbench import (AUDIT_ACTION_ZH, RULE_ZH, SEVERITY_ZH, STATE_ZH, SUBJECT_ZH, _when, evidence_rows,
                               evidence_tables, format_value)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def render_evidence_pack(*, alert: Mapping[str, Any], chips: Sequence[tuple[str, bytes]],
                         registry: Sequence[Mapping[str, Any]], audit_events: Sequence[Mapping[str, Any]],
                         generated_by: str, generated_at: dt.datetime) -> bytes:
    """The evidence pack of ``alert`` (as :func:`supervision.alerts.get_alert` gives it, masked for the reader)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    font, index = find_cjk_font()
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(generated_at)
    pdf.set_title(f"预警证据包 {alert['id']}")
    pdf.set_author("Expro 征收监督系统")
    pdf.set_creator("Expro")
    pdf.add_font("cjk", fname=font, collection_font_number=index)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_margins(16, 14, 16)
    pdf.add_page()
    heading_style = FontFace(emphasis="", fill_color=(232, 232, 232))

    def line(value: str, size: int = 10, h: float = 6) -> None:
        pdf.set_font("cjk", size=size)
        pdf.multi_cell(0, h, value, new_x="LMARGIN", new_y="NEXT")

    def heading(value: str) -> None:
        pdf.ln(2)
        pdf.set_font("cjk", size=13)
        pdf.cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")

    def table(header: Sequence[str] | None, rows: Sequence[Sequence[str]], widths: Sequence[float] | None = None,
              size: int = 9) -> None:
        pdf.set_font("cjk", size=size)
        kwargs: dict[str, Any] = {"line_height": 5.5, "text_align": "LEFT"}
        if widths is not None:
            kwargs["col_widths"] = tuple(widths)
        if header is None:
            kwargs["first_row_as_headings"] = False
        else:
            kwargs["headings_style"] = heading_style
        with pdf.table(**kwargs) as t:
            for cells in ([list(header)] if header is not None else []) + [list(r) for r in rows]:
                row = t.row()
                for c in cells:
                    row.cell(_cell(c))

    pdf.set_font("cjk", size=18)
    pdf.cell(0, 11, "预警证据包", align="C", new_x="LMARGIN", new_y="NEXT")
    line(f"项目 {alert['project_code']} · 预警编号 {alert['id']} · 生成人 {generated_by} · "
         f"生成时间 {_when(generated_at)}（北京时间）", size=9)
    heading("一、预警")
    table(None, [
        ["规则", f"{RULE_ZH.get(alert['rule_code'], alert['rule_code'])}（{alert['rule_code']}）"],
        ["级别", SEVERITY_ZH.get(alert["severity"], alert["severity"])],
        ["对象", f"{SUBJECT_ZH.get(alert['subject_type'], alert['subject_type'])} {alert['subject_key']}"],
        ["状态", STATE_ZH.get(alert["state"], alert["state"])],
        ["核查人", alert.get("assignee") or "未分派"],
        ["首次发现", _when(alert.get("first_seen_at"))],
        ["已追回金额", format_value("amount_yuan", alert.get("amount_recovered_yuan") or 0)],
        ["说明", alert["message"]]], widths=(40, 138))
    heading("二、证据数据")
    rows = evidence_rows(alert.get("evidence"))
    if rows:
        table(["项目", "数值"], [list(r) for r in rows], widths=(70, 108))
    for title, header, trows in evidence_tables(alert.get("evidence")):
        line(title, size=11)
        table(header, trows)
    if chips:
        heading("三、影像对比（红：申报轮廓；黄：该期实测轮廓）")
        width = (pdf.w - pdf.l_margin - pdf.r_margin - 6) / 2
        y = pdf.get_y()
        if y + width + 10 > pdf.h - pdf.b_margin:
            pdf.add_page()
            y = pdf.get_y()
        for n, (caption, png) in enumerate(chips[:2]):
            x = pdf.l_margin + n * (width + 6)
            pdf.image(io.BytesIO(png), x=x, y=y, w=width, h=width)
            pdf.set_xy(x, y + width + 1)
            pdf.set_font("cjk", size=9)
            pdf.cell(width, 5, caption, align="C")
        pdf.set_xy(pdf.l_margin, y + width + 8)
    heading("四、户籍记录")
    if registry:
        table(["身份证号", "姓名", "户号", "与户主关系", "村代码", "状态", "状态日期", "迁入日期"],
              [[_cell(r.get("id_number")), _cell(r.get("name")), _cell(r.get("household_no")),
                _cell(r.get("relation_to_head")), _cell(r.get("village_code")), format_value("status", r.get("status")), _cell(r.get("status_date") or ""),
                _cell(r.get("moved_in_on") or "")] for r in registry], size=8)
    else:
        line("该预警不涉及户籍记录。")
    heading("五、处置记录")
    history = alert.get("history") or []
    if history:
        table(["时间", "办理人", "从", "到", "意见"],
              [[_when(h["created_at"]), f"{h.get('name') or ''}（{h.get('username') or ''}）",
                STATE_ZH.get(h["from_state"], h["from_state"] or ""), STATE_ZH.get(h["to_state"], h["to_state"]),
                h.get("opinion") or ""] for h in history], widths=(34, 30, 18, 18, 78))
    else:
        line("暂无处置记录。")
    heading("六、审计日志")
    if audit_events:
        table(["序号", "时间", "操作人", "动作", "意见"],
              [[str(e["seq"]), _when(e["recorded_at"]), e["actor"], AUDIT_ACTION_ZH.get(e["action"], e["action"]),
                e.get("opinion") or (e.get("details") or {}).get("opinion") or ""] for e in audit_events],
              widths=(14, 36, 26, 32, 70))
    else:
        line("暂无审计事件。")
    pdf.ln(3)
    line("本证据包由征收监督系统根据预警的证据、处置记录和审计日志生成；其 SHA-256 已存档，可据此核对。", size=8)
    return bytes(pdf.output())
