"""Case types as data: each type's ordered stages, their responsible role, time limit and mandatory archive.

The definitions are TOML files beside this module (``residential.toml``, ``enterprise.toml``,
``farmland.toml``), in Chinese and English, versioned by their ``version`` key. A project overrides them
in ``project.toml`` under ``[casetypes.<case_type>]``::

    [casetypes.residential.stages.survey]
    time_limit_days = 20                    # a stage's time limit or responsible role

    [casetypes.residential.items.house_interior_photo]
    min_count = 4                           # an item's min_count, mandatory, name_zh, name_en or kind

    [casetypes.residential]
    remove = ["courtyard_photo"]            # items dropped from the checklist

    [[casetypes.residential.add]]           # items added to a stage
    stage = "survey"
    code = "pigsty_photo"
    name_zh = "猪圈照片"
    kind = "photo"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

from supervision.errors import SupervisionError

ITEM_KINDS = ("photo", "video", "document", "signature", "form")
STAGE_ROLES = ("field_crew", "gis_officer", "supervisor", "inspector", "admin")
CASE_TYPES = ("residential", "enterprise", "farmland")
STAGE_KEYS = {"code", "name_zh", "name_en", "role", "time_limit_days", "items"}
ITEM_KEYS = {"code", "name_zh", "name_en", "kind", "mandatory", "min_count", "document"}
#: The generated documents a signed scan may stand for (``document`` of an item).
DOCUMENT_KINDS = ("quantity_sheet", "agreement")
STAGE_OVERRIDABLE = {"role", "time_limit_days", "name_zh", "name_en"}
ITEM_OVERRIDABLE = {"name_zh", "name_en", "kind", "mandatory", "min_count"}


class CaseTypeError(SupervisionError, ValueError):
    """A case-type definition or a project's override of it is invalid."""


@dataclass(frozen=True)
class ArchiveItem:
    """One archive item of a stage (a document, photo, video, signature or form)."""

    code: str
    name_zh: str
    name_en: str
    kind: str
    mandatory: bool = True
    min_count: int = 1
    #: the generated document (``quantity_sheet`` or ``agreement``) this item is the signed scan of
    document: str | None = None


@dataclass(frozen=True)
class Stage:
    """One stage of a case type: responsible role, time limit (days) and archive items."""

    code: str
    name_zh: str
    name_en: str
    role: str
    time_limit_days: int
    items: tuple[ArchiveItem, ...] = field(default_factory=tuple)

    def mandatory_items(self) -> tuple[ArchiveItem, ...]:
        """The items without which the stage cannot be submitted."""
        return tuple(i for i in self.items if i.mandatory and i.min_count > 0)


@dataclass(frozen=True)
class CaseType:
    """An ordered list of stages for one kind of expropriation."""

    case_type: str
    version: str
    name_zh: str
    name_en: str
    stages: tuple[Stage, ...]

    def stage(self, code: str) -> Stage:
        """The stage named ``code`` (CaseTypeError when it is not one of this type's)."""
        for s in self.stages:
            if s.code == code:
                return s
        raise CaseTypeError(f"{self.case_type} 无此环节 / has no stage {code!r}; stages: "
                            + ", ".join(s.code for s in self.stages))

    def stage_codes(self) -> list[str]:
        """The stage codes in order."""
        return [s.code for s in self.stages]

    def item(self, code: str) -> tuple[Stage, ArchiveItem]:
        """The stage and the archive item named ``code``."""
        for s in self.stages:
            for i in s.items:
                if i.code == code:
                    return s, i
        raise CaseTypeError(f"{self.case_type} 无此档案项 / has no archive item {code!r}")

    def mandatory_count(self) -> int:
        """How many mandatory archive items the whole case has."""
        return sum(len(s.mandatory_items()) for s in self.stages)


