"""The layers of the inspectors' map, computed set-based in PostGIS: parcels with their worst open alert,
claimed building outlines, measured footprints per phase, and the search by household, parcel or masked name.

Who sees which rows is ``supervision.policy``; "worst open alert" is :data:`WORST_ALERT_CTES`, shared by the
inline map page and the parcel vector tiles (``api.routes.mvt``).
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from supervision import policy
from supervision.accounts import User, mask_name
from supervision.area_metrics import footprint_source

#: Severities from the worst down; a parcel without an open alert is ``none``.
SEVERITY_ORDER = ("report", "internal", "prompt", "none")

#: The worst open alert per parcel, as CTEs after a CTE ``pa`` (parcel_code, household_no) of the parcels
#: shown: alerts on the parcel or on its buildings; alerts on anything else (claim, person, household, payment,
#: photo) on the parcels of their household (the ``alert_household`` view); of those the user may see
#: (``{alert_visible}``, ``policy.alert_visible_sql``); open as on the map's alert layer (firing, or taken up
#: and not closed). Gives ``worst(parcel_code, open_alerts, severity)``.
WORST_ALERT_CTES = """
    a AS (
        SELECT a.id, a.severity, a.subject_type,
               CASE a.subject_type WHEN 'parcel' THEN a.subject_key
                                   WHEN 'building' THEN split_part(a.subject_key, '/', 1) END AS parcel_code
        FROM alert a
        WHERE a.project_id = :p AND (a.firing OR a.state NOT IN ('new', 'closed')) AND {alert_visible}),
    linked AS (
        SELECT pa.parcel_code, a.severity, a.id FROM pa JOIN a ON a.parcel_code = pa.parcel_code
        UNION
        SELECT pa.parcel_code, a.severity, a.id FROM pa
        JOIN household h ON h.project_id = :p AND h.household_no = pa.household_no
        JOIN alert_household ah ON ah.household_id = h.id
        JOIN a ON a.id = ah.alert_id AND a.parcel_code IS NULL),
    worst AS (
        SELECT parcel_code, count(*) AS open_alerts,
               (array_agg(severity ORDER BY CASE severity WHEN 'report' THEN 0 WHEN 'internal' THEN 1 ELSE 2 END))[1]
                   AS severity
        FROM linked GROUP BY parcel_code)"""

#: A parcel's status: paid (its household was paid), claimed (a claim names it), else unclaimed.
STATUS_SQL = """CASE WHEN EXISTS (SELECT 1 FROM payment py WHERE py.project_id = pa.project_id
                                    AND py.household_no = pa.household_no) THEN 'paid'
                     WHEN EXISTS (SELECT 1 FROM claim c WHERE c.project_id = pa.project_id
                                    AND c.parcel_code = pa.parcel_code) THEN 'claimed'
                     ELSE 'unclaimed' END"""


def _loads(value: object) -> dict:
    return value if isinstance(value, dict) else json.loads(str(value))


def parcel_count(conn: Connection, project_id: int, user: User) -> int:
    """How many of the project's parcels ``user`` may see (decides inline GeoJSON or vector tiles)."""
    visible, params = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    return int(conn.execute(text(f"SELECT count(*) FROM parcel pa WHERE pa.project_id = :p AND {visible}"),
                            {**params, "p": project_id}).scalar_one())


def parcels_geojson(conn: Connection, project_id: int, user: User) -> dict:
    """The parcels ``user`` may see (WGS84), with status, worst open alert (``severity``, ``open_alerts``)
    and the household head's name masked (``head_name_masked``)."""
    visible, vparams = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    alert_visible, aparams = policy.alert_visible_sql(user, "a")
    rows = conn.execute(text(f"""
        WITH pa AS (SELECT pa.* FROM parcel pa WHERE pa.project_id = :p AND {visible}),
        {WORST_ALERT_CTES.format(alert_visible=alert_visible)}
        SELECT pa.parcel_code, pa.land_class, pa.household_no, round(pa.area_m2::numeric, 2)::float8 AS area_m2,
               {STATUS_SQL} AS status, COALESCE(worst.severity, 'none') AS severity,
               COALESCE(worst.open_alerts, 0)::int AS open_alerts, h.head_name,
               ST_AsGeoJSON(ST_Transform(pa.geom, 4326), 7) AS geometry
        FROM pa LEFT JOIN worst ON worst.parcel_code = pa.parcel_code
        LEFT JOIN household h ON h.project_id = pa.project_id AND h.household_no = pa.household_no
        ORDER BY pa.parcel_code"""), {**vparams, **aparams, "p": project_id}).mappings().all()
    features = []
    for r in rows:
        props = {k: r[k] for k in ("parcel_code", "land_class", "household_no", "area_m2", "status", "severity",
                                   "open_alerts")}
        props["head_name_masked"] = mask_name(r["head_name"]) if r["head_name"] else ""
        features.append({"type": "Feature", "geometry": _loads(r["geometry"]), "properties": props})
    return {"type": "FeatureCollection", "features": features}


