"""Supervision models (监督模型): each model is declared once, in a module of its own in this package.

A model module defines ``MODEL`` (a :class:`supervision.models.base.Model`). ``registered()`` finds
every model module here, so adding a model means adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from supervision.models.base import Model


def registered() -> list[Model]:
    """Every model declared in this package, ordered by rule code."""
    found: list[Model] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        model = getattr(module, "MODEL", None)
        if isinstance(model, Model):
            found.append(model)
    return sorted(found, key=lambda m: m.code)


def prepare_check(conn: Connection) -> None:
    """Session settings of a check, for the current transaction: JIT off (compiling the big set-based
    statements costs seconds and buys nothing for them)."""
    conn.execute(text("SET LOCAL jit = off"))


@dataclass
class CheckResult:
    """What one check found: hits per rule code, subjects each rule could not judge, notes for the user."""

    hits: dict[str, int]
    #: per rule code that can tell: subjects no measurement covers (counted, never alerted)
    not_measurable: dict[str, int] = field(default_factory=dict)
    #: flights catalogued or ingested but never measured, that the area rules would need
    unmeasured_flights: list[dict] = field(default_factory=list)


def check(conn: Connection, project_code: str) -> CheckResult:
    """Run every registered model on the project: hits, and what could not be judged (see ``CheckResult``)."""
    from supervision.projects import get_project

    from supervision import area_metrics, registry_scope

    project = get_project(conn, project_code)
    prepare_check(conn)
    try:
        hits, unmeasured = {}, {}
        for model in registered():
            hits[model.code] = model.run(conn, project)
            n = model.unmeasured(conn, project)
            if n is not None:
                unmeasured[model.code] = n
        return CheckResult(hits, unmeasured, area_metrics.unmeasured_flights(conn, project["id"]))
    finally:
        area_metrics.drop(conn)
        registry_scope.drop(conn)


def run_all(conn: Connection, project_code: str) -> dict[str, int]:
    """Run every registered model on the project; hits per rule code (``check`` also says what was not measurable)."""
    return check(conn, project_code).hits
