"""Supervision models (监督模型): each model is declared once, in a module of its own in this package.

A model module defines ``MODEL`` (a :class:`supervision.models.base.Model`). ``registered()`` finds
every model module here, so adding a model means adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

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


def run_all(conn: Connection, project_code: str) -> dict[str, int]:
    """Run every registered model on the project; hits per rule code."""
    from supervision.projects import get_project

    from supervision import area_metrics, registry_scope

    project = get_project(conn, project_code)
    prepare_check(conn)
    try:
        return {model.code: model.run(conn, project) for model in registered()}
    finally:
        area_metrics.drop(conn)
        registry_scope.drop(conn)
