"""The columns of every file of a project package (DATA_FORMATS.md §1), in English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "enum", "date", "datetime", "decimal", "int", "float"]


@dataclass(frozen=True)
class Column:
    """One column: its English and Chinese header, type, and whether a value is required."""

    name: str
    zh: str
    kind: Kind = "text"
    required: bool = True              # the column must be present
    nonempty: bool = True              # every cell must have a value
    choices: dict[str, str] = field(default_factory=dict)   # accepted spelling -> canonical value
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class FileSpec:
    """One file of the package: base name, whether required, table or vector, its columns and keys."""

    base: str
    required: bool
    vector: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _enum(pairs: dict[str, str]) -> dict[str, str]:
    out = {en: en for en in pairs}
    out.update({zh: en for en, zh in pairs.items()})
    return out


LAND_CLASS = _enum({"homestead": "宅基地", "farmland": "耕地", "collective_construction": "集体建设用地",
                    "enterprise": "企业用地", "other": "其他"})
STRUCTURE = _enum({"brick_concrete": "砖混", "brick_wood": "砖木", "simple": "简易", "steel": "钢结构",
                   "other": "其他"})
ITEM_KIND = _enum({"building": "房屋", "land": "土地", "attachment": "附属物", "crop": "青苗",
                   "business_loss": "停产停业"})
UNIT = _enum({"m2": "平方米", "mu": "亩", "item": "项"})
UNIT.update({"m²": "m2", "㎡": "m2", "个": "item"})
CASE_TYPE = _enum({"residential": "民宅", "enterprise": "企业", "farmland": "耕地"})
GENDER = _enum({"M": "男", "F": "女"})
STATUS = _enum({"active": "正常", "deceased": "死亡", "moved_out": "迁出"})
ROLE = _enum({"field_crew": "征收人员", "gis_officer": "GIS专员", "supervisor": "审核人", "inspector": "纪检人员",
              "admin": "管理员"})
PHASE = _enum({"baseline": "征收前", "after": "征收后"})

C = Column
FILES: dict[str, FileSpec] = {spec.base: spec for spec in [
    FileSpec("scope", True, True, ()),
    FileSpec("villages", True, False, (
        C("village_code", "村代码"), C("village_name", "村名"), C("township_name", "乡镇"),
    ), key=("village_code",)),
    FileSpec("parcels", True, True, (
        C("parcel_code", "宗地代码"), C("village_code", "村代码"),
        C("land_class", "地类", "enum", choices=LAND_CLASS),
        C("household_no", "户号", nonempty=False), C("certificate_no", "证号", nonempty=False),
    ), key=("parcel_code",)),
    FileSpec("buildings", False, True, (
        C("parcel_code", "宗地代码"), C("building_no", "幢号"),
        C("structure_type", "结构", "enum", choices=STRUCTURE),
        C("storeys", "层数", "int", min_value=1, max_value=200),
        C("claimed_floor_area_m2", "核定建筑面积", "decimal", min_value=0),
    ), key=("parcel_code", "building_no")),
    FileSpec("footprints_baseline", False, True, (
        C("footprint_id", "轮廓编号"), C("height_m", "高度", "float", required=False, nonempty=False,
                                         min_value=0, max_value=500),
    ), key=("footprint_id",)),
    FileSpec("footprints_after", False, True, (
        C("footprint_id", "轮廓编号"), C("height_m", "高度", "float", required=False, nonempty=False,
                                         min_value=0, max_value=500),
    ), key=("footprint_id",)),
    FileSpec("households", True, False, (
        C("household_no", "户号"), C("village_code", "村代码"),
        C("head_id_number", "户主身份证号"), C("head_name", "户主姓名"),
    ), key=("household_no",)),
    FileSpec("claims", True, False, (
        C("claim_id", "补偿项编号"), C("household_no", "户号"), C("claimant_id_number", "身份证号"),
        C("claimant_name", "姓名"), C("parcel_code", "宗地代码"), C("building_no", "幢号", nonempty=False),
        C("item_kind", "补偿类别", "enum", choices=ITEM_KIND), C("quantity", "数量", "decimal", min_value=0),
        C("unit", "单位", "enum", choices=UNIT), C("unit_price_yuan", "单价", "decimal", min_value=0),
        C("amount_yuan", "金额", "decimal"), C("registered_on", "登记日期", "date"),
        C("case_type", "征收类型", "enum", choices=CASE_TYPE),
    ), key=("claim_id",)),
    FileSpec("payments", False, False, (
        C("payment_id", "支付编号"), C("household_no", "户号"), C("payee_id_number", "收款人身份证号"),
        C("payee_name", "收款人姓名"), C("amount_yuan", "金额", "decimal"), C("paid_on", "支付日期", "date"),
        C("agreement_no", "协议编号", nonempty=False),
    ), key=("payment_id",)),
    FileSpec("registry", False, False, (
        C("id_number", "身份证号"), C("name", "姓名"), C("gender", "性别", "enum", nonempty=False, choices=GENDER),
        C("birth_date", "出生日期", "date", nonempty=False), C("household_no", "户号", nonempty=False),
        C("relation_to_head", "与户主关系", nonempty=False), C("village_code", "村代码", nonempty=False),
        C("status", "状态", "enum", choices=STATUS), C("status_date", "状态日期", "date", nonempty=False),
        C("moved_in_on", "迁入日期", "date", nonempty=False),
        C("split_from_household_no", "分户前户号", nonempty=False), C("split_on", "分户日期", "date", nonempty=False),
    ), key=("id_number",)),
    FileSpec("homestead_approvals", False, False, (
        C("approval_no", "审批编号"), C("household_no", "户号", nonempty=False), C("parcel_code", "宗地代码"),
        C("approved_on", "审批日期", "date"),
    ), key=("approval_no",)),
    FileSpec("staff", False, False, (
        C("staff_id", "工号"), C("name", "姓名"), C("id_number", "身份证号", nonempty=False),
        C("role", "角色", "enum", choices=ROLE), C("supervisor_staff_id", "上级工号", nonempty=False),
    ), key=("staff_id",)),
    FileSpec("assignments", False, False, (
        C("household_no", "户号"), C("stage", "环节"), C("staff_id", "工号"),
    ), key=("household_no", "stage", "staff_id")),
    FileSpec("orthophotos", False, False, (
        C("file", "文件"), C("phase", "时相", "enum", choices=PHASE), C("captured_on", "拍摄日期", "date"),
    ), key=("file",)),
    FileSpec("field_photos", False, False, (
        C("photo_id", "照片编号"), C("household_no", "户号"), C("stage", "环节", nonempty=False),
        C("taken_at", "拍摄时间", "datetime", nonempty=False),
        C("lon", "经度", "float", min_value=-180, max_value=180), C("lat", "纬度", "float", min_value=-90, max_value=90),
    ), key=("photo_id",)),
]}

#: (file, column) -> (file, column) it must resolve into.
REFERENCES: list[tuple[str, str, str, str]] = [
    ("claims", "household_no", "households", "household_no"),
    ("payments", "household_no", "households", "household_no"),
    ("parcels", "household_no", "households", "household_no"),
    ("assignments", "household_no", "households", "household_no"),
    ("field_photos", "household_no", "households", "household_no"),
    ("claims", "parcel_code", "parcels", "parcel_code"),
    ("buildings", "parcel_code", "parcels", "parcel_code"),
    ("homestead_approvals", "parcel_code", "parcels", "parcel_code"),
    ("parcels", "village_code", "villages", "village_code"),
    ("households", "village_code", "villages", "village_code"),
    ("assignments", "staff_id", "staff", "staff_id"),
    ("staff", "supervisor_staff_id", "staff", "staff_id"),
]

TABLE_EXTENSIONS = (".csv", ".xlsx")
VECTOR_EXTENSIONS = (".geojson", ".json", ".gpkg", ".shp.zip", ".zip", ".shp")
