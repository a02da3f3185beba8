"""Measured building footprints from an orthophoto (and optionally a surface model), tile by tile."""

from __future__ import annotations

import contextlib
import json
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS
from rasterio.features import rasterize
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from sqlalchemy import Connection, text

from gis_core.errors import GeographicCRSError
from imagery.catalogue import get_orthophoto
from imagery.readers import Grid, GridReader
from imagery.segment import (SegmentParams, clean_mask, contrast_confidence, height_building_mask, polygons,
                             rgb_building_evidence)

TILE_PX = 2048
METHODS = ("classical", "model")


@functools.lru_cache(maxsize=2)
def segmenter(path: str | None = None):
    """The learnt roof segmenter (``imagery.cnn.RoofSegmenter``), loaded once per process."""
    from imagery.cnn import RoofSegmenter

    return RoofSegmenter(path)


@dataclass(frozen=True)
class ExtractedFootprint:
    """One measured outline in the grid's CRS."""

    geometry: shapely.Polygon
    rectangularity: float
    height_m: float | None
    #: 0-1, the extractor's certainty: the learnt model's mean roof probability inside the outline (fused with
    #: height above ground when a surface model is given); round 1's contrast margin (``contrast_confidence``,
    #: or height above ground over twice the building threshold). Not calibrated probabilities.
    confidence: float | None = None
    source: str = "classical"  # "classical" (round 1's thresholds) or "model:<name>" (imagery.cnn)


def native_grid(path: str | Path) -> Grid:
    """The pixel grid of a north-up raster."""
    with rasterio.open(path) as src:
        return Grid(src.crs, src.transform, src.width, src.height)


def orthophoto_grid(ortho: dict) -> Grid:
    """The grid footprints of a catalogued orthophoto are measured on: the COG's own grid when it is in the
    project CRS, otherwise the project CRS at the orthophoto's resolution over its footprint."""
    native = native_grid(ortho["cog_path"])
    project_crs = rasterio.crs.CRS.from_epsg(ortho["srid"])
    if native.crs == project_crs and native.transform.b == 0 and native.transform.d == 0:
        return native
    return Grid.from_bounds(ortho["footprint"].bounds, ortho["resolution_m"], project_crs)


def _require_metric(grid: Grid) -> None:
    crs = CRS.from_user_input(grid.crs.to_wkt())
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise GeographicCRSError(f"footprints are measured in a projected CRS in metres, not {crs.to_string()}")


def extract_footprints(*, rgb_path: str | Path | None = None, height_path: str | Path | None = None,
                       grid: Grid | None = None, params: SegmentParams = SegmentParams(),
                       tile_px: int = TILE_PX, method: str = "classical") -> list[ExtractedFootprint]:
    """Building outlines from an RGB orthophoto and/or a surface model (DSM or height above ground).

    Both rasters are read onto ``grid`` (by default the native grid of the first one given) in tiles
    with an overlap wide enough for the background estimate and the largest building; an outline
    belongs to the tile whose core holds its centroid. With RGB only, roofs are regions distinct from
    the local ground colour; with a surface model, they are planar regions above the ground, and RGB
    (when given) removes vegetation. ``method="model"`` segments the RGB with the committed U-Net
    (``imagery.cnn``) instead, on ``grid``'s CRS at its 0.25 m working resolution, its roof probability fused
    with the height above ground of the surface model when one is given (``imagery.dsm``); each footprint then
    carries the model's confidence and its median height above ground.
    """
    if rgb_path is None and height_path is None:
        raise ValueError("give an orthophoto, a surface model, or both")
    if method not in METHODS:
        raise ValueError(f"unknown footprint method {method!r}; one of {', '.join(METHODS)}")
    if method == "model":
        if rgb_path is None:
            raise ValueError("the learnt model segments an orthophoto: give rgb_path")
        return segmenter().extract(rgb_path, grid or native_grid(rgb_path), height_path=height_path)
    if grid is None:
        first = rgb_path if rgb_path is not None else height_path
        grid = native_grid(first)  # type: ignore[arg-type]
    _require_metric(grid)
    res = grid.resolution_m
    reach_m = max(params.background_window_m / 2, math.sqrt(params.max_area_m2) * 1.2,
                  params.ground_window_m / 2 if height_path else 0.0)
    overlap = math.ceil(reach_m / res)
    found: list[ExtractedFootprint] = []
    with contextlib.ExitStack() as stack:
        rgb_reader = stack.enter_context(GridReader(rgb_path, grid)) if rgb_path else None
        height_reader = stack.enter_context(GridReader(height_path, grid)) if height_path else None
        for read_win, core in grid.tiles(tile_px, overlap):
            found.extend(_tile(grid, read_win, core, rgb_reader, height_reader, params))
    return found


