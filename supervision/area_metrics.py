"""The per-building area figures shared by the area rules, computed once per check in PostGIS."""

from __future__ import annotations

from sqlalchemy import Connection, text

from gis_core.tolerance import Tolerance

TABLE = "expro_area_metrics"


def footprint_source(conn: Connection, project_id: int, phase: str) -> str:
    """'survey' when the project has surveyed footprints for ``phase``, else 'imagery'."""
    # ORDER BY footprint_id (in a scalar subquery: EXISTS drops it): the unique index (project_id, phase,
    # source, footprint_id) gives the first row at once, where the planner would otherwise scan the table
    # from its start, behind every row of the other phase
    has_survey = conn.execute(text("SELECT (SELECT footprint_id FROM footprint WHERE project_id = :p AND phase = :ph "
                                   "AND source = 'survey' ORDER BY footprint_id LIMIT 1) IS NOT NULL"),
                              {"p": project_id, "ph": phase}).scalar_one()
    return "survey" if has_survey else "imagery"


#: The flights whose footprints were measured, per phase: ingested, and measured (imagery footprints from
#: them, or a measurement recorded that found none). Their valid extents are where imagery measures a phase.
MEASURED_FLIGHTS_SQL = """
    SELECT o.id, o.phase, o.footprint FROM orthophoto o
    WHERE o.project_id = :p AND o.status = 'ingested' AND o.footprint IS NOT NULL
      AND (o.ingest ? 'footprints_measured_at'
           OR EXISTS (SELECT 1 FROM footprint f WHERE f.orthophoto_id = o.id AND f.source = 'imagery'))"""


def _measured_sql(phase: str, source: str) -> str:
    """Whether a phase's measurement covers building ``b``: a survey layer covers the whole project (the
    package declares it the measurement of every building); imagery covers what its measured flights show."""
    if source == "survey":
        return "true"
    return f"COALESCE(ST_Covers(x.{phase}_extent, b.geom), false)"


def _confidence_sql(sources: dict[str, str]) -> tuple[str, str]:
    """Columns ``baseline_confidence`` and ``after_confidence`` (the area-weighted mean confidence of the imagery
    footprints that overlap the outline; a footprint without one counts as 0; NULL where none overlaps or the
    phase is surveyed) and the join computing them."""
    phases = [ph for ph, src in sources.items() if src == "imagery"]
    if not phases:
        return "NULL::double precision AS baseline_confidence, NULL::double precision AS after_confidence", ""
    cols = ", ".join(f"fc.{ph}_confidence" if ph in phases else f"NULL::double precision AS {ph}_confidence"
                     for ph in ("baseline", "after"))
    aggs = ", ".join(f"sum(fc.w * fc.c) FILTER (WHERE fc.phase = '{ph}') "
                     f"/ NULLIF(sum(fc.w) FILTER (WHERE fc.phase = '{ph}'), 0) AS {ph}_confidence" for ph in phases)
    join = f"""LEFT JOIN (
            SELECT fc.bid, {aggs}
            FROM (SELECT b.id AS bid, f.phase, COALESCE(f.confidence, 0) AS c,
                         ST_Area(ST_Intersection(f.geom, b.geom)) AS w
                  FROM building b JOIN footprint f ON f.geom && b.geom
                  WHERE b.project_id = :p AND f.project_id = :p AND f.source = 'imagery'
                    AND (CAST(:ids AS bigint[]) IS NULL OR b.id = ANY(CAST(:ids AS bigint[])))
                    AND f.phase IN ({", ".join(f"'{ph}'" for ph in phases)})
                    AND ST_Intersects(f.geom, b.geom)) fc
            GROUP BY fc.bid) fc ON fc.bid = m.building_id"""
    return cols, join