def buildings_geojson(conn: Connection, project_id: int, user: User, limit: int) -> dict | None:
    """The claimed building outlines (WGS84) on the parcels ``user`` may see, with their claimed floor area;
    ``None`` when there are more than ``limit`` (too many to inline in a page)."""
    visible, params = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    row = conn.execute(text(f"""
        WITH b AS (
            SELECT b.*, pa.household_no FROM building b JOIN parcel pa ON pa.id = b.parcel_id
            WHERE b.project_id = :p AND {visible} ORDER BY b.parcel_code, b.building_no LIMIT :lim)
        SELECT count(*), json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(
            json_build_object('type', 'Feature', 'geometry', ST_AsGeoJSON(ST_Transform(b.geom, 4326), 7)::json,
                              'properties', json_build_object(
                'parcel_code', b.parcel_code, 'building_no', b.building_no, 'household_no', b.household_no,
                'structure_type', b.structure_type, 'storeys', b.storeys,
                'claimed_floor_area_m2', b.claimed_floor_area_m2::float8,
                'outline_area_m2', round(b.outline_area_m2::numeric, 2)::float8))), '[]'::json))
        FROM b"""), {**params, "p": project_id, "lim": limit + 1}).one()
    return None if row[0] > limit else _loads(row[1])


def footprints_geojson(conn: Connection, project_id: int, user: User, phase: str, limit: int) -> dict | None:
    """The measured footprints of ``phase`` (WGS84) from the source the area checks use
    (``footprint_source``: survey if any, else imagery), those on parcels ``user`` may see;
    ``None`` when there are more than ``limit``."""
    visible, params = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    on_visible = "true" if visible == "true" else (
        f"EXISTS (SELECT 1 FROM parcel pa WHERE pa.project_id = f.project_id AND pa.geom && f.geom "
        f"AND ST_Intersects(pa.geom, f.geom) AND {visible})")
    source = footprint_source(conn, project_id, phase)
    row = conn.execute(text(f"""
        WITH f AS (
            SELECT f.* FROM footprint f WHERE f.project_id = :p AND f.phase = :ph AND f.source = :src
              AND {on_visible} ORDER BY f.footprint_id LIMIT :lim)
        SELECT count(*), json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(
            json_build_object('type', 'Feature', 'geometry', ST_AsGeoJSON(ST_Transform(f.geom, 4326), 7)::json,
                              'properties', json_build_object(
                'footprint_id', f.footprint_id, 'phase', f.phase, 'source', f.source, 'height_m', f.height_m,
                'area_m2', round(f.area_m2::numeric, 2)::float8))), '[]'::json))
        FROM f"""), {**params, "p": project_id, "ph": phase, "src": source, "lim": limit + 1}).one()
    return None if row[0] > limit else _loads(row[1])


def search_parcels(conn: Connection, project_id: int, user: User, query: str, limit: int = 10) -> list[dict]:
    """Parcels ``user`` may see whose household number or parcel code contains ``query``, or whose household
    head's masked name (``mask_name``: 张*) starts with it; each with its WGS84 bounds ``[[s, w], [n, e]]``.

    A name query matches the masked name only: ``张`` and ``张*`` find 张伟, ``张伟`` does not (the map never
    answers a question about a full name)."""
    q = query.strip()
    if not q:
        return []
    visible, params = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    surname = q.rstrip("*")
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    name_like = surname.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(text(f"""
        SELECT pa.parcel_code, pa.household_no, h.head_name,
               ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n
        FROM parcel pa
        LEFT JOIN household h ON h.project_id = pa.project_id AND h.household_no = pa.household_no
        CROSS JOIN LATERAL ST_Envelope(ST_Transform(pa.geom, 4326)) AS e
        WHERE pa.project_id = :p AND {visible}
          AND (pa.household_no ILIKE :like OR pa.parcel_code ILIKE :like
               OR (:surname <> '' AND h.head_name LIKE :name_like))
        ORDER BY (pa.household_no = :q OR pa.parcel_code = :q) DESC, pa.household_no, pa.parcel_code
        LIMIT :lim"""), {**params, "p": project_id, "like": like, "name_like": name_like, "surname": surname,
                         "q": q, "lim": limit * 5}).mappings().all()
    out = []
    for r in rows:
        masked = mask_name(r["head_name"]) if r["head_name"] else ""
        by_code = q.lower() in (r["household_no"] or "").lower() or q.lower() in r["parcel_code"].lower()
        if not by_code and not (masked and masked.startswith(q)):
            continue
        out.append({"parcel_code": r["parcel_code"], "household_no": r["household_no"],
                    "head_name_masked": masked,
                    "bounds": [[float(r["s"]), float(r["w"])], [float(r["n"]), float(r["e"])]]})
        if len(out) == limit:
            break
    return out