def _tile(grid: Grid, read_win: Window, core: Window, rgb_reader: GridReader | None,
          height_reader: GridReader | None, params: SegmentParams) -> list[ExtractedFootprint]:
    res = grid.resolution_m
    vegetation, above, valid = None, None, None
    if rgb_reader is not None:
        valid = rgb_reader.valid(read_win)
        if not valid.any():
            return []
        mask, vegetation, score = rgb_building_evidence(rgb_reader.read(read_win), valid, res, params)
        sure = contrast_confidence(score)
    if height_reader is not None:
        heights = height_reader.read_float(read_win)
        if not np.isfinite(heights).any():
            return []
        mask, above = height_building_mask(heights, res, vegetation, params)
        # above the ground: 0.5 at the building height threshold, 1 at twice it
        sure = np.clip(np.nan_to_num(above, nan=0.0) / (2 * params.min_height_m), 0.0, 1.0)
        if valid is not None:
            mask &= valid
    mask = clean_mask(mask, res, params)
    tr = window_transform(read_win, grid.transform)
    cx0, cy1 = grid.transform @ (core.col_off, core.row_off)
    cx1, cy0 = grid.transform @ (core.col_off + core.width, core.row_off + core.height)
    out = []
    for poly, rectangularity in polygons(mask, tr, res, params):
        c = poly.centroid
        if not (cx0 <= c.x < cx1 and cy0 < c.y <= cy1):
            continue
        height_m, confidence = None, 0.0
        inside = rasterize([poly], out_shape=mask.shape, transform=tr) > 0
        if inside.any():
            confidence = round(float(sure[inside].mean()), 3)
            if above is not None:
                height_m = round(float(np.nanmedian(above[inside])), 2)
        out.append(ExtractedFootprint(poly, rectangularity, height_m, confidence, "classical"))
    return out


def store_footprints(conn: Connection, ortho: dict, footprints: list[ExtractedFootprint], *,
                     extractor: str | None = None, surface_model: dict | None = None) -> int:
    """Replace the imagery footprints of ``ortho`` with ``footprints`` (project CRS), each with its confidence
    and extractor; the flight records which extractor (``extractor``, else the footprints' own) and which surface
    model measured it (``footprints_extractor``, ``footprints_surface_model`` in its ingest record, the evidence of
    the area rules); returns the count."""
    conn.execute(text("DELETE FROM footprint WHERE orthophoto_id = :o AND source = 'imagery'"), {"o": ortho["id"]})
    used = extractor or ",".join(sorted({f.source for f in footprints})) or None
    conn.execute(text("""UPDATE orthophoto SET ingest = COALESCE(ingest, '{}'::jsonb)
                             || jsonb_build_object('footprints_extractor', CAST(:x AS text),
                                                   'footprints_surface_model', CAST(:dsm AS jsonb))
                         WHERE id = :o"""),
                 {"o": ortho["id"], "x": used, "dsm": json.dumps(surface_model) if surface_model else None})
    rows = [{"p": ortho["project_id"], "phase": ortho["phase"], "fid": f"IMG{ortho['id']}-{i:05d}",
             "h": f.height_m, "o": ortho["id"], "px": ortho["resolution_m"],
             "g": shapely.to_wkb(f.geometry), "srid": ortho["srid"], "c": f.confidence, "x": f.source}
            for i, f in enumerate(footprints, 1)]
    if rows:
        conn.execute(text("""
            INSERT INTO footprint (project_id, phase, source, footprint_id, height_m, orthophoto_id, pixel_size_m,
                                   geom, confidence, extractor)
            VALUES (:p, :phase, 'imagery', :fid, :h, :o, :px, ST_Multi(ST_SetSRID(ST_GeomFromWKB(:g), :srid)),
                    :c, :x)"""),
            rows)
    return len(rows)


