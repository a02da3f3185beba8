"""What the screens show, computed from the offline store without Kivy.

My cases (searched, overdue first), a case's stages in order with what can be opened, a stage's checklist
with whether it can be submitted and why not, the building quantity form checked field by field as it is
typed, the position against the project's limit, and the sync status: what waits and why. The Kivy layer
only lays these out; every rule stays in :mod:`mobile_app.gates` and :mod:`mobile_app.field`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field as dc_field
from decimal import Decimal, InvalidOperation

from mobile_app import field, gates
from mobile_app.errors import GateError, StoreError
from mobile_app.store import CaseView, Queued, QuantityRecord, Stage, Store

CASE_TYPE_ZH = {"residential": "民宅征收", "enterprise": "企业征收", "farmland": "耕地征收"}
STAGE_STATE_ZH = gates.STATE_ZH
ITEM_STATE_ZH = {"missing": "缺失", "captured": "已采集", "waiting": "待上传", "uploaded": "已上传",
                 "refused": "被拒"}
KIND_ZH = gates.KIND_ZH
STRUCTURE_ZH = {"brick_concrete": "砖混", "brick_wood": "砖木", "simple": "简易", "steel": "钢结构", "other": "其他"}
OUTCOME_ZH = {"ok": "成功", "unreachable": "服务器无法连接", "expired": "登录已过期", "error": "出错",
              "running": "进行中"}
UPLOAD_STATE_ZH = {"pending": "待上传", "uploading": "上传中", "uploaded": "已上传", "refused": "被拒"}


def _today() -> dt.date:
    return dt.date.today()


def _is_overdue(stage: Stage, today: dt.date) -> bool:
    """Overdue as the server said at the last pull, or because its due date has passed since (offline)."""
    if stage.overdue:
        return True
    if stage.due_on and stage.state in gates.OPEN_STATES:
        try:
            return dt.date.fromisoformat(stage.due_on[:10]) < today
        except ValueError:
            return False
    return False


# --- my cases ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseRow:
    """One case in the list of my cases."""

    project_code: str
    household_no: str
    case_type_zh: str
    stage_code: str | None
    stage_zh: str
    stage_state_zh: str
    due_on: str | None
    overdue: bool
    assigned: bool
    waiting: int                 # captures of the case not yet uploaded


def _current(case: CaseView) -> Stage | None:
    by_code = {s.code: s for s in case.stages}
    if case.current_stage in by_code:
        return by_code[case.current_stage]
    return next((s for s in case.stages if s.state != "approved"), None)


def case_rows(store: Store, query: str = "", *, today: dt.date | None = None) -> list[CaseRow]:
    """The cached cases matching ``query`` (household number, project, stage name or code): assigned first,
    then overdue first, then by due date and household number."""
    today = today or _today()
    waiting: dict[tuple[str, str], int] = {}
    for c in store.captures(states=("pending", "uploading")):
        waiting[(c.project_code, c.household_no)] = waiting.get((c.project_code, c.household_no), 0) + 1
    needle = query.strip().lower()
    rows = []
    for case in store.cases():
        stage = _current(case)
        row = CaseRow(case.project_code, case.household_no, CASE_TYPE_ZH.get(case.case_type, case.case_type),
                      stage.code if stage else None, stage.name_zh if stage else "已办结",
                      STAGE_STATE_ZH.get(stage.state, stage.state) if stage else "",
                      stage.due_on[:10] if stage and stage.due_on else None,
                      _is_overdue(stage, today) if stage else False, case.assigned,
                      waiting.get((case.project_code, case.household_no), 0))
        haystack = " ".join([row.household_no, row.project_code, row.stage_zh, row.stage_code or ""]).lower()
        if needle and needle not in haystack:
            continue
        rows.append(row)
    rows.sort(key=lambda r: (not r.assigned, not r.overdue, r.due_on or "9999-12-31", r.project_code,
                             r.household_no))
    return rows


# --- a case's stages -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageRow:
    """A stage of a case as the case screen lists it."""

    code: str
    position: int
    name_zh: str
    state: str
    state_zh: str
    assignee: str | None
    due_on: str | None
    overdue: bool
    workable: bool               # the one stage that can be worked on now
    locked: bool                 # not reached yet: cannot be opened
    done: int                    # mandatory items complete
    mandatory: int               # mandatory items in all


def stage_rows(store: Store, project_code: str, household_no: str, *, today: dt.date | None = None
               ) -> list[StageRow]:
    """The case's stages in order; only the open one is workable, the later ones are locked."""
    today = today or _today()
    case = store.case(project_code, household_no)
    current = gates.open_stage(case) if case.assigned else None
    rows = []
    for s in case.stages:
        items = store.items(project_code, household_no, s.code)
        mandatory = [i for i in items if i.mandatory]
        done = sum(1 for i in mandatory if i.count >= i.min_count)
        rows.append(StageRow(s.code, s.position, s.name_zh, s.state, STAGE_STATE_ZH.get(s.state, s.state),
                             s.assignee, s.due_on[:10] if s.due_on else None, _is_overdue(s, today),
                             current is not None and current.code == s.code, s.state == "locked", done,
                             len(mandatory)))
    return rows


