"""Read access to projects and their parcels, scoped by the user's role."""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from supervision.accounts import User
from supervision.errors import ProjectNotFoundError
from supervision.policy import household_no_visible_sql

#: Parcel status shown on the map, derived from claims and payments of the parcel's household.
PARCEL_STATUS_ZH = {"paid": "已补偿", "claimed": "已登记未补偿", "unclaimed": "未登记"}


def list_projects(conn: Connection, code: str | None = None) -> list[dict]:
    """Every project (or the one with ``code``) with its main figures."""
    rows = conn.execute(text("""
        SELECT p.code, p.name, p.county_code, p.srid, p.pre_announcement_date, p.announcement_date,
               (SELECT count(*) FROM household h WHERE h.project_id = p.id) AS households,
               (SELECT count(*) FROM parcel pa WHERE pa.project_id = p.id) AS parcels,
               (SELECT count(*) FROM building b WHERE b.project_id = p.id) AS buildings,
               (SELECT count(*) FROM alert a WHERE a.project_id = p.id AND a.firing) AS open_alerts
        FROM project p WHERE (CAST(:code AS text) IS NULL OR p.code = :code) ORDER BY p.code"""),
        {"code": code}).mappings().all()
    return [dict(r) for r in rows]


def get_project(conn: Connection, code: str) -> dict:
    """The project ``code`` (raises ProjectNotFoundError)."""
    row = conn.execute(text("SELECT id, code, name, county_code, srid, pre_announcement_date, announcement_date, "
                            "tolerance, rules, case_config FROM project WHERE code = :c"), {"c": code}).mappings().one_or_none()
    if row is None:
        raise ProjectNotFoundError(f"no project with code {code!r}")
    return dict(row)


def parcels_geojson(conn: Connection, project_id: int, user: User) -> dict:
    """The project's parcels (WGS84 GeoJSON for display) with their status, of the households ``user`` may see
    (``policy.household_no_visible_sql``: a field crew member sees only assigned ones)."""
    visible, params = household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    row = conn.execute(text(f"""
        WITH paid AS (SELECT DISTINCT household_no FROM payment WHERE project_id = :p),
             claimed AS (SELECT DISTINCT parcel_code FROM claim WHERE project_id = :p)
        SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(json_build_object(
            'type', 'Feature',
            'geometry', ST_AsGeoJSON(ST_Transform(pa.geom, 4326), 7)::json,
            'properties', json_build_object(
                'parcel_code', pa.parcel_code, 'land_class', pa.land_class, 'household_no', pa.household_no,
                'area_m2', round(pa.area_m2::numeric, 2),
                'status', CASE WHEN paid.household_no IS NOT NULL THEN 'paid'
                               WHEN claimed.parcel_code IS NOT NULL THEN 'claimed' ELSE 'unclaimed' END)
        ) ORDER BY pa.parcel_code), '[]'::json))
        FROM parcel pa
        LEFT JOIN paid ON paid.household_no = pa.household_no
        LEFT JOIN claimed ON claimed.parcel_code = pa.parcel_code
        WHERE pa.project_id = :p AND {visible}"""), {**params, "p": project_id}).scalar_one()
    return row if isinstance(row, dict) else json.loads(row)


def scope_geojson(conn: Connection, project_id: int) -> dict | None:
    """The project scope as WGS84 GeoJSON geometry."""
    row = conn.execute(text("SELECT ST_AsGeoJSON(ST_Transform(geom, 4326), 7) FROM project_scope "
                            "WHERE project_id = :p"), {"p": project_id}).scalar()
    return None if row is None else json.loads(row)
