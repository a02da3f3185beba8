"""What a field crew does on the tablet, offline: capture, record quantities, submit; each act gated first.

The Kivy screens call these and show what they return or the GateError's message; nothing here needs the
network (the sync client sends what these queue).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from mobile_app import gates
from mobile_app.errors import GateError
from mobile_app.store import CaptureRecord, Store

SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "application/pdf": ".pdf",
          "video/mp4": ".mp4", "video/quicktime": ".mov"}
#: The checklist states of an item, for the stage screen.
ITEM_STATES = ("missing", "captured", "waiting", "uploaded", "refused")


def take_capture(store: Store, project_code: str, household_no: str, stage_code: str, item_code: str,
                 source: str | Path, *, lon: float | None, lat: float | None, accuracy_m: float | None,
                 taken_at: dt.datetime | None = None, document_no: str | None = None,
                 capture_uuid: str | None = None) -> CaptureRecord:
    """Check a capture against every gate, then keep it in the store (``pending`` upload); ``capture_uuid``
    is drawn at random unless given."""
    case = store.case(project_code, household_no)
    items = store.items(project_code, household_no, stage_code)
    path = Path(source)
    item, media_type = gates.check_capture(case, stage_code, items, item_code, path, lon=lon, lat=lat,
                                           accuracy_m=accuracy_m)
    return store.add_capture(path, project_code=project_code, household_no=household_no, stage_code=stage_code,
                             item_code=item.code, kind=item.kind, taken_at=taken_at, lon=lon, lat=lat,
                             accuracy_m=accuracy_m, document_no=document_no, media_type=media_type,
                             suffix=SUFFIX.get(media_type, ""), capture_uuid=capture_uuid)


def submit_stage(store: Store, project_code: str, household_no: str, stage_code: str) -> None:
    """Queue the stage's submission once it is open and complete on the device (GateError with ``missing``)."""
    case = store.case(project_code, household_no)
    gates.check_submit(case, stage_code, store.items(project_code, household_no, stage_code))
    store.queue_submission(project_code, household_no, stage_code)


@dataclass(frozen=True)
class ChecklistRow:
    """One item of a stage's checklist as the stage screen shows it."""

    code: str
    name_zh: str
    kind: str
    mandatory: bool
    min_count: int
    count: int
    state: str                 # one of ITEM_STATES
    reasons: tuple[str, ...]   # why captures of this item were refused


def checklist(store: Store, project_code: str, household_no: str, stage_code: str) -> list[ChecklistRow]:
    """The stage's items with their state: missing, captured (all counted, some not sent), waiting to upload,
    uploaded, refused (and why)."""
    rows = []
    captures = store.captures(project_code=project_code, household_no=household_no, stage_code=stage_code)
    for item in store.items(project_code, household_no, stage_code):
        mine = [c for c in captures if c.item_code == item.code]
        reasons = tuple(c.reason or "" for c in mine if c.state == "refused")
        waiting = any(c.state in ("pending", "uploading") for c in mine)
        if item.count < item.min_count or (item.count == 0 and item.mandatory):
            state = "refused" if reasons and not waiting else "missing"
        elif waiting:
            state = "waiting"
        elif item.count > 0 and item.count == item.server_count:
            state = "uploaded"
        else:
            state = "captured"
        rows.append(ChecklistRow(item.code, item.name_zh, item.kind, item.mandatory, item.min_count, item.count,
                                 state, reasons))
    return rows


STRUCTURES = ("brick_concrete", "brick_wood", "simple", "steel", "other")


def building_line(*, building_no: str, structure_type: str, storeys: int, length_m: str | float,
                  width_m: str | float, unit_price_yuan: str | float, parcel_code: str | None = None,
                  description: str = "") -> dict:
    """A building line of the quantity record from what the form takes (structure, storeys, dimensions):
    area = length × width × storeys, amount = area × price (GateError on a value the server would refuse)."""
    if not building_no.strip():
        raise GateError("请填写房屋编号 / give the building number")
    if structure_type not in STRUCTURES:
        raise GateError(f"结构类型无效 / unknown structure type {structure_type!r}")
    if not 1 <= int(storeys) <= 200:
        raise GateError("层数须在 1 到 200 之间 / storeys must be 1–200")
    try:
        length, width, price = (Decimal(str(v)) for v in (length_m, width_m, unit_price_yuan))
    except InvalidOperation:
        raise GateError("尺寸与单价须为数字 / dimensions and price must be numbers") from None
    if length <= 0 or width <= 0 or price < 0:
        raise GateError("尺寸须为正数，单价不能为负 / dimensions must be positive and the price not negative")
    area = (length * width * int(storeys)).quantize(Decimal("0.01"))
    return {"item_kind": "building", "parcel_code": parcel_code, "building_no": building_no.strip(),
            "description": description, "structure_type": structure_type, "storeys": int(storeys),
            "quantity": str(area), "unit": "m2", "unit_price_yuan": str(price.quantize(Decimal("0.01"))),
            "amount_yuan": str((area * price).quantize(Decimal("0.01")))}


def record_quantities(store: Store, project_code: str, household_no: str, lines: list[dict]) -> None:
    """Queue the case's quantity record while the quantity stage is open on the device."""
    if not lines:
        raise GateError("核量记录不能为空 / give at least one line")
    gates.check_stage_open(store.case(project_code, household_no), "quantity")
    store.queue_quantities(project_code, household_no, lines)
