"""The generated documents of a case: the quantity sheet (核量单) and the agreement (协议书).

Both are rendered from one :class:`CaseRecord` (never re-typed), in Chinese with an embedded CJK font,
numbered, and deterministic: the same record and number give the same bytes and the same text layer,
so the SHA-256 stored beside a document identifies it. The record is built from the database by the
cases module; this module only lays it out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from supervision.errors import SupervisionError
from supervision.numerals import yuan_in_capitals

#: Where a CJK font may be (Debian's fonts-noto-cjk first; index 2 of the collection is Simplified Chinese).
CJK_FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)

STRUCTURE_ZH = {"brick_concrete": "砖混", "brick_wood": "砖木", "simple": "简易", "steel": "钢结构", "other": "其他"}
ITEM_KIND_ZH = {"building": "房屋", "land": "土地", "attachment": "附属物", "crop": "青苗", "business_loss": "停产停业"}
UNIT_ZH = {"m2": "平方米", "mu": "亩", "item": "项"}


class DocumentError(SupervisionError, RuntimeError):
    """A document cannot be generated (no CJK font, or an incomplete record)."""


@dataclass(frozen=True)
class BuildingLine:
    """One building on the quantity sheet."""

    building_no: str
    structure_type: str
    storeys: int
    floor_area_m2: Decimal
    unit_price_yuan: Decimal
    amount_yuan: Decimal


@dataclass(frozen=True)
class ItemLine:
    """One compensation item that is not a building (land, attachment, crop, business loss)."""

    item_kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price_yuan: Decimal
    amount_yuan: Decimal


@dataclass(frozen=True)
class CaseRecord:
    """Everything the 核量单 and the 协议书 say about one case, from one stored record."""

    project_code: str
    project_name: str
    village_name: str
    household_no: str
    head_name: str
    head_id_number: str
    case_type: str
    parcel_codes: tuple[str, ...]
    buildings: tuple[BuildingLine, ...]
    items: tuple[ItemLine, ...] = ()
    surveyor_name: str = ""
    surveyed_on: dt.date | None = None
    authority_name: str = "区征收办公室"
    payment_days: int = 15
    vacate_days: int = 30
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def buildings_total_yuan(self) -> Decimal:
        """The sum of the buildings' amounts."""
        return sum((b.amount_yuan for b in self.buildings), Decimal("0"))

    @property
    def total_yuan(self) -> Decimal:
        """The total compensation: buildings and every other item."""
        return self.buildings_total_yuan + sum((i.amount_yuan for i in self.items), Decimal("0"))

    @property
    def total_floor_area_m2(self) -> Decimal:
        """The buildings' total floor area."""
        return sum((b.floor_area_m2 for b in self.buildings), Decimal("0"))


def find_cjk_font() -> tuple[str, int]:
    """Path and collection index of an installed CJK font (DocumentError naming the package to install)."""
    for path, index in CJK_FONT_CANDIDATES:
        if Path(path).is_file():
            return path, index
    raise DocumentError("未找到中文字体 / no CJK font found: install fonts-noto-cjk (apt-get install fonts-noto-cjk)")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _area(value: Decimal) -> str:
    return f"{value:.2f}"


