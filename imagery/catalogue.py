"""The orthophoto catalogue in PostGIS: look-ups, listing, and the row an ingest writes."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import shapely
from sqlalchemy import Connection, text

from imagery.errors import NoOverlapError, NotIngestedError, OrthophotoNotFoundError, UnknownProjectError

PHASES = ("baseline", "after")


@dataclass(frozen=True)
class ProjectFrame:
    """What imagery needs of a project: id, code, working CRS and whether it has a scope."""

    id: int
    code: str
    srid: int


def project_frame(conn: Connection, project_id: int) -> ProjectFrame:
    """The project ``project_id`` (raises UnknownProjectError)."""
    row = conn.execute(text("SELECT id, code, srid FROM project WHERE id = :p"), {"p": project_id}).one_or_none()
    if row is None:
        raise UnknownProjectError(f"no project with id {project_id}")
    return ProjectFrame(int(row.id), row.code, int(row.srid))


def check_overlap(conn: Connection, project: ProjectFrame, geom: shapely.Geometry, what: str) -> None:
    """Raise NoOverlapError unless ``geom`` (in the project CRS) intersects the project's scope."""
    row = conn.execute(text("""
        SELECT ST_Intersects(s.geom, g.geom) AS hits, ST_Distance(s.geom, g.geom) AS distance_m
        FROM project_scope s, (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), :srid) AS geom) g
        WHERE s.project_id = :p"""),
        {"wkb": shapely.to_wkb(geom), "srid": project.srid, "p": project.id}).one_or_none()
    if row is None:
        raise NoOverlapError(f"project {project.code} has no scope to check the orthophoto against")
    if not row.hits:
        raise NoOverlapError(f"{what} does not overlap the scope of project {project.code} "
                             f"(it lies {row.distance_m / 1000:.1f} km away)")


def get_orthophoto(conn: Connection, ortho_id: int, *, ingested: bool = False) -> dict:
    """One catalogue row (raises OrthophotoNotFoundError; NotIngestedError when ``ingested`` and no COG)."""
    row = conn.execute(text("""
        SELECT o.id, o.project_id, p.code AS project_code, p.srid, o.phase, o.captured_on, o.source_path,
               o.cog_path, o.sha256, o.cog_sha256, o.size_bytes, o.cog_size_bytes, o.width_px, o.height_px,
               o.band_count, o.dtype, o.crs, o.resolution_m, o.from_package, o.status, o.ingest, o.ingested_at,
               ST_AsBinary(o.footprint) AS footprint_wkb
        FROM orthophoto o JOIN project p ON p.id = o.project_id WHERE o.id = :i"""),
        {"i": ortho_id}).mappings().one_or_none()
    if row is None:
        raise OrthophotoNotFoundError(f"no orthophoto {ortho_id}")
    out = dict(row)
    if ingested and not out["cog_path"]:
        raise NotIngestedError(f"orthophoto {ortho_id} is only catalogued (from the package); "
                               "ingest it to make its Cloud Optimized GeoTIFF")
    fp = out.pop("footprint_wkb")
    out["footprint"] = shapely.from_wkb(bytes(fp)) if fp is not None else None
    return out


def tile_source(conn: Connection, ortho_id: int) -> tuple[str, str]:
    """(COG path, COG SHA-256) of an ingested orthophoto: the light look-up of every tile request."""
    row = conn.execute(text("SELECT cog_path, cog_sha256 FROM orthophoto WHERE id = :i"),
                       {"i": ortho_id}).one_or_none()
    if row is None:
        raise OrthophotoNotFoundError(f"no orthophoto {ortho_id}")
    if not row.cog_path:
        raise NotIngestedError(f"orthophoto {ortho_id} is only catalogued (from the package); "
                               "ingest it to make its Cloud Optimized GeoTIFF")
    return row.cog_path, row.cog_sha256


def flights(conn: Connection, project_id: int, status: str) -> list[dict]:
    """A project's flights of one status ('catalogued' by a package, or 'ingested'), newest first:
    id, phase, captured_on, source_path, cog_path (one light query: no footprint)."""
    rows = conn.execute(text("""
        SELECT id, phase, captured_on, source_path, cog_path FROM orthophoto
        WHERE project_id = :p AND status = :s ORDER BY captured_on DESC, id"""),
        {"p": project_id, "s": status}).mappings().all()
    return [dict(r) for r in rows]


