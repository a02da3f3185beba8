"""Per-building zonal statistics the way Expro computes them: ``imagery.zonal.zonal_stats``.

The product's per-subject figures (``imagery.change.compare``: observed and changed pixels of every
building and parcel) are coverage-weighted zonal statistics through ``imagery.zonal.zonal_stats``
(exactextract over the change map). ``zonal_mean_count`` calls that function on one band of the
orthophoto; ``check_against_compare`` proves that ``compare`` gives the same per-building counts.
"""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine

from imagery.change import compare
from imagery.readers import Grid
from imagery.zonal import zonal_stats


def zonal_mean_count(path: str, geoms: np.ndarray, band: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-polygon mean and (coverage-weighted) count of valid pixels of ``band``: the product's function."""
    with rasterio.open(path) as src:
        crs = src.crs
    stats = zonal_stats(path, geoms, crs, ops=("mean", "count"), band=band)
    return stats["mean"], stats["count"]


def sub_grid(path: str, size_px: int) -> Grid:
    """The top-left ``size_px`` square of a raster's own grid."""
    with rasterio.open(path) as src:
        t: Affine = src.transform
        return Grid(src.crs, t, min(size_px, src.width), min(size_px, src.height))


def check_against_compare(path: str, geoms: np.ndarray, size_px: int = 4096) -> dict:
    """Per-building observed-pixel counts of ``imagery.change.compare`` (the raster against itself on a
    sub-grid) against ``zonal_stats`` of the raster cut to the same sub-grid: they must agree."""
    grid = sub_grid(path, size_px)
    keys = np.arange(len(geoms))
    summary = compare(path, path, grid, {"building": (keys, geoms)})
    _, product_counts, _ = summary.subjects["building"]
    x0, y1 = grid.transform.c, grid.transform.f
    x1, y0 = x0 + grid.width * grid.transform.a, y1 + grid.height * grid.transform.e
    import shapely

    clipped = shapely.intersection(geoms, shapely.box(x0, y0, x1, y1))
    counts = zonal_stats(path, clipped, grid.crs, ops=("count",))["count"]
    inside = product_counts > 0
    return {"grid_px": [grid.width, grid.height], "buildings_in_grid": int(inside.sum()),
            "identical_counts": bool(np.allclose(np.nan_to_num(counts), product_counts, rtol=1e-6, atol=1e-6))}