# --- a stage's checklist --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageView:
    """A stage's checklist and whether it can be submitted."""

    project_code: str
    household_no: str
    stage: Stage
    rows: list[field.ChecklistRow]
    workable: bool
    missing: list[str]
    submission: Queued | None
    submit_enabled: bool
    note: str                    # why submit is disabled, or what happened to the submission

    @property
    def progress(self) -> str:
        """「必填 12/35 项已齐」."""
        mandatory = [r for r in self.rows if r.mandatory]
        return f"必填 {sum(1 for r in mandatory if r.count >= r.min_count)}/{len(mandatory)} 项已齐"


def stage_view(store: Store, project_code: str, household_no: str, stage_code: str) -> StageView:
    """The stage with its checklist; submit is enabled only when the stage is open and every mandatory item
    has its captures (the same gate as :func:`mobile_app.field.submit_stage`)."""
    case = store.case(project_code, household_no)
    stage = gates.stage_of(case, stage_code)
    items = store.items(project_code, household_no, stage_code)
    rows = field.checklist(store, project_code, household_no, stage_code)
    missing = gates.missing_items(items)
    submission = next((q for q in store.submissions() if (q.project_code, q.household_no, q.stage_code)
                       == (project_code, household_no, stage_code)), None)
    try:
        gates.check_stage_open(case, stage_code)
        workable = True
    except GateError:
        workable = False
    try:
        gates.check_submit(case, stage_code, items)
        note = ""
    except GateError as exc:
        note = str(exc).split(" / ")[0]
    enabled = not note
    if submission is not None and submission.state == "queued" and stage.state in gates.OPEN_STATES:
        enabled = False
        names = {r.code: r.name_zh for r in rows}
        note = ("已提交，等待同步" if not submission.missing else
                "服务器要求补齐：" + "、".join(names.get(m, m) for m in submission.missing))
    elif submission is not None and submission.state == "refused":
        note = f"提交被拒：{(submission.reason or '').split(' / ')[0]}"
    elif stage.state == "submitted":
        enabled, note = False, "已提交，等待审核"
    elif stage.state == "approved":
        enabled, note = False, "已审核通过"
    return StageView(project_code, household_no, stage, rows, workable, missing, submission, enabled, note)


# --- the building quantity form -------------------------------------------------------------------------------

FORM_FIELDS = ("building_no", "structure_type", "storeys", "length_m", "width_m", "unit_price_yuan")
FORM_LABELS = {"building_no": "房屋编号", "structure_type": "结构", "storeys": "层数", "length_m": "长（米）",
               "width_m": "宽（米）", "unit_price_yuan": "单价（元/㎡）"}


@dataclass(frozen=True)
class FormCheck:
    """The quantity form checked as typed: an error per field, and the line with its area once valid."""

    errors: dict[str, str]
    line: dict | None
    area_text: str


def _decimal(text: str, *, places: int) -> Decimal:
    value = Decimal(text.strip())
    if not value.is_finite():
        raise InvalidOperation
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValueError(places)
    return value