def ensure(conn: Connection, project: dict) -> Tolerance:
    """Materialise ``pg_temp.expro_area_metrics`` for ``project`` (once per transaction); its tolerance.

    Besides the figures of ``expro_building_area_metrics``, each building says whether a baseline and an
    after measurement cover it (``baseline_measured``, ``after_measured``): where none does, the area
    rules cannot judge it (nothing measured is not "nothing there") and count it as not measurable; and how
    sure the imagery extractor was of the footprints it measured on it (``baseline_confidence``,
    ``after_confidence``, see ``_confidence_sql``): a rule judges a phase only at or above its
    ``min_footprint_confidence``.
    """
    from supervision.alerts import case_scope

    tolerance = Tolerance.from_config(project.get("tolerance"))
    scope = case_scope(conn)
    scope_key = f"{project['id']}" if scope is None else f"{project['id']}:{scope.household_no}"
    exists = conn.execute(text(f"SELECT to_regclass('pg_temp.{TABLE}') IS NOT NULL")).scalar_one()
    if exists:
        cached = conn.execute(text(f"SELECT scope_key FROM pg_temp.{TABLE}_meta")).scalar()
        if cached == scope_key:
            return tolerance
        drop(conn)
    ids = None if scope is None else _building_ids(conn, project["id"], scope.keys.get("building", []))
    base_src = footprint_source(conn, project["id"], "baseline")
    after_src = footprint_source(conn, project["id"], "after")
    confidence, confidence_join = _confidence_sql({"baseline": base_src, "after": after_src})
    if base_src == after_src == "survey":      # the common case: no per-building coverage test at all
        measured, join = "true AS baseline_measured, true AS after_measured", ""
    else:
        measured = (f"{_measured_sql('baseline', base_src)} AS baseline_measured, "
                    f"{_measured_sql('after', after_src)} AS after_measured")
        join = """JOIN building b ON b.id = m.building_id CROSS JOIN (
            SELECT ST_Union(mf.footprint) FILTER (WHERE mf.phase = 'baseline') AS baseline_extent,
                   ST_Union(mf.footprint) FILTER (WHERE mf.phase = 'after') AS after_extent
            FROM measured_flights mf) x"""
    conn.execute(text(f"""
        CREATE TEMP TABLE {TABLE} AS
        WITH measured_flights AS MATERIALIZED ({MEASURED_FLIGHTS_SQL})
        SELECT m.*, :base_src AS baseline_source, :after_src AS after_source, {measured}, {confidence}
        FROM expro_building_area_metrics(:p, :a, :b, :k, :base_src, :after_src, 3.0, CAST(:ids AS bigint[])) m
        {join} {confidence_join}"""),
        {"p": project["id"], "a": tolerance.a, "b": tolerance.b, "k": tolerance.resolution_k,
         "base_src": base_src, "after_src": after_src, "ids": ids})
    conn.execute(text(f"CREATE INDEX ON pg_temp.{TABLE} (building_id)"))
    conn.execute(text(f"CREATE TEMP TABLE {TABLE}_meta AS SELECT CAST(:k AS text) AS scope_key"), {"k": scope_key})
    conn.execute(text(f"ANALYZE pg_temp.{TABLE}"))
    return tolerance


def _building_ids(conn: Connection, project_id: int, keys: list[str]) -> list[int]:
    """The ids of the buildings ``keys`` ("parcel_code/building_no"; a parcel code may itself hold "/")."""
    prefixes = sorted({"/".join(k.split("/")[:i]) for k in keys for i in range(1, k.count("/") + 1)})
    return list(conn.execute(text(
        "SELECT id FROM building WHERE project_id = :p AND parcel_code = ANY(:prefixes) "
        "AND parcel_code || '/' || building_no = ANY(:keys)"),
        {"p": project_id, "prefixes": prefixes, "keys": keys}).scalars())


def not_measurable(conn: Connection, project: dict, phase: str, *, paid_only: bool = False,
                   min_confidence: float = 0.0) -> int:
    """Buildings (``paid_only``: of paid households) that no ``phase`` measurement covers, or whose imagery
    footprints of that phase are less sure than ``min_confidence``."""
    ensure(conn, project)
    paid = """AND EXISTS (SELECT 1 FROM claim c JOIN payment p ON p.household_id = c.household_id
                          WHERE c.building_id = m.building_id AND c.item_kind = 'building')""" if paid_only else ""
    return int(conn.execute(text(f"""SELECT count(*) FROM pg_temp.{TABLE} m
                                     WHERE (NOT m.{phase}_measured OR m.{phase}_confidence < :c) {paid}"""),
                            {"c": min_confidence}).scalar_one())


def unmeasured_flights(conn: Connection, project_id: int) -> list[dict]:
    """Flights of a phase that has no survey footprints and that were never measured: id, phase, status."""
    rows = conn.execute(text(f"""
        SELECT o.id, o.phase, o.status, o.captured_on FROM orthophoto o
        WHERE o.project_id = :p
          AND NOT EXISTS (SELECT 1 FROM footprint f WHERE f.project_id = :p AND f.phase = o.phase
                          AND f.source = 'survey')
          AND o.id NOT IN (SELECT id FROM ({MEASURED_FLIGHTS_SQL}) mf)
        ORDER BY o.captured_on DESC, o.id"""), {"p": project_id}).mappings().all()
    return [dict(r) for r in rows]


def drop(conn: Connection) -> None:
    """Forget the materialised figures (after a check, or when the data changed)."""
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TABLE}"))
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{TABLE}_meta"))
