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
    #: how many subjects the model could not judge on the project (no measurement covers them), if it can tell
    unmeasured_fn: Callable[[Connection, dict], int] | None = None

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

    def unmeasured(self, conn: Connection, project: dict) -> int | None:
        """Subjects this model could not judge on ``project`` (None: the model always can)."""
        return None if self.unmeasured_fn is None else self.unmeasured_fn(conn, project)


def in_scope(expr: str) -> str:
    """SQL true in a batch check and, in a check on one case, only where ``expr`` is one of the case's subject
    keys of the model's type (``supervision.alerts.scope_params``): put it on the base rows of a model's query so
    that the check of one case reads that case's rows, not the project's. The NULL test folds away at planning."""
    return f"(CAST(:scope_keys AS text[]) IS NULL OR {expr} = ANY(CAST(:scope_keys AS text[])))"


def in_scope_household(expr: str) -> str:
    """SQL true in a batch check and, in a check on one case, only where ``expr`` is the case's household number."""
    return f"(CAST(:scope_hh AS text) IS NULL OR {expr} = CAST(:scope_hh AS text))"


def in_scope_parcels(expr: str) -> str:
    """SQL true in a batch check and, in a check on one case, only where ``expr`` (a parcel code) is one of the
    parcels of the case's parcels and buildings: an indexed first cut where the subject key is composite."""
    return f"(CAST(:scope_parcels AS text[]) IS NULL OR {expr} = ANY(CAST(:scope_parcels AS text[])))"


def sql_rule(code: str, *, dimension: str, subject_type: str, severity: str, title_zh: str, sql: str,
             thresholds: dict | None = None, registry: bool = False,
             after: Callable[[Connection, dict], None] | None = None) -> Model:
    """A model whose hits are one SQL statement over the project.

    ``sql`` selects ``subject_key``, ``message``, ``evidence`` (and optionally ``severity``); it may use
    the parameters ``:p`` (project id), ``:freeze`` (the pre-announcement date) and every threshold by
    name. With ``registry``, ``pg_temp.expro_reg`` (see ``supervision.registry_scope``) is available. Its
    base rows carry :func:`in_scope` (or a sibling) so that a check on one case reads only that case's rows.
    """
    def run(conn: Connection, project: dict, th: dict) -> int:
        from supervision import registry_scope
        from supervision.alerts import record_hits

        if registry:
            registry_scope.ensure(conn, project)
        params = {"freeze": project["pre_announcement_date"], **th}
        hits = record_hits(conn, project["id"], code, subject_type, severity, sql, params)
        if after is not None and hits:
            after(conn, project)
        return hits

    return Model(code=code, dimension=dimension, subject_type=subject_type, severity=severity, title_zh=title_zh,
                 thresholds=thresholds or {}, run_fn=run)
