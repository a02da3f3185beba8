"""Orthophoto ingest: validate a GeoTIFF against its project, convert it to a COG, catalogue it in PostGIS."""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from sqlalchemy import Connection

from imagery.catalogue import PHASES, ProjectFrame, check_overlap, find_by_source, project_frame, write_ingested
from gis_core.files import sha256_file
from imagery.cog import CogResult, cogify
from imagery.errors import DuplicateOrthophotoError, NoOverlapError, ResolutionError
from imagery.readers import SourceInfo, SourceReader

log = logging.getLogger("expro.imagery")

#: Pixel sizes accepted by default (metres): from 5 mm (close-range drone) to 10 m (coarse aerial/satellite).
MIN_RESOLUTION_M = 0.005
MAX_RESOLUTION_M = 10.0


def crs_label(crs: CRS) -> str:
    """``EPSG:nnnn`` when the CRS has an EPSG code, its WKT otherwise."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _to_project(info: SourceInfo, srid: int) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(info.crs.to_wkt()), CRS.from_epsg(srid), always_xy=True)


def ground_resolution_m(info: SourceInfo, to_project: Transformer) -> float:
    """Mean pixel size in metres, measured in the project's projected CRS at the raster's centre."""
    col, row = info.width / 2.0, info.height / 2.0
    t = info.transform
    xs, ys = zip(*(t @ (c, r) for c, r in ((col, row), (col + 1, row), (col, row + 1))))
    px, py = to_project.transform(np.array(xs), np.array(ys))
    if not (np.all(np.isfinite(px)) and np.all(np.isfinite(py))):
        return math.nan
    return float((math.hypot(px[1] - px[0], py[1] - py[0]) + math.hypot(px[2] - px[0], py[2] - py[0])) / 2)


def extent_in_project(info: SourceInfo, to_project: Transformer) -> shapely.Polygon:
    """The raster's extent (densified outline) in the project CRS."""
    ring = shapely.segmentize(shapely.Polygon([info.transform @ corner for corner in
                                               ((0, 0), (info.width, 0), (info.width, info.height),
                                                (0, info.height))]),
                              max(abs(info.transform.a), abs(info.transform.e)) * max(info.width, info.height) / 32)
    return shapely.make_valid(shapely.transform(ring, lambda xy: np.column_stack(to_project.transform(*xy.T))))


def outline_in_project(outline: shapely.MultiPolygon, info: SourceInfo, to_project: Transformer,
                       ) -> shapely.MultiPolygon:
    """The valid-pixel outline moved into the project CRS, as a valid MultiPolygon."""
    if outline.is_empty:
        return shapely.MultiPolygon()
    pixel = max(abs(info.transform.a), abs(info.transform.e))
    moved = shapely.transform(shapely.segmentize(outline, pixel * 64),
                              lambda xy: np.column_stack(to_project.transform(*xy.T)))
    res_m = ground_resolution_m(info, to_project)
    if math.isfinite(res_m):
        moved = shapely.simplify(moved, res_m * 0.5)
    parts = [p for p in shapely.get_parts(shapely.make_valid(moved)) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(parts)


def validate_orthophoto(reader: SourceReader, project: ProjectFrame, conn: Connection, *,
                        min_resolution_m: float = MIN_RESOLUTION_M,
                        max_resolution_m: float = MAX_RESOLUTION_M) -> tuple[float, Transformer]:
    """Check an open source against the project: plausible resolution, overlap with the scope.

    Returns the ground resolution (m) and the transformer into the project CRS.
    """
    info = reader.info
    to_project = _to_project(info, project.srid)
    res_m = ground_resolution_m(info, to_project)
    if not math.isfinite(res_m) or not min_resolution_m <= res_m <= max_resolution_m:
        shown = f"{res_m:.3g} m" if math.isfinite(res_m) else "not measurable"
        raise ResolutionError(f"{info.path.name}: pixel size {shown} is implausible for an orthophoto "
                              f"(expected {min_resolution_m:g} to {max_resolution_m:g} m per pixel)")
    check_overlap(conn, project, extent_in_project(info, to_project), f"{info.path.name}")
    return res_m, to_project


def ingest_orthophoto(conn: Connection, path: str | Path, *, project_id: int, phase: str,
                      captured_on: dt.date, store_dir: str | Path, source_name: str | None = None,
                      from_package: bool = False, compress: str = "JPEG",
                      min_resolution_m: float = MIN_RESOLUTION_M,
                      max_resolution_m: float = MAX_RESOLUTION_M) -> int:
    """Validate ``path``, write its COG under ``store_dir`` and catalogue it; returns the orthophoto id.

    Parameters
    ----------
    conn : open connection (the catalogue row is written in its transaction).
    path : the source GeoTIFF (RGB, RGBA or RGB + near-infrared; uint8 or uint16).
    project_id, phase, captured_on : what the flight is ("baseline" or "after").
    store_dir : where COGs are kept (``<store_dir>/p<project_id>/<phase>-<date>-<sha>.tif``).
    source_name : the name to record (for example the uploaded file name); ``path`` otherwise.
    from_package : the orthophoto came with a project package.
    compress : COG compression, ``JPEG`` (default), ``WEBP`` or ``DEFLATE``.

    Re-ingesting the same file (same SHA-256) into the same project returns the existing id; a row
    catalogued by the package importer for that file is completed in place; the same file as the other
    flight is refused.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    if not isinstance(captured_on, dt.date):
        raise ValueError(f"captured_on must be a date, got {captured_on!r}")
    path = Path(path)
    project = project_frame(conn, project_id)
    with SourceReader(path) as reader:
        res_m, to_project = validate_orthophoto(reader, project, conn, min_resolution_m=min_resolution_m,
                                                max_resolution_m=max_resolution_m)
        sha = sha256_file(path)
        existing = find_by_source(conn, project.id, sha)
        if existing is not None and existing["phase"] != phase:
            raise DuplicateOrthophotoError(f"{path.name} is already catalogued in project {project.code} as the "
                                           f"{existing['phase']} flight (orthophoto {existing['id']})")
        if existing is not None and existing["cog_path"]:
            log.info("orthophoto %s already ingested as %s", path.name, existing["id"])
            return int(existing["id"])
        dst = Path(store_dir) / f"p{project.id}" / f"{phase}-{captured_on.isoformat()}-{sha[:16]}.tif"
        cog: CogResult = cogify(reader, dst, compress=compress, overwrite=True)
    info = reader.info
    try:
        footprint = outline_in_project(cog.valid_outline, info, to_project)
        if footprint.is_empty:
            raise NoOverlapError(f"{path.name} has no valid pixels (everything is nodata or transparent)")
        check_overlap(conn, project, footprint, f"the valid pixels of {path.name}")
    except NoOverlapError:
        cog.path.unlink(missing_ok=True)
        raise
    details = {**cog.details, "valid_fraction": round(cog.valid_fraction, 6)}
    return write_ingested(
        conn, existing_id=existing["id"] if existing else None, project=project, phase=phase,
        captured_on=captured_on, source_path=source_name or str(path), cog_path=str(cog.path), sha256=sha,
        cog_sha256=cog.sha256, size_bytes=info.size_bytes, cog_size_bytes=cog.size_bytes, width_px=info.width,
        height_px=info.height, band_count=info.count, dtype=info.dtype, crs=crs_label(CRS(info.crs.to_wkt())),
        resolution_m=res_m, footprint=footprint, from_package=from_package or bool(existing), details=details)
