"""The stage gates, checked on the device before anything is queued: the same rules the server applies.

Stage order (only the first stage that is not approved is open, and only while open or returned), a
position with its accuracy within the project's limit for photos, videos and signatures, content of the
item's kind (checked by decoding, with the server's own checker ``supervision.uploads``), and every
mandatory item captured ``min_count`` times before a submit. Each refusal is a GateError in Chinese and
English; the server checks everything again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mobile_app.errors import GateError
from mobile_app.store import CaseView, Item, Stage

#: Item kinds whose captures must carry a position (the server's ``POSITIONED_KINDS``).
POSITIONED_KINDS = frozenset({"photo", "video", "signature"})
#: Stage states in which captures and a submit are accepted.
OPEN_STATES = ("open", "returned")
STATE_ZH = {"locked": "未开放", "open": "办理中", "submitted": "已提交待审", "returned": "已退回", "approved": "已通过"}
KIND_ZH = {"photo": "照片", "video": "视频", "document": "文件", "signature": "签字", "form": "表单"}
#: The largest capture the device accepts (the server's default ``capture_max_mb``).
MAX_CAPTURE_BYTES = 2048 * 1024**2


def open_stage(case: CaseView) -> Stage | None:
    """The one stage that can be worked: the first that is not approved, if it is open or returned."""
    first = next((s for s in case.stages if s.state != "approved"), None)
    return first if first is not None and first.state in OPEN_STATES else None


def stage_of(case: CaseView, stage_code: str) -> Stage:
    """The case's stage ``stage_code`` (GateError when it has none)."""
    for s in case.stages:
        if s.code == stage_code:
            return s
    raise GateError(f"案件 {case.household_no} 没有环节 {stage_code} / the case has no stage {stage_code!r}")


def check_stage_open(case: CaseView, stage_code: str) -> Stage:
    """The stage, if it is the open one; GateError naming the stage to finish first otherwise."""
    stage = stage_of(case, stage_code)
    if not case.assigned:
        raise GateError(f"案件 {case.household_no} 已不再分配给您 / the case {case.household_no} is no longer "
                        "assigned to you")
    current = open_stage(case)
    if current is None or current.code != stage.code:
        state = STATE_ZH.get(stage.state, stage.state)
        before = next((s for s in case.stages if s.state != "approved"), None)
        hint = (f"，请先完成「{before.name_zh}」" if before is not None and before.position < stage.position else "")
        raise GateError(f"环节「{stage.name_zh}」当前{state}，不可办理{hint} / stage {stage.code} is {stage.state}, "
                        "not open")
    return stage


def check_position(kind: str, lon: float | None, lat: float | None, accuracy_m: float | None,
                   limit_m: float) -> None:
    """A photo, video or signature needs its position and an accuracy within ``limit_m``; any position given
    needs its accuracy."""
    if (lon is None) != (lat is None):
        raise GateError("经度与纬度须同时提供 / give both longitude and latitude")
    if lon is None:
        if kind in POSITIONED_KINDS:
            raise GateError(f"{KIND_ZH.get(kind, kind)}须带拍摄位置，请等待定位 / a {kind} needs its position: "
                            "wait for a location fix")
        return
    assert lat is not None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GateError(f"位置超出范围 / the position is out of range: {lon}, {lat}")
    if accuracy_m is None:
        raise GateError("缺少定位精度 / the position's accuracy is missing")
    if accuracy_m > limit_m:
        raise GateError(f"定位精度 {accuracy_m:g} 米，差于项目限值 {limit_m:g} 米，请到开阔处重新定位 / position "
                        f"accuracy {accuracy_m:g} m is worse than the project's limit of {limit_m:g} m")


def check_content(kind: str, path: Path, file_name: str | None = None) -> str:
    """The file's media type if its content is of the item's kind (decoded, not guessed from its name)."""
    from supervision import uploads

    allowed = uploads.KIND_MEDIA_TYPES.get(kind)
    if allowed is None:
        raise GateError(f"未知的档案类型 {kind} / unknown item kind {kind!r}")
    try:
        checked = uploads.check_file(path, allowed=allowed, max_bytes=MAX_CAPTURE_BYTES,
                                     file_name=file_name or path.name)
    except uploads.UploadError as exc:
        raise GateError(f"{exc}（该项须为{KIND_ZH.get(kind, kind)}）/ the item is a {kind}") from None
    return checked.media_type


def item_of(items: Sequence[Item], item_code: str, stage: Stage) -> Item:
    """The stage's item ``item_code`` (GateError when the stage has no such item)."""
    for item in items:
        if item.code == item_code:
            return item
    raise GateError(f"环节「{stage.name_zh}」没有档案项 {item_code} / stage {stage.code} has no item {item_code!r}")


def check_capture(case: CaseView, stage_code: str, items: Sequence[Item], item_code: str, path: Path, *,
                  lon: float | None, lat: float | None, accuracy_m: float | None,
                  file_name: str | None = None) -> tuple[Item, str]:
    """Every gate of a capture: stage open, item of the stage, position and accuracy, content of its kind;
    the item and the file's media type."""
    stage = check_stage_open(case, stage_code)
    item = item_of(items, item_code, stage)
    check_position(item.kind, lon, lat, accuracy_m, case.accuracy_limit_m)
    return item, check_content(item.kind, path, file_name)


def missing_items(items: Sequence[Item]) -> list[str]:
    """The mandatory item codes with fewer captures than their ``min_count``."""
    return [i.code for i in items if i.mandatory and i.count < i.min_count]


def check_submit(case: CaseView, stage_code: str, items: Sequence[Item]) -> None:
    """A stage can be submitted when it is open and every mandatory item has its captures."""
    stage = check_stage_open(case, stage_code)
    missing = [i for i in items if i.mandatory and i.count < i.min_count]
    if missing:
        names = "、".join(f"{i.name_zh}（{i.count}/{i.min_count}）" for i in missing)
        raise GateError(f"「{stage.name_zh}」还缺必填档案：{names} / stage {stage.code} is missing mandatory items: "
                        + ", ".join(i.code for i in missing), missing=[i.code for i in missing])