class _Doc:
    """An A4 page in the CJK font, deterministic (fixed creation date, no random IDs)."""

    def __init__(self, title: str, number: str, dated: dt.date) -> None:
        from fpdf import FPDF

        font, index = find_cjk_font()
        self.pdf = FPDF(orientation="P", unit="mm", format="A4")
        self.pdf.set_creation_date(dt.datetime.combine(dated, dt.time(0, 0), tzinfo=dt.timezone.utc))
        self.pdf.set_title(f"{title} {number}")
        self.pdf.set_author("Expro 征收监督系统")
        self.pdf.set_creator("Expro")
        self.pdf.set_producer("Expro")
        self.pdf.add_font("cjk", fname=font, collection_font_number=index)
        self.pdf.set_auto_page_break(auto=True, margin=18)
        self.pdf.set_margins(18, 16, 18)
        self.pdf.add_page()
        self.pdf.set_font("cjk", size=20)
        self.pdf.cell(0, 12, title, align="C", new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font("cjk", size=10)
        self.pdf.cell(0, 6, f"编号：{number}", align="R", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def line(self, text: str, size: int = 11, h: float = 7) -> None:
        self.pdf.set_font("cjk", size=size)
        self.pdf.multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        self.pdf.ln(2)
        self.pdf.set_font("cjk", size=13)
        self.pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")

    def table(self, header: list[str], rows: list[list[str]], widths: tuple[int, ...]) -> None:
        from fpdf.fonts import FontFace

        self.pdf.set_font("cjk", size=10)
        heading = FontFace(emphasis="", fill_color=(232, 232, 232))
        with self.pdf.table(col_widths=widths, text_align="CENTER", line_height=7, headings_style=heading) as table:
            for cells in [header] + rows:
                row = table.row()
                for cell in cells:
                    row.cell(cell)

    def footer_note(self, text: str) -> None:
        self.pdf.ln(4)
        self.pdf.set_font("cjk", size=8)
        self.pdf.multi_cell(0, 5, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _household_block(doc: _Doc, rec: CaseRecord) -> None:
    doc.line(f"项目：{rec.project_name}（{rec.project_code}）    村：{rec.village_name}")
    doc.line(f"户号：{rec.household_no}    户主：{rec.head_name}    身份证号：{rec.head_id_number}")
    doc.line("宗地：" + ("、".join(rec.parcel_codes) if rec.parcel_codes else "无"))


def _building_rows(rec: CaseRecord) -> list[list[str]]:
    return [[b.building_no, STRUCTURE_ZH.get(b.structure_type, b.structure_type), str(b.storeys),
             _area(b.floor_area_m2), _money(b.unit_price_yuan), _money(b.amount_yuan)] for b in rec.buildings]


def _item_rows(rec: CaseRecord) -> list[list[str]]:
    return [[ITEM_KIND_ZH.get(i.item_kind, i.item_kind), i.description, f"{i.quantity:.2f}",
             UNIT_ZH.get(i.unit, i.unit), _money(i.unit_price_yuan), _money(i.amount_yuan)] for i in rec.items]


def _totals(doc: _Doc, rec: CaseRecord) -> None:
    doc.pdf.ln(2)
    doc.line(f"房屋建筑面积合计：{_area(rec.total_floor_area_m2)} 平方米")
    doc.line(f"补偿金额合计（小写）：¥{_money(rec.total_yuan)} 元")
    doc.line(f"补偿金额合计（大写）：人民币{yuan_in_capitals(rec.total_yuan)}")


BUILDING_HEADER = ["幢号", "结构", "层数", "建筑面积(m²)", "单价(元/m²)", "金额(元)"]
ITEM_HEADER = ["类别", "名称", "数量", "单位", "单价(元)", "金额(元)"]
WIDTHS = (18, 22, 14, 30, 30, 34)


def render_quantity_sheet(rec: CaseRecord, number: str, dated: dt.date) -> bytes:
    """The 核量单 of ``rec`` as PDF bytes, numbered ``number`` and dated ``dated``."""
    if not rec.buildings and not rec.items:
        raise DocumentError(f"户号 {rec.household_no} 没有核量记录 / no quantities recorded for the case")
    doc = _Doc("征收房屋及地上物核量单", number, dated)
    _household_block(doc, rec)
    if rec.buildings:
        doc.heading("一、房屋")
        doc.table(BUILDING_HEADER, _building_rows(rec), WIDTHS)
    if rec.items:
        doc.heading("二、土地、附属物、青苗及其他")
        doc.table(ITEM_HEADER, _item_rows(rec), WIDTHS)
    _totals(doc, rec)
    doc.pdf.ln(4)
    doc.line(f"核量人员：{rec.surveyor_name or '________'}    核量日期：{(rec.surveyed_on or dated).isoformat()}")
    doc.line("户主（签字）：____________    核量人员（签字）：____________    村委会见证人（签字）：____________")
    doc.footer_note("本核量单由征收监督系统根据同一登记记录生成，不得手工填写或涂改；签字后扫描归档，"
                    f"扫描件须与编号 {number} 一致。")
    return doc.output()


def render_agreement(rec: CaseRecord, number: str, dated: dt.date) -> bytes:
    """The 协议书 of ``rec`` as PDF bytes, numbered ``number`` and dated ``dated``."""
    if not rec.buildings and not rec.items:
        raise DocumentError(f"户号 {rec.household_no} 没有补偿项目 / no compensation items for the case")
    doc = _Doc("征收补偿协议书", number, dated)
    doc.line(f"甲方（征收部门）：{rec.authority_name}")
    doc.line(f"乙方（被征收人）：{rec.head_name}    身份证号：{rec.head_id_number}    户号：{rec.household_no}")
    doc.line(f"根据{rec.project_name}（{rec.project_code}）征收补偿方案，甲乙双方在平等自愿的基础上，"
             "就乙方被征收的房屋、土地及地上物补偿事宜达成如下协议：")
    doc.heading("第一条  被征收房屋及地上物")
    doc.line("宗地：" + ("、".join(rec.parcel_codes) if rec.parcel_codes else "无"))
    if rec.buildings:
        doc.table(BUILDING_HEADER, _building_rows(rec), WIDTHS)
    if rec.items:
        doc.pdf.ln(2)
        doc.table(ITEM_HEADER, _item_rows(rec), WIDTHS)
    doc.heading("第二条  补偿金额")
    _totals(doc, rec)
    doc.heading("第三条  支付方式")
    doc.line(f"本协议经审核批准后 {rec.payment_days} 日内，甲方将补偿款一次性转入乙方本人名下银行账户。")
    doc.heading("第四条  腾退期限")
    doc.line(f"乙方应在收到补偿款后 {rec.vacate_days} 日内腾空房屋并交付甲方拆除。")
    doc.heading("第五条  其他")
    doc.line("本协议一式四份，甲乙双方各执两份，自双方签字（盖章）之日起生效。")
    doc.pdf.ln(6)
    doc.line("甲方（盖章）：____________        乙方（签字）：____________")
    doc.line(f"经办人（签字）：____________      签订日期：{dated.isoformat()}")
    doc.footer_note("本协议书由征收监督系统根据与核量单相同的记录生成，不得手工填写或涂改；签字后扫描归档，"
                    f"扫描件须与编号 {number} 一致。")
    return doc.output()


def sha256_hex(data: bytes) -> str:
    """SHA-256 of a generated document, as stored beside it."""
    return hashlib.sha256(data).hexdigest()
