"""Per-building zonal statistics the way Expro computes them.

Expro has no public zonal-statistics function: per-building pixel counts are computed inline in
``imagery.change.compare`` (the raster read on a ``Grid`` in 2048 px tiles through ``GridReader``;
in each tile, only the subject polygons an ``STRtree`` finds intersecting the tile are rasterised
into a label image with ``rasterio.features.rasterize``, then ``np.bincount`` per label).
``zonal_mean_count`` is that loop, unchanged, with one more ``np.bincount(..., weights=band)`` to get
the sum and hence the mean. ``check_against_compare`` proves the transcription: on a sub-grid it
calls the product's ``compare`` with the buildings as subjects and requires the same per-building
pixel counts.
"""

from __future__ import annotations

import numpy as np
import rasterio
import rasterio.windows
import shapely
from affine import Affine
from rasterio.features import rasterize
from rasterio.windows import transform as window_transform

from imagery.change import TILE_PX, compare
from imagery.readers import Grid, GridReader


def zonal_mean_count(path: str, geoms: np.ndarray, grid: Grid | None = None,
                     band: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-polygon mean and count of valid pixels (pixel-centre rule) of ``band`` over ``grid``."""
    if grid is None:
        with rasterio.open(path) as src:
            grid = Grid(src.crs, src.transform, src.width, src.height)
    n = len(geoms)
    counts = np.zeros(n + 1, np.int64)
    sums = np.zeros(n + 1, np.float64)
    tree = shapely.STRtree(geoms)  # as compare(): one tree per subject type
    with GridReader(path, grid) as reader:
        for _, core in grid.tiles(TILE_PX, 0):  # as compare(), without its filter overlap
            valid = reader.valid(core)
            if not valid.any():
                continue
            tr = window_transform(core, grid.transform)
            tile_box = shapely.box(*rasterio.windows.bounds(core, grid.transform))
            near = tree.query(tile_box, predicate="intersects") if n else ()
            if len(near) == 0:
                continue
            values = reader.read(core, indexes=[band])[0]
            labels = rasterize(zip(geoms[near], (near + 1).tolist()), out_shape=valid.shape, transform=tr,
                               fill=0, dtype="int32")
            counts += np.bincount(labels[valid], minlength=n + 1)
            sums += np.bincount(labels[valid], weights=values[valid].astype(np.float64), minlength=n + 1)
    counts, sums = counts[1:], sums[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan), counts


def sub_grid(path: str, size_px: int) -> Grid:
    """The top-left ``size_px`` square of a raster's own grid."""
    with rasterio.open(path) as src:
        t: Affine = src.transform
        return Grid(src.crs, t, min(size_px, src.width), min(size_px, src.height))


def check_against_compare(path: str, geoms: np.ndarray, size_px: int = 4096) -> dict:
    """Per-building observed-pixel counts of ``imagery.change.compare`` (the raster against itself on a
    sub-grid) against ``zonal_mean_count`` on the same grid: they must be identical."""
    grid = sub_grid(path, size_px)
    keys = np.arange(len(geoms))
    summary = compare(path, path, grid, {"building": (keys, geoms)})
    _, product_counts, _ = summary.subjects["building"]
    _, counts = zonal_mean_count(path, geoms, grid)
    inside = counts > 0
    return {"grid_px": [grid.width, grid.height], "buildings_in_grid": int(inside.sum()),
            "identical_counts": bool(np.array_equal(product_counts, counts))}
