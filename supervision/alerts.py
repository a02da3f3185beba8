"""Alerts: one per (rule, subject), upserted by the models, exported in DATA_FORMATS.md §3."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import Connection, text

EXPORT_COLUMNS = ("rule_code", "severity", "project_code", "subject_type", "subject_key", "message", "evidence")


def record_hits(conn: Connection, project_id: int, rule_code: str, subject_type: str, default_severity: str,
                hits_sql: str, params: dict | None = None) -> int:
    """Upsert the alerts selected by ``hits_sql`` and mark the rule's other alerts as no longer firing.

    ``hits_sql`` selects ``subject_key``, ``message``, ``evidence`` (jsonb) and optionally ``severity``.
    Dispositions (state, assignee, history) of existing alerts are kept. Returns the number of hits.
    """
    params = {**(params or {}), "p": project_id, "rule": rule_code, "stype": subject_type, "sev": default_severity}
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


def export_rows(conn: Connection, project_code: str, *, include_not_firing: bool = False) -> list[dict]:
    """The project's alerts as §3 rows (firing ones unless asked), ordered by rule and subject."""
    rows = conn.execute(text(f"""
        SELECT a.rule_code, a.severity, p.code AS project_code, a.subject_type, a.subject_key, a.message, a.evidence
        FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c {'' if include_not_firing else 'AND a.firing'}
        ORDER BY a.rule_code, a.subject_key"""), {"c": project_code}).mappings().all()
    return [dict(r) for r in rows]


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


#: Which severities reach which role (clause 5.5.3: prompt the operator, alarm the management, report to
#: the discipline inspectors).
INBOX_SEVERITIES = {"field_crew": ("prompt",), "supervisor": ("internal", "report"), "inspector": ("report",),
                    "admin": ("prompt", "internal", "report"), "gis_officer": ()}


def inbox(conn: Connection, project_code: str, user) -> list[dict]:
    """The open alerts routed to ``user``: field crew get the prompts on their assigned households (and
    whatever is assigned to them), supervisors the internal alarms and reports, inspectors the reports."""
    severities = list(INBOX_SEVERITIES.get(user.role, ()))
    crew = user.role == "field_crew"
    rows = conn.execute(text("""
        SELECT a.id, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message, a.state, a.firing
        FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c AND a.state NOT IN ('closed') AND (a.firing OR a.state <> 'new')
          AND (
            (a.severity = ANY(:sev) AND (:crew = false OR EXISTS (
                SELECT 1 FROM alert_household ah JOIN assignment s ON s.household_id = ah.household_id
                WHERE ah.alert_id = a.id AND s.user_id = :uid)))
            OR a.assignee_user_id = :uid)
        ORDER BY CASE a.severity WHEN 'report' THEN 0 WHEN 'internal' THEN 1 ELSE 2 END, a.rule_code, a.subject_key"""),
        {"c": project_code, "sev": severities, "crew": crew, "uid": user.id}).mappings().all()
    return [dict(r) for r in rows]


def alerts_geojson(conn: Connection, project_id: int, user) -> dict:
    """Firing or open alerts as WGS84 points (building, parcel or photo location; else the household's parcels),
    for the map; a field crew member gets only the prompts of their assigned households."""
    crew = user.role == "field_crew"
    row = conn.execute(text("""
        WITH a AS (
            SELECT a.* FROM alert a
            WHERE a.project_id = :p AND (a.firing OR a.state NOT IN ('new', 'closed'))
              AND (:crew = false OR (a.severity = 'prompt' AND EXISTS (
                  SELECT 1 FROM alert_household ah JOIN assignment s ON s.household_id = ah.household_id
                  WHERE ah.alert_id = a.id AND s.user_id = :uid)))),
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
        SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(json_build_object(
            'type', 'Feature', 'geometry', ST_AsGeoJSON(ST_Transform(l.geom, 4326), 7)::json,
            'properties', json_build_object('id', a.id, 'rule_code', a.rule_code, 'severity', a.severity,
                                            'subject_key', a.subject_key, 'message', a.message, 'state', a.state))
            ORDER BY a.id), '[]'::json))
        FROM a JOIN located l ON l.id = a.id WHERE l.geom IS NOT NULL"""),
        {"p": project_id, "crew": crew, "uid": user.id}).scalar_one()
    return row
