"""Claimed building areas against measured footprints, and parcels against the scope (vectorised).

Every area is computed in the inputs' projected CRS (EPSG:4550 for Shenyang); geographic or
mismatched CRSs are refused. The definitions match the SQL functions of
``sql/postgis/schema_0002_area.sql`` exactly:

* covered area of an outline = area(outline ∩ union(footprints that intersect the outline));
* coverage = covered area / outline area;
* expected floor area M = baseline covered area × claimed storeys;
* tolerance = a·√M + b·M (GB/T 17986.1), plus k × perimeter(covered part) × pixel size × storeys
  when the baseline footprints come from imagery;
* discrepancy = claimed floor area − M.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis_core.crs import require_projected
from gis_core.tolerance import Tolerance

STOREY_HEIGHT_M = 3.0


def covered(outlines: np.ndarray, footprints: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Per outline: covered area (m²), perimeter of the covered part (m), footprint count, and pair indices.

    Returns ``(area_m2, perimeter_m, count, (outline_idx, footprint_idx))`` where the pairs list
    every footprint intersecting every outline.
    """
    n = len(outlines)
    area = np.zeros(n)
    perimeter = np.zeros(n)
    if n == 0 or len(footprints) == 0:
        return area, perimeter, np.zeros(n, dtype=int), (np.empty(0, int), np.empty(0, int))
    tree = shapely.STRtree(footprints)
    oi, fi = tree.query(outlines, predicate="intersects")
    count = np.bincount(oi, minlength=n)
    single = count[oi] == 1
    if single.any():
        parts = shapely.intersection(outlines[oi[single]], footprints[fi[single]])
        area[oi[single]] = shapely.area(parts)
        perimeter[oi[single]] = shapely.length(parts)
    multi_outlines = np.flatnonzero(count > 1)
    if len(multi_outlines):
        order = np.argsort(oi, kind="stable")
        oi_sorted, fi_sorted = oi[order], fi[order]
        starts = np.searchsorted(oi_sorted, multi_outlines, side="left")
        ends = np.searchsorted(oi_sorted, multi_outlines, side="right")
        unions = np.array([shapely.union_all(footprints[fi_sorted[s:e]]) for s, e in zip(starts, ends)],
                          dtype=object)
        parts = shapely.intersection(outlines[multi_outlines], unions)
        area[multi_outlines] = shapely.area(parts)
        perimeter[multi_outlines] = shapely.length(parts)
    return area, perimeter, count, (oi, fi)


def _group_max(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    ok = ~np.isnan(values)
    if ok.any():
        np.fmax.at(out, index[ok], values[ok])
    return out


def building_area_metrics(buildings: gpd.GeoDataFrame, baseline: gpd.GeoDataFrame,
                          after: gpd.GeoDataFrame | None = None, *, tolerance: Tolerance | None = None,
                          storey_height_m: float = STOREY_HEIGHT_M) -> pd.DataFrame:
    """Area figures of every claimed building, indexed like ``buildings``.

    Parameters
    ----------
    buildings
        Claimed outlines with ``storeys`` and ``claimed_floor_area_m2``.
    baseline, after
        Measured footprints; optional columns ``height_m`` and ``pixel_size_m`` (set for footprints
        extracted from imagery, NaN or absent for surveyed ones).
    tolerance
        The area tolerance (default: GB/T 17986.1 class 3).
    """
    tolerance = tolerance or Tolerance.from_preset()
    require_projected(buildings, baseline, after)
    outlines = np.asarray(buildings.geometry.values, dtype=object)
    n = len(outlines)
    outline_area = shapely.area(outlines)
    fps = np.asarray(baseline.geometry.values, dtype=object)
    base_area, base_perim, base_count, (oi, fi) = covered(outlines, fps)

    def column(frame: gpd.GeoDataFrame, name: str) -> np.ndarray:
        if name in frame.columns:
            return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        return np.full(len(frame), np.nan)

    height = _group_max(column(baseline, "height_m")[fi], oi, n)
    pixel = _group_max(column(baseline, "pixel_size_m")[fi], oi, n)
    storeys = pd.to_numeric(buildings["storeys"]).to_numpy(dtype=float)
    claimed = pd.to_numeric(buildings["claimed_floor_area_m2"]).to_numpy(dtype=float)
    expected = base_area * storeys
    pixel_term = np.nan_to_num(pixel, nan=0.0)
    tol = tolerance.limit_m2(expected, perimeter_m=base_perim * storeys, pixel_size_m=pixel_term)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(outline_area > 0, base_area / outline_area, 0.0)
        pct = np.where(expected > 0, (claimed - expected) / expected * 100.0, np.nan)
    out = pd.DataFrame({
        "outline_area_m2": outline_area,
        "baseline_area_m2": base_area,
        "baseline_coverage": coverage,
        "baseline_perimeter_m": base_perim,
        "baseline_footprints": base_count,
        "baseline_pixel_size_m": pixel,
        "storeys_claimed": storeys.astype(int),
        "height_m": height,
        "storeys_from_height": np.where(np.isnan(height), np.nan, np.maximum(1, np.round(height / storey_height_m))),
        "claimed_floor_area_m2": claimed,
        "expected_floor_area_m2": expected,
        "tolerance_m2": tol,
        "discrepancy_m2": claimed - expected,
        "discrepancy_pct": pct,
    }, index=buildings.index)
    if after is not None:
        after_area, _, after_count, _ = covered(outlines, np.asarray(after.geometry.values, dtype=object))
        with np.errstate(divide="ignore", invalid="ignore"):
            out["after_area_m2"] = after_area
            out["after_coverage"] = np.where(outline_area > 0, after_area / outline_area, 0.0)
            out["after_footprints"] = after_count
    return out


def inside_fraction(parcels: gpd.GeoDataFrame, scope: gpd.GeoDataFrame | gpd.GeoSeries) -> pd.Series:
    """Fraction of each parcel's area inside the (union of the) scope."""
    require_projected(parcels, scope)
    area_scope = shapely.union_all(np.asarray(scope.geometry.values if hasattr(scope, "geometry") else scope.values))
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    shapely.prepare(area_scope)
    total = shapely.area(geoms)
    inside = shapely.area(shapely.intersection(geoms, area_scope))
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(total > 0, inside / total, 0.0)
    return pd.Series(frac, index=parcels.index, name="inside_scope_fraction")
