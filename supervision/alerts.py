"""Alerts: one per (rule, subject), upserted by the models; every query of them (lists, detail, inbox, map,
export, statistics) lives here, scoped and masked by ``supervision.policy`` for the user who asks."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text

from supervision import policy
from supervision.accounts import User
from supervision.errors import SupervisionError

EXPORT_COLUMNS = ("rule_code", "severity", "project_code", "subject_type", "subject_key", "message", "evidence")


@dataclass(frozen=True)
class CaseScope:
    """A check run on one case: the household and its subject keys per subject type."""

    project_id: int
    household_no: str
    keys: dict[str, list[str]]


_SCOPE_KEY = "expro_case_scope"


def case_scope(conn: Connection) -> CaseScope | None:
    """The case a check on ``conn`` is limited to (``supervision.case_check``), or None for the whole project."""
    scope = conn.info.get(_SCOPE_KEY)
    return scope if isinstance(scope, CaseScope) else None


def scope_params(scope: CaseScope | None, subject_type: str) -> dict:
    """The bound parameters through which a model's SQL limits itself to one case (all NULL in a batch check):
    ``scope_keys`` (the case's keys of ``subject_type``), ``scope_hh`` (its household number) and
    ``scope_parcels`` (the parcel codes of its parcels and buildings). See ``supervision.models.base.in_scope``."""
    if scope is None:
        return {"scope_keys": None, "scope_hh": None, "scope_parcels": None}
    parcels = set(scope.keys.get("parcel", []))
    for key in scope.keys.get("building", []):        # "parcel_code/building_no": every split, codes may hold "/"
        parts = key.split("/")
        parcels.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return {"scope_keys": list(scope.keys.get(subject_type, [])), "scope_hh": scope.household_no,
            "scope_parcels": sorted(parcels)}


def set_case_scope(conn: Connection, scope: CaseScope | None) -> None:
    """Limit the checks run on ``conn`` to one case (None: the whole project again)."""
    if scope is None:
        conn.info.pop(_SCOPE_KEY, None)
    else:
        conn.info[_SCOPE_KEY] = scope


def record_hits(conn: Connection, project_id: int, rule_code: str, subject_type: str, default_severity: str,
                hits_sql: str, params: dict | None = None) -> int:
    """Upsert the alerts selected by ``hits_sql`` and mark the rule's other alerts as no longer firing.

    ``hits_sql`` selects ``subject_key``, ``message``, ``evidence`` (jsonb) and optionally ``severity``.
    Dispositions (state, assignee, history) of existing alerts are kept. Returns the number of hits.
    """
    scope = case_scope(conn)
    params = {**(params or {}), "p": project_id, "rule": rule_code, "stype": subject_type, "sev": default_severity,
              **scope_params(scope, subject_type)}
    if scope is not None:
        return _record_case_hits(conn, scope, hits_sql, params)
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.expro_hits"))
    conn.execute(text(f"CREATE TEMP TABLE expro_hits AS SELECT * FROM ({hits_sql}) h"), params)
    # The "no longer firing" anti-join below probes the hits once per alert of the rule. On a project's
    # first big check the alert table's statistics do not know its new alerts yet, the planner expects
    # one and picks a nested loop: with an index on the hits that stays n·log n, not n².
    conn.execute(text("CREATE INDEX ON pg_temp.expro_hits (subject_key)"))
    conn.execute(text("ANALYZE pg_temp.expro_hits"))
    has_severity = conn.execute(text(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'pg_temp.expro_hits'::regclass AND attname = 'severity'"
    )).scalar_one() > 0
    severity = "COALESCE(h.severity, :sev)" if has_severity else ":sev"
    hits = conn.execute(text(f"""
        WITH up AS (
            INSERT INTO alert AS a (project_id, rule_code, severity, subject_type, subject_key, message, evidence,
                                    firing, first_seen_at, last_seen_at)
            SELECT :p, :rule, {severity}, :stype, h.subject_key, h.message, h.evidence, true, now(), now()
            FROM expro_hits h
            ON CONFLICT (project_id, rule_code, subject_type, subject_key) DO UPDATE
               SET severity = EXCLUDED.severity, message = EXCLUDED.message, evidence = EXCLUDED.evidence,
                   firing = true, last_seen_at = now()
            RETURNING 1)
        SELECT count(*) FROM up"""), params).scalar_one()
    conn.execute(text("""
        UPDATE alert a SET firing = false
        WHERE a.project_id = :p AND a.rule_code = :rule AND a.firing
          AND NOT EXISTS (SELECT 1 FROM expro_hits h WHERE h.subject_key = a.subject_key)"""), params)
    conn.execute(text("DROP TABLE pg_temp.expro_hits"))
    return int(hits)


#: per model query text: whether it selects a ``severity`` column (asked of the database once per process)
_HAS_SEVERITY: dict[str, bool] = {}


def _record_case_hits(conn: Connection, scope: CaseScope, hits_sql: str, params: dict) -> int:
    """``record_hits`` for a check on one case: the same upsert limited to the case's subjects, in one
    statement without temporary tables (a request may run many such checks in one transaction)."""
    scoped = f"SELECT * FROM ({hits_sql}) scoped WHERE scoped.subject_key = ANY(CAST(:scope_keys AS text[]))"
    if hits_sql not in _HAS_SEVERITY:
        columns = conn.execute(text(f"SELECT * FROM ({scoped}) probe LIMIT 0"), params).keys()
        _HAS_SEVERITY[hits_sql] = "severity" in columns
    severity = "COALESCE(h.severity, :sev)" if _HAS_SEVERITY[hits_sql] else ":sev"
    return int(conn.execute(text(f"""
        WITH h AS MATERIALIZED ({scoped}),
        up AS (
            INSERT INTO alert AS a (project_id, rule_code, severity, subject_type, subject_key, message, evidence,
                                    firing, first_seen_at, last_seen_at)
            SELECT :p, :rule, {severity}, :stype, h.subject_key, h.message, h.evidence, true, now(), now() FROM h
            ON CONFLICT (project_id, rule_code, subject_type, subject_key) DO UPDATE
               SET severity = EXCLUDED.severity, message = EXCLUDED.message, evidence = EXCLUDED.evidence,
                   firing = true, last_seen_at = now()
            RETURNING 1),
        gone AS (
            UPDATE alert a SET firing = false
            WHERE a.project_id = :p AND a.rule_code = :rule AND a.firing
              AND a.subject_key = ANY(CAST(:scope_keys AS text[]))
              AND NOT EXISTS (SELECT 1 FROM h WHERE h.subject_key = a.subject_key)
            RETURNING 1)
        SELECT (SELECT count(*) FROM up) + 0 * (SELECT count(*) FROM gone)"""), params).scalar_one())


def export_rows(conn: Connection, project_code: str, *, include_not_firing: bool = False,
                user: User | None = None) -> list[dict]:
    """The project's alerts as §3 rows (firing ones unless asked), ordered by rule and subject; with ``user``,
    only those they may see, masked as the policy says (without: the database owner's full export)."""
    cond, params = _scope(user)
    rows = conn.execute(text(f"""
        SELECT a.rule_code, a.severity, p.code AS project_code, a.subject_type, a.subject_key, a.message, a.evidence
        FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c {'' if include_not_firing else 'AND a.firing'} AND {cond}
        ORDER BY a.rule_code, a.subject_key"""), {**params, "c": project_code}).mappings().all()
    out = [dict(r) for r in rows]
    return out if user is None else policy.mask_alerts(out, user)


def write_export(rows: list[dict], path: Path, fmt: str) -> None:
    """Write §3 rows as CSV (evidence as a JSON string) or as a JSON list."""
    if fmt == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        return
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_COLUMNS)
        for r in rows:
            writer.writerow([r["rule_code"], r["severity"], r["project_code"], r["subject_type"], r["subject_key"],
                             r["message"], json.dumps(r["evidence"], ensure_ascii=False, sort_keys=True)])




class AlertNotFoundError(SupervisionError, LookupError):
    """No alert has this id (or the user may not see it)."""


_LIST_COLUMNS = """a.id, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message, a.state, a.verdict,
    a.firing, u.username AS assignee"""


def _scope(user: User | None) -> tuple[str, dict]:
    """The policy's visibility condition for ``user`` (None: the database owner at the command line sees all)."""
    return ("true", {}) if user is None else policy.alert_visible_sql(user, "a")


def _without_evidence(rows: list[dict], user: User | None) -> list[dict]:
    """Masked rows without the evidence the masking needed (lists do not carry it)."""
    masked = rows if user is None else policy.mask_alerts(rows, user)
    return [{k: v for k, v in r.items() if k != "evidence"} for r in masked]


def list_alerts(conn: Connection, project_code: str, user: User | None, *, state: str | None = None,
                rule: str | None = None, limit: int | None = 500) -> list[dict]:
    """The project's alerts that ``user`` may see (optionally in one state, of one rule), masked; None: all."""
    cond, params = _scope(user)
    rows = conn.execute(text(f"""
        SELECT {_LIST_COLUMNS}, a.evidence
        FROM alert a JOIN project p ON p.id = a.project_id LEFT JOIN app_user u ON u.id = a.assignee_user_id
        WHERE p.code = :c AND (CAST(:s AS text) IS NULL OR a.state = :s) AND (CAST(:r AS text) IS NULL OR a.rule_code = :r)
          AND {cond}
        ORDER BY a.rule_code, a.subject_key LIMIT :lim"""),
        {**params, "c": project_code, "s": state, "r": rule, "lim": limit}).mappings().all()
    return _without_evidence([dict(r) for r in rows], user)


def get_alert(conn: Connection, alert_id: int, user: User) -> dict:
    """One alert with its evidence and history, as ``user`` may see it (AlertNotFoundError otherwise)."""
    cond, params = policy.alert_visible_sql(user, "a")
    row = conn.execute(text(f"""
        SELECT a.id, p.code AS project_code, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message,
               a.evidence, a.state, a.verdict, a.firing, u.username AS assignee, a.amount_recovered_yuan,
               a.first_seen_at, a.last_seen_at
        FROM alert a JOIN project p ON p.id = a.project_id LEFT JOIN app_user u ON u.id = a.assignee_user_id
        WHERE a.id = :i AND {cond}"""), {**params, "i": alert_id}).mappings().one_or_none()
    if row is None:
        raise AlertNotFoundError(f"预警 {alert_id} 不存在或无权查看 / no alert {alert_id}")
    alert = dict(row)
    alert["history"] = history(conn, alert_id)
    return policy.mask_alert(alert, user)


def history(conn: Connection, alert_id: int) -> list[dict]:
    """Every step taken on the alert, oldest first (unmasked: callers go through :func:`get_alert`)."""
    rows = conn.execute(text("""
        SELECT e.from_state, e.to_state, u.username, u.name, e.opinion, e.acted_on, e.attachments, e.created_at
        FROM alert_event e LEFT JOIN app_user u ON u.id = e.user_id WHERE e.alert_id = :i ORDER BY e.id"""),
                        {"i": alert_id}).mappings().all()
    return [dict(r) for r in rows]


def inbox(conn: Connection, project_code: str, user: User) -> list[dict]:
    """The open alerts routed to ``user``: of those they may see, the severities of their role's inbox
    (prompt → the field crew of the household, internal → supervisors, report → inspectors) and whatever is
    assigned to them; masked."""
    cond, params = policy.alert_visible_sql(user, "a")
    rows = conn.execute(text(f"""
        SELECT a.id, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message, a.state, a.firing, a.evidence
        FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c AND a.state NOT IN ('closed') AND (a.firing OR a.state <> 'new') AND {cond}
          AND (a.severity = ANY(:sev) OR a.assignee_user_id = :uid)
        ORDER BY CASE a.severity WHEN 'report' THEN 0 WHEN 'internal' THEN 1 ELSE 2 END, a.rule_code, a.subject_key"""),
        {**params, "c": project_code, "sev": policy.inbox_severities(user), "uid": user.id}).mappings().all()
    return _without_evidence([dict(r) for r in rows], user)


def alerts_geojson(conn: Connection, project_id: int, user: User) -> dict:
    """The firing or open alerts ``user`` may see as WGS84 points (building, parcel or photo location; else the
    household's parcels), for the map; masked."""
    cond, params = policy.alert_visible_sql(user, "a")
    rows = conn.execute(text(f"""
        WITH a AS (
            SELECT a.* FROM alert a
            WHERE a.project_id = :p AND (a.firing OR a.state NOT IN ('new', 'closed')) AND {cond}),
        located AS (
            SELECT a.id, COALESCE(
                (SELECT ST_PointOnSurface(b.geom) FROM building b WHERE a.subject_type = 'building'
                   AND b.project_id = a.project_id AND b.parcel_code || '/' || b.building_no = a.subject_key),
                (SELECT ST_PointOnSurface(pa.geom) FROM parcel pa WHERE a.subject_type = 'parcel'
                   AND pa.project_id = a.project_id AND pa.parcel_code = a.subject_key),
                (SELECT f.geom FROM field_photo f WHERE a.subject_type = 'photo'
                   AND f.project_id = a.project_id AND f.photo_id = a.subject_key),
                (SELECT ST_PointOnSurface(ST_Union(pa.geom)) FROM alert_household ah
                   JOIN household h ON h.id = ah.household_id
                   JOIN parcel pa ON pa.project_id = h.project_id AND pa.household_no = h.household_no
                                 AND pa.land_class = 'homestead'
                   WHERE ah.alert_id = a.id)) AS geom
            FROM a)
        SELECT a.id, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message, a.state, a.evidence,
               ST_AsGeoJSON(ST_Transform(l.geom, 4326), 7)::json AS geometry
        FROM a JOIN located l ON l.id = a.id WHERE l.geom IS NOT NULL ORDER BY a.id"""),
        {**params, "p": project_id}).mappings().all()
    features = []
    for r in policy.mask_alerts([dict(r) for r in rows], user):
        props = {k: r[k] for k in ("id", "rule_code", "severity", "subject_key", "message", "state")}
        features.append({"type": "Feature", "geometry": r["geometry"], "properties": props})
    return {"type": "FeatureCollection", "features": features}


def statistics(conn: Connection, project_code: str) -> list[dict]:
    """Per rule: alerts by state, confirmed, unfounded, hit rate = confirmed ÷ (confirmed + unfounded), recovered."""
    rows = conn.execute(text("""
        SELECT a.rule_code, count(*) AS alerts, count(*) FILTER (WHERE a.firing) AS firing,
               count(*) FILTER (WHERE a.verdict = 'confirmed') AS confirmed,
               count(*) FILTER (WHERE a.verdict = 'unfounded') AS unfounded,
               sum(a.amount_recovered_yuan) AS recovered_yuan
        FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c GROUP BY a.rule_code ORDER BY a.rule_code"""),
                        {"c": project_code}).mappings().all()
    states = conn.execute(text("""
        SELECT a.rule_code, a.state, count(*) AS n FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c GROUP BY a.rule_code, a.state"""), {"c": project_code}).all()
    by_rule: dict[str, dict[str, int]] = {}
    for s in states:
        by_rule.setdefault(s.rule_code, {})[s.state] = s.n
    out = []
    for r in rows:
        decided = r["confirmed"] + r["unfounded"]
        out.append({"rule_code": r["rule_code"], "alerts": r["alerts"], "firing": r["firing"],
                    "by_state": by_rule.get(r["rule_code"], {}), "confirmed": r["confirmed"],
                    "unfounded": r["unfounded"], "hit_rate": (r["confirmed"] / decided) if decided else None,
                    "recovered_yuan": r["recovered_yuan"]})
    return out