def measure_orthophoto(conn: Connection, ortho_id: int, *, dsm_path: str | Path | None = None,
                       params: SegmentParams = SegmentParams(), method: str = "classical") -> int:
    """Extract the footprints of an ingested orthophoto and store them; with the flight's catalogued surface
    model (``expro ortho ingest --dsm``) unless ``dsm_path`` names another one."""
    from imagery.dsm import surface_model_of

    ortho = get_orthophoto(conn, ortho_id, ingested=True)
    grid = orthophoto_grid(ortho)
    kept = surface_model_of(conn, ortho_id) if dsm_path is None else None
    height_path = dsm_path if dsm_path is not None else (kept["cog_path"] if kept else None)
    found = extract_footprints(rgb_path=ortho["cog_path"], height_path=height_path, grid=grid, params=params,
                               method=method)
    used = {"surface_model_id": kept["id"], "sha256": kept["sha256"]} if kept else \
        ({"path": str(dsm_path)} if dsm_path is not None else None)
    extractor = (segmenter().source + ("+dsm" if height_path else "")) if method == "model" else \
        ("classical+dsm" if height_path else "classical")
    return store_footprints(conn, ortho, found, extractor=extractor, surface_model=used)


def best_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each geometry of ``a``, its best intersection-over-union with any geometry of ``b``."""
    out = np.zeros(len(a))
    if len(a) == 0 or len(b) == 0:
        return out
    ia, ib = shapely.STRtree(b).query(a, predicate="intersects")
    iou = shapely.area(shapely.intersection(a[ia], b[ib])) / shapely.area(shapely.union(a[ia], b[ib]))
    np.maximum.at(out, ia, iou)
    return out


def score_footprints(measured: np.ndarray, truth: np.ndarray, *, shape: tuple[int, int] | None = None,
                     transform=None, match_iou: float = 0.5) -> dict:
    """How measured footprints agree with reference ones (same projected CRS).

    Building level: a reference building is found (recall), and a measured footprint is right
    (precision), when its best IoU with the other set is at least ``match_iou``; median IoUs of both
    sets. Pixel level (when ``shape`` and ``transform`` of a grid are given): precision, recall and IoU
    of the rasterised masks.
    """
    recall_iou, precision_iou = best_iou(truth, measured), best_iou(measured, truth)
    out = {"reference": len(truth), "measured": len(measured),
           "recall": float(np.mean(recall_iou >= match_iou)) if len(truth) else 0.0,
           "precision": float(np.mean(precision_iou >= match_iou)) if len(measured) else 0.0,
           "median_iou": float(np.median(recall_iou)) if len(truth) else 0.0,
           "median_iou_of_measured": float(np.median(precision_iou)) if len(measured) else 0.0}
    if shape is not None and transform is not None:
        t_px = rasterize(truth, out_shape=shape, transform=transform) > 0 if len(truth) else np.zeros(shape, bool)
        m_px = rasterize(measured, out_shape=shape, transform=transform) > 0 if len(measured) \
            else np.zeros(shape, bool)
        inter = int((t_px & m_px).sum())
        out.update(pixel_precision=inter / max(int(m_px.sum()), 1), pixel_recall=inter / max(int(t_px.sum()), 1),
                   pixel_iou=inter / max(int((t_px | m_px).sum()), 1))
    return out