def _check_keys(where: str, given: dict, allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise CaseTypeError(f"{where}: 未知字段 / unknown key(s) {', '.join(unknown)}; allowed: "
                            + ", ".join(sorted(allowed)))


def _item(where: str, raw: dict) -> ArchiveItem:
    _check_keys(where, raw, ITEM_KEYS)
    for key in ("code", "name_zh", "kind"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise CaseTypeError(f"{where}: 缺少 / missing {key}")
    item = ArchiveItem(code=raw["code"], name_zh=raw["name_zh"], name_en=raw.get("name_en", raw["code"]),
                       kind=raw["kind"], mandatory=raw.get("mandatory", True), min_count=raw.get("min_count", 1),
                       document=raw.get("document"))
    _validate_item(where, item)
    return item


def _validate_item(where: str, item: ArchiveItem) -> None:
    if item.kind not in ITEM_KINDS:
        raise CaseTypeError(f"{where}: 类型无效 / kind {item.kind!r} is not one of {', '.join(ITEM_KINDS)}")
    if not isinstance(item.mandatory, bool):
        raise CaseTypeError(f"{where}: mandatory 必须为 true/false / mandatory must be true or false")
    if not isinstance(item.min_count, int) or isinstance(item.min_count, bool) or item.min_count < 0:
        raise CaseTypeError(f"{where}: min_count 必须为非负整数 / min_count must be a non-negative integer")
    if item.document is not None and item.document not in DOCUMENT_KINDS:
        raise CaseTypeError(f"{where}: document 必须为 / must be one of {', '.join(DOCUMENT_KINDS)}")
    if item.mandatory and item.min_count < 1:
        raise CaseTypeError(f"{where}: 必填项 min_count 至少为 1 / a mandatory item needs min_count >= 1")


def _validate_stage(where: str, stage: Stage) -> None:
    if stage.role not in STAGE_ROLES:
        raise CaseTypeError(f"{where}: 角色无效 / role {stage.role!r} is not one of {', '.join(STAGE_ROLES)}")
    if (not isinstance(stage.time_limit_days, int) or isinstance(stage.time_limit_days, bool)
            or stage.time_limit_days < 1):
        raise CaseTypeError(f"{where}: 时限必须为正整数天数 / time_limit_days must be a positive integer")


def parse(raw: dict[str, Any], source: str) -> CaseType:
    """A case type from the parsed TOML ``raw`` of file ``source`` (CaseTypeError naming what is wrong)."""
    _check_keys(source, raw, {"case_type", "version", "name_zh", "name_en", "stages"})
    stages: list[Stage] = []
    seen_items: set[str] = set()
    for n, s in enumerate(raw.get("stages", []), start=1):
        where = f"{source} stage {n}"
        _check_keys(where, s, STAGE_KEYS)
        if not isinstance(s.get("code"), str) or not isinstance(s.get("name_zh"), str):
            raise CaseTypeError(f"{where}: 缺少 / missing code or name_zh")
        items = []
        for m, it in enumerate(s.get("items", []), start=1):
            item = _item(f"{where} ({s['code']}) item {m}", it)
            if item.code in seen_items:
                raise CaseTypeError(f"{where}: 档案项编码重复 / duplicate item code {item.code!r}")
            seen_items.add(item.code)
            items.append(item)
        stage = Stage(code=s["code"], name_zh=s["name_zh"], name_en=s.get("name_en", s["code"]),
                      role=s.get("role", ""), time_limit_days=s.get("time_limit_days", 0), items=tuple(items))
        _validate_stage(f"{where} ({stage.code})", stage)
        if any(st.code == stage.code for st in stages):
            raise CaseTypeError(f"{where}: 环节编码重复 / duplicate stage code {stage.code!r}")
        stages.append(stage)
    if not stages:
        raise CaseTypeError(f"{source}: 没有环节 / no stages")
    return CaseType(case_type=str(raw.get("case_type", "")), version=str(raw.get("version", "")),
                    name_zh=str(raw.get("name_zh", "")), name_en=str(raw.get("name_en", "")), stages=tuple(stages))


@lru_cache(maxsize=None)
def load(case_type: str) -> CaseType:
    """The default definition of ``case_type`` (``residential``, ``enterprise`` or ``farmland``)."""
    if case_type not in CASE_TYPES:
        raise CaseTypeError(f"未知征收类型 / unknown case type {case_type!r}; types: {', '.join(CASE_TYPES)}")
    name = f"{case_type}.toml"
    raw = tomllib.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))
    ct = parse(raw, name)
    if ct.case_type != case_type:
        raise CaseTypeError(f"{name}: case_type is {ct.case_type!r}")
    return ct


def with_overrides(ct: CaseType, overrides: dict[str, Any] | None, source: str = "project.toml") -> CaseType:
    """``ct`` with a project's ``[casetypes.<type>]`` overrides applied (CaseTypeError on a bad key or code)."""
    if not overrides:
        return ct
    where = f"{source} [casetypes.{ct.case_type}]"
    _check_keys(where, overrides, {"stages", "items", "remove", "add"})
    stages = {s.code: s for s in ct.stages}
    for code, change in (overrides.get("stages") or {}).items():
        if code not in stages:
            raise CaseTypeError(f"{where}.stages: 无此环节 / no stage {code!r}")
        _check_keys(f"{where}.stages.{code}", change, STAGE_OVERRIDABLE)
        stages[code] = replace(stages[code], **change)
        _validate_stage(f"{where}.stages.{code}", stages[code])
    item_stage = {i.code: s.code for s in stages.values() for i in s.items}
    for code, change in (overrides.get("items") or {}).items():
        if code not in item_stage:
            raise CaseTypeError(f"{where}.items: 无此档案项 / no archive item {code!r}")
        _check_keys(f"{where}.items.{code}", change, ITEM_OVERRIDABLE)
        st = stages[item_stage[code]]
        items = tuple(replace(i, **change) if i.code == code else i for i in st.items)
        for i in items:
            _validate_item(f"{where}.items.{code}", i)
        stages[st.code] = replace(st, items=items)
    for code in overrides.get("remove") or []:
        if code not in item_stage:
            raise CaseTypeError(f"{where}.remove: 无此档案项 / no archive item {code!r}")
        st = stages[item_stage.pop(code)]
        stages[st.code] = replace(st, items=tuple(i for i in st.items if i.code != code))
    for n, raw in enumerate(overrides.get("add") or [], start=1):
        raw = dict(raw)
        stage_code = raw.pop("stage", None)
        if stage_code not in stages:
            raise CaseTypeError(f"{where}.add {n}: 无此环节 / no stage {stage_code!r}")
        item = _item(f"{where}.add {n}", raw)
        if item.code in item_stage:
            raise CaseTypeError(f"{where}.add {n}: 档案项编码重复 / duplicate item code {item.code!r}")
        item_stage[item.code] = stage_code
        st = stages[stage_code]
        stages[stage_code] = replace(st, items=st.items + (item,))
    return replace(ct, stages=tuple(stages[s.code] for s in ct.stages))


def for_project(case_type: str, project_casetypes: dict[str, Any] | None) -> CaseType:
    """The definition of ``case_type`` as a project uses it (its ``[casetypes]`` table applied)."""
    overrides = (project_casetypes or {}).get(case_type)
    return with_overrides(load(case_type), overrides)
