"""The declaration of a supervision model: code, five-dimension category, subject, severity, query."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

DIMENSIONS = ("time", "space", "qualification", "numeric", "effect")
SEVERITIES = ("prompt", "internal", "report")
SUBJECT_TYPES = ("building", "claim", "person", "household", "payment", "parcel", "photo")


@dataclass(frozen=True)
class Model:
    """One supervision model (监督模型) and the rule code its alerts carry."""

    code: str
    dimension: str
    subject_type: str
    severity: str
    title_zh: str
    thresholds: dict = field(default_factory=dict)
    run_fn: Callable[[Connection, dict, dict], int] | None = None

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"{self.code}: unknown dimension {self.dimension!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.code}: unknown severity {self.severity!r}")
        if self.subject_type not in SUBJECT_TYPES:
            raise ValueError(f"{self.code}: unknown subject type {self.subject_type!r}")

    def run(self, conn: Connection, project: dict) -> int:
        """Run the model on ``project`` with its thresholds (overridden by the project's [rules]); hits."""
        if self.run_fn is None:
            raise NotImplementedError(f"{self.code} has no query")
        overrides = (project.get("rules") or {}).get(self.code, {})
        return self.run_fn(conn, project, {**self.thresholds, **overrides})