def check_building_form(values: Mapping[str, str]) -> FormCheck:
    """Check each field of the building form (房屋编号, 结构, 层数, 长, 宽, 单价) on its own; when all are valid,
    the line :func:`mobile_app.field.building_line` makes (area = length × width × storeys)."""
    errors: dict[str, str] = {}
    text = {k: str(values.get(k) or "").strip() for k in FORM_FIELDS}
    if not text["building_no"]:
        errors["building_no"] = "请填写房屋编号"
    elif len(text["building_no"]) > 200:
        errors["building_no"] = "房屋编号过长"
    if text["structure_type"] not in field.STRUCTURES:
        errors["structure_type"] = "请选择结构类型"
    storeys = 0
    if not text["storeys"].isdigit():
        errors["storeys"] = "层数须为整数"
    else:
        storeys = int(text["storeys"])
        if not 1 <= storeys <= 200:
            errors["storeys"] = "层数须在 1 到 200 之间"
    dims: dict[str, Decimal] = {}
    for key, places, name in (("length_m", 2, "长度"), ("width_m", 2, "宽度"), ("unit_price_yuan", 2, "单价")):
        try:
            dims[key] = _decimal(text[key], places=places)
        except InvalidOperation:
            errors[key] = f"{name}须为数字"
            continue
        except ValueError:
            errors[key] = f"{name}最多保留 {places} 位小数"
            continue
        if key == "unit_price_yuan":
            if dims[key] < 0:
                errors[key] = "单价不能为负"
        elif dims[key] <= 0:
            errors[key] = f"{name}须大于 0"
        elif dims[key] > 1000:
            errors[key] = f"{name}超过 1000 米，请核对"
    area_text = ""
    if {"length_m", "width_m"} <= dims.keys() and "storeys" not in errors and not (
            {"length_m", "width_m"} & errors.keys()):
        area = (dims["length_m"] * dims["width_m"] * storeys).quantize(Decimal("0.01"))
        area_text = f"建筑面积 {dims['length_m']} × {dims['width_m']} × {storeys} 层 = {area} ㎡"
    line = None
    if not errors:
        try:
            line = field.building_line(building_no=text["building_no"], structure_type=text["structure_type"],
                                       storeys=storeys, length_m=text["length_m"], width_m=text["width_m"],
                                       unit_price_yuan=text["unit_price_yuan"])
        except GateError as exc:
            errors["form"] = str(exc).split(" / ")[0]
        else:
            area_text += f"，金额 {Decimal(line['amount_yuan']):,.2f} 元"
    return FormCheck(errors, line, area_text)


@dataclass(frozen=True)
class QuantityStatus:
    """How the case's quantity record stands on the device and what the server's check said about it."""

    lines: list[dict]
    state_zh: str
    prompts: list[str]           # the server's prompts (rule title and message), shown at once


def quantity_status(record: QuantityRecord | None) -> QuantityStatus:
    """The quantity record's state in Chinese and the prompts of the per-case check on it."""
    if record is None:
        return QuantityStatus([], "尚未录入", [])
    state = {"queued": "已保存，待发送", "sent": "已发送，服务器已核查",
             "refused": f"被拒：{(record.reason or '').split(' / ')[0]}"}.get(record.state, record.state)
    prompts = [f"{p.get('message') or p.get('rule_code')}" for p in record.prompts]
    return QuantityStatus(record.lines, state, prompts)


# --- position ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fix:
    """A position fix: WGS84 longitude and latitude, its accuracy and when it was taken."""

    lon: float
    lat: float
    accuracy_m: float
    at: float = dc_field(default_factory=time.time)
    source: str = "gps"


@dataclass(frozen=True)
class PositionCheck:
    """A fix against the project's limit for an item kind: may it be captured, and what to show."""

    ok: bool
    text: str


def position_check(fix: Fix | None, kind: str, limit_m: float) -> PositionCheck:
    """Whether a capture of ``kind`` may be taken at ``fix`` (the gate :func:`gates.check_position`), with
    the position and its accuracy against the limit in Chinese."""
    lon, lat, acc = (fix.lon, fix.lat, fix.accuracy_m) if fix else (None, None, None)
    try:
        gates.check_position(kind, lon, lat, acc, limit_m)
    except GateError as exc:
        where = (f"经度 {fix.lon:.6f}，纬度 {fix.lat:.6f}，精度 {fix.accuracy_m:g} 米（限值 {limit_m:g} 米）\n"
                 if fix else "")
        return PositionCheck(False, where + "不能采集：" + str(exc).split(" / ")[0])
    if fix is None:
        return PositionCheck(True, f"未定位（{KIND_ZH.get(kind, kind)}可不带位置）")
    return PositionCheck(True, f"经度 {fix.lon:.6f}，纬度 {fix.lat:.6f}，精度 {fix.accuracy_m:g} 米"
                               f"（限值 {limit_m:g} 米）")


# --- sync status -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Waiting:
    """One thing on the device the server does not have yet, or refused, and why."""

    what: str                    # e.g. 「0001 入户调查登记 · 房屋正面照片」
    state_zh: str
    why: str


