"""The proposed changes, applied to the unchanged product code inside the benchmark process only.

* SQL: ``sql/variants.sql`` creates the rewrites of ``expro_building_area_metrics`` (set-based, one
  parallel join for both phases, fast path for a covering footprint) and ``expro_parcel_inside_scope``
  (prepared ``ST_Covers`` once per parcel) in the scratch schema ``bench_scratch`` under the product's
  names; ``activate`` puts that schema first on the search path and turns JIT off for the session.
* ``supervision.alerts.record_hits``: the statement that marks the rule's other alerts as no longer
  firing uses ``NOT IN (SELECT subject_key FROM expro_hits)`` (a hashed subplan, linear) instead of
  ``NOT EXISTS`` (planned as a nested-loop anti-join, quadratic, while the alert table's statistics
  do not yet know the project's alerts, i.e. on every first check of a large project).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text

from supervision import alerts

VARIANTS_SQL = Path(__file__).resolve().parent / "sql" / "variants.sql"
_original_record_hits = alerts.record_hits


def create_variants(conn: Connection) -> None:
    """Create the scratch schema and the candidate functions (the caller commits)."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(VARIANTS_SQL.read_text(encoding="utf-8"))
    finally:
        cursor.close()


def drop_variants(conn: Connection) -> None:
    """Drop the scratch schema."""
    conn.execute(text("DROP SCHEMA IF EXISTS bench_scratch CASCADE"))


def record_hits(conn: Connection, project_id: int, rule_code: str, subject_type: str, default_severity: str,
                hits_sql: str, params: dict | None = None) -> int:
    """``supervision.alerts.record_hits`` with the linear "no longer firing" update."""
    params = {**(params or {}), "p": project_id, "rule": rule_code, "stype": subject_type, "sev": default_severity}
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.expro_hits"))
    conn.execute(text(f"CREATE TEMP TABLE expro_hits AS SELECT * FROM ({hits_sql}) h"), params)
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
          AND a.subject_key NOT IN (SELECT h.subject_key FROM expro_hits h WHERE h.subject_key IS NOT NULL)"""),
        params)
    conn.execute(text("DROP TABLE pg_temp.expro_hits"))
    return int(hits)


def activate(conn: Connection, modules: tuple) -> None:
    """Use the proposals on ``conn`` and in the given model modules (which imported record_hits by name)."""
    conn.execute(text("SET search_path = bench_scratch, public"))
    conn.execute(text("SET jit = off"))
    for module in modules:
        module.record_hits = record_hits
