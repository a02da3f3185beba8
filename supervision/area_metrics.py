"""The per-building area figures shared by the area rules, computed once per check in PostGIS."""

from __future__ import annotations

from sqlalchemy import Connection, text

from gis_core.tolerance import Tolerance

TABLE = "expro_area_metrics"


def footprint_source(conn: Connection, project_id: int, phase: str) -> str:
    """'survey' when the project has surveyed footprints for ``phase``, else 'imagery'."""
    has_survey = conn.execute(text("SELECT EXISTS (SELECT 1 FROM footprint WHERE project_id = :p AND phase = :ph "
                                   "AND source = 'survey')"), {"p": project_id, "ph": phase}).scalar_one()
    return "survey" if has_survey else "imagery"


def ensure(conn: Connection, project: dict) -> Tolerance:
    """Materialise ``pg_temp.expro_area_metrics`` for ``project`` (once per transaction); its tolerance."""
    tolerance = Tolerance.from_config(project.get("tolerance"))
    exists = conn.execute(text(f"SELECT to_regclass('pg_temp.{TABLE}') IS NOT NULL")).scalar_one()
    if exists:
        cached = conn.execute(text(f"SELECT project_id FROM pg_temp.{TABLE}_meta")).scalar()
        if cached == project["id"]:
            return tolerance
        drop(conn)
    base_src = footprint_source(conn, project["id"], "baseline")
    after_src = footprint_source(conn, project["id"], "after")
    conn.execute(text(f"""
        CREATE TEMP TABLE {TABLE} AS
        SELECT m.*, :base_src AS baseline_source, :after_src AS after_source
        FROM expro_building_area_metrics(:p, :a, :b, :k, :base_src, :after_src) m"""),
        {"p": project["id"], "a": tolerance.a, "b": tolerance.b, "k": tolerance.resolution_k,
         "base_src": base_src, "after_src": after_src})
    conn.execute(text(f"CREATE INDEX ON pg_temp.{TABLE} (building_id)"))
    conn.execute(text(f"CREATE TEMP TABLE {TABLE}_meta AS SELECT CAST(:p AS bigint) AS project_id"),
                 {"p": project["id"]})
    conn.execute(text(f"ANALYZE pg_temp.{TABLE}"))
    return tolerance


def drop(conn: Connection) -> None:
    """Forget the materialised figures (after a check, or when the data changed)."""
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TABLE}"))
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TABLE}_meta"))