@dataclass(frozen=True)
class SyncStatus:
    """What waits to be sent, what was refused, and the last sync attempts."""

    headline: str
    counts: dict[str, int]
    items: list[Waiting]
    attempts: list[str]


def _why_waiting(last: dict | None) -> str:
    if last is None:
        return "尚未同步，联网后自动上传"
    outcome = last["outcome"]
    when = time.strftime("%H:%M", time.localtime(last["started_at"]))
    if outcome == "unreachable":
        return f"服务器无法连接（{when} 尝试），数据保存在本机，联网后自动重试"
    if outcome == "expired":
        return "登录已过期，请重新登录后同步（数据保存在本机）"
    if outcome == "error":
        return f"上次同步出错（{when}），稍后重试"
    return "下次同步时上传"


def sync_status(store: Store, *, limit: int = 200) -> SyncStatus:
    """The sync screen: counts, each capture, submission or quantity record still waiting or refused (with
    the server's reason), and the last attempts."""
    counts = store.waiting()
    log = store.sync_log(10)
    last = next((r for r in log if r["outcome"] != "running"), None)
    why = _why_waiting(last)
    names: dict[tuple[str, str, str], dict[str, str]] = {}

    def item_name(project: str, hh: str, stage: str, code: str) -> str:
        key = (project, hh, stage)
        if key not in names:
            names[key] = {i.code: i.name_zh for i in store.items(project, hh, stage)}
        return names[key].get(code, code)

    def stage_name(project: str, hh: str, stage: str) -> str:
        try:
            return gates.stage_of(store.case(project, hh), stage).name_zh
        except (StoreError, GateError):          # a case no longer cached: show the code
            return stage

    items: list[Waiting] = []
    for c in store.captures(states=("pending", "uploading", "refused"))[:limit]:
        what = f"{c.household_no} {stage_name(c.project_code, c.household_no, c.stage_code)} · " \
               f"{item_name(c.project_code, c.household_no, c.stage_code, c.item_code)}"
        if c.state == "refused":
            reason = (c.reason or "").split(" / ")[0]
            items.append(Waiting(what, "被拒", f"{reason}（采集保留在本机）"))
        elif c.state == "uploading" and c.size_bytes:
            items.append(Waiting(what, "上传中", f"已传 {c.server_offset / c.size_bytes:.0%}，中断后从断点续传；{why}"))
        else:
            items.append(Waiting(what, "待上传", why))
    for q in store.submissions(states=("queued", "refused")):
        assert q.stage_code is not None
        what = f"{q.household_no} {stage_name(q.project_code, q.household_no, q.stage_code)} · 环节提交"
        if q.state == "refused":
            items.append(Waiting(what, "被拒", (q.reason or "").split(" / ")[0]))
        elif q.missing:
            items.append(Waiting(what, "待补齐", "服务器要求补齐：" + "、".join(
                item_name(q.project_code, q.household_no, q.stage_code, m) for m in q.missing)))
        else:
            items.append(Waiting(what, "待提交", why))
    for q in store.quantities(states=("queued", "refused")):
        what = f"{q.household_no} 核量记录（{len(q.lines or [])} 行）"
        items.append(Waiting(what, "被拒" if q.state == "refused" else "待发送",
                             (q.reason or "").split(" / ")[0] if q.state == "refused" else why))
    pending = counts["pending"] + counts["uploading"]
    queued = counts["submissions_queued"] + counts["quantities_queued"]
    if pending or queued:
        headline = f"待上传采集 {pending} 项，待提交 {queued} 项"
    else:
        headline = "全部已同步"
    if counts["refused"]:
        headline += f"，被拒 {counts['refused']} 项"
    attempts = []
    for r in log:
        started = time.strftime("%m-%d %H:%M:%S", time.localtime(r["started_at"]))
        detail = ""
        if r["detail"] and r["outcome"] == "ok":
            try:
                d = json.loads(r["detail"])
                detail = f"：上传 {len(d.get('uploaded', []))}，提交 {len(d.get('submitted', []))}，" \
                         f"被拒 {len(d.get('refused', {}))}，案件 {d.get('cases', 0)}"
            except (ValueError, AttributeError):
                detail = ""
        attempts.append(f"{started} {OUTCOME_ZH.get(r['outcome'], r['outcome'])}{detail}")
    return SyncStatus(headline, counts, items, attempts)