def list_orthophotos(conn: Connection, project_code: str | None = None, ortho_id: int | None = None) -> list[dict]:
    """A project's orthophotos (or the one ``ortho_id``), newest capture first, footprints as WGS84 GeoJSON."""
    rows = conn.execute(text("""
        SELECT o.id, p.code AS project, o.phase, o.captured_on, o.source_path, o.status, o.from_package, o.resolution_m, o.crs,
               o.width_px, o.height_px, o.band_count, o.dtype, o.size_bytes, o.sha256, o.cog_sha256,
               o.cog_size_bytes, o.ingested_at,
               CASE WHEN o.footprint IS NULL THEN NULL ELSE
                    ST_AsGeoJSON(ST_Transform(o.footprint, 4326), 7)::json END AS footprint,
               ST_Area(o.footprint) AS footprint_area_m2
        FROM orthophoto o JOIN project p ON p.id = o.project_id
        WHERE (CAST(:c AS text) IS NULL OR p.code = :c) AND (CAST(:i AS bigint) IS NULL OR o.id = :i)
        ORDER BY o.captured_on DESC, o.id"""), {"c": project_code, "i": ortho_id}).mappings().all()
    return [dict(r) for r in rows]


def find_by_source(conn: Connection, project_id: int, sha256: str) -> dict | None:
    """The catalogue row of this project with this source SHA-256 (an ingested one first), if any."""
    row = conn.execute(text("""
        SELECT id, cog_path, phase FROM orthophoto WHERE project_id = :p AND sha256 = :s
        ORDER BY (cog_path IS NULL), id LIMIT 1"""), {"p": project_id, "s": sha256}).mappings().one_or_none()
    return dict(row) if row is not None else None


def write_ingested(conn: Connection, *, existing_id: int | None, project: ProjectFrame, phase: str,
                   captured_on: dt.date, source_path: str, cog_path: str, sha256: str, cog_sha256: str,
                   size_bytes: int, cog_size_bytes: int, width_px: int, height_px: int, band_count: int,
                   dtype: str, crs: str, resolution_m: float, footprint: shapely.MultiPolygon,
                   from_package: bool, details: dict) -> int:
    """Insert the row of an ingested orthophoto, or complete a package row (``existing_id``). Returns its id."""
    params = {"p": project.id, "phase": phase, "cap": captured_on, "src": source_path, "cog": cog_path,
              "sha": sha256, "csha": cog_sha256, "size": size_bytes, "csize": cog_size_bytes, "w": width_px,
              "h": height_px, "bands": band_count, "dtype": dtype, "crs": crs, "res": resolution_m,
              "fp": shapely.to_wkb(footprint), "srid": project.srid, "pkg": from_package,
              "ingest": json.dumps(details), "id": existing_id}
    footprint_sql = "ST_Multi(ST_SetSRID(ST_GeomFromWKB(:fp), :srid))"
    if existing_id is not None:
        return conn.execute(text(f"""
            UPDATE orthophoto SET cog_path = :cog, cog_sha256 = :csha, cog_size_bytes = :csize,
                   footprint = {footprint_sql}, resolution_m = :res, status = 'ingested',
                   ingest = CAST(:ingest AS jsonb), ingested_at = now()
            WHERE id = :id RETURNING id"""), params).scalar_one()
    return conn.execute(text(f"""
        INSERT INTO orthophoto (project_id, phase, captured_on, source_path, cog_path, sha256, cog_sha256,
                                size_bytes, cog_size_bytes, width_px, height_px, band_count, dtype, crs,
                                resolution_m, footprint, from_package, status, ingest, ingested_at)
        VALUES (:p, :phase, :cap, :src, :cog, :sha, :csha, :size, :csize, :w, :h, :bands, :dtype, :crs,
                :res, {footprint_sql}, :pkg, 'ingested', CAST(:ingest AS jsonb), now())
        RETURNING id"""), params).scalar_one()
