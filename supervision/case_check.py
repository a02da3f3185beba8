"""Checks at the moment of entry (clause 5.5.3, 事前、事中): the models run on one case alone.

When a quantity is recorded, a capture stored, a stage submitted or a payment made, every registered model
runs limited to the subjects of that case's household (``expro_household_subjects``): the same SQL as the
batch ``expro check``, so both give the same alerts; alerts on the rest of the project are left untouched.
The caller gets the case's firing alerts back in the same request: the prompts the app shows at once, and
the internal and report alerts that are routed to supervisors and inspectors as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from supervision import alerts, area_metrics, policy, registry_scope
from supervision.accounts import User
from supervision.models import prepare_check, registered


@dataclass
class CaseCheck:
    """The outcome of a check on one case: its firing alerts, split by how they are routed."""

    household_no: str
    prompts: list[dict] = field(default_factory=list)
    routed: dict[str, int] = field(default_factory=dict)      # internal / report: how many, not what
    rules_run: int = 0

    def as_dict(self) -> dict:
        """The JSON form the API returns."""
        return {"household_no": self.household_no, "prompts": self.prompts, "routed": self.routed,
                "rules_run": self.rules_run}


def subject_keys(conn: Connection, project_id: int, household_no: str) -> dict[str, list[str]]:
    """The household's subjects per subject type (buildings, claims, people, payments, parcels, photos)."""
    rows = conn.execute(text("SELECT subject_type, array_agg(subject_key ORDER BY subject_key) "
                             "FROM expro_household_subjects(:p, :h) GROUP BY subject_type"),
                        {"p": project_id, "h": household_no})
    return {str(t): list(keys) for t, keys in rows}


def run_models(conn: Connection, project: dict, household_no: str,
               keys: dict[str, list[str]] | None = None) -> int:
    """Run every registered model on the case's subjects (``keys``: found when not given); how many ran."""
    keys = subject_keys(conn, project["id"], household_no) if keys is None else keys
    alerts.set_case_scope(conn, alerts.CaseScope(project["id"], household_no, keys))
    prepare_check(conn)
    ran = 0
    try:
        for model in registered():
            if keys.get(model.subject_type):
                model.run(conn, project)
                ran += 1
    finally:
        alerts.set_case_scope(conn, None)
        area_metrics.drop(conn)
        registry_scope.drop(conn)
    return ran


def firing(conn: Connection, project_id: int, keys: dict[str, list[str]]) -> list[dict]:
    """The firing alerts on the subjects ``keys`` (per subject type) of one household."""
    pairs = [(t, k) for t, ks in keys.items() for k in ks]
    rows = conn.execute(text("""
        SELECT a.id, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message, a.evidence, a.state
        FROM alert a JOIN unnest(CAST(:types AS text[]), CAST(:keys AS text[])) AS s(subject_type, subject_key)
             ON s.subject_type = a.subject_type AND s.subject_key = a.subject_key
        WHERE a.project_id = :p AND a.firing ORDER BY a.rule_code, a.subject_key"""),
        {"p": project_id, "types": [t for t, _ in pairs], "keys": [k for _, k in pairs]}).mappings()
    return [dict(r) for r in rows]


def check_case(conn: Connection, project: dict, household_no: str, user: User) -> CaseCheck:
    """Run the models on one case and say what fires: prompts in full (masked for ``user``), the rest counted."""
    keys = subject_keys(conn, project["id"], household_no)     # once: the models and the answer use them
    ran = run_models(conn, project, household_no, keys)
    out = CaseCheck(household_no, rules_run=ran)
    for alert in firing(conn, project["id"], keys):
        if alert["severity"] == "prompt":
            out.prompts.append(policy.mask_alert(alert, user))
        else:
            out.routed[alert["severity"]] = out.routed.get(alert["severity"], 0) + 1
    return out
