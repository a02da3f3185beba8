"""A large synthetic village orthophoto (EPSG:4550, uint8 RGB, tiled) and the buildings drawn on it.

The layout is a regular pattern of homestead cells (a house in most of them, slightly rotated, of
varied size), lanes every few rows, farmland strips and trees; ``imagery.synthetic.render_orthophoto``
renders it strip by strip, so memory stays bounded whatever the size. The roof polygons double as
the benchmark's "buildings" for zonal statistics (same polygons for every implementation).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

CRS = "EPSG:4550"
#: South-west corner of the synthetic area (near Hunnan, like tests/common.py's X0, Y0).
ORIGIN = (546_000.0, 4_619_000.0)
RESOLUTION_M = 0.15
CELL_M = (30.0, 25.0)  # homestead cell, x by y
LANE_EVERY = 4  # a lane below every 4th row of cells
FIELD_EVERY = 9  # every 9th column of cells is farmland


def side_px_for(raw_bytes: float, bands: int = 3) -> int:
    """The edge (px) of a square uint8 raster of about ``raw_bytes`` uncompressed bytes."""
    return int(math.sqrt(raw_bytes / bands))


def layout(side_m: float, seed: int = 7) -> dict[str, gpd.GeoDataFrame]:
    """Roofs, lanes, fields and trees over the square [ORIGIN, ORIGIN + side_m] (EPSG:4550)."""
    rng = np.random.default_rng(seed)
    x0, y0 = ORIGIN
    cw, ch = CELL_M
    nx, ny = int(side_m // cw), int(side_m // ch)
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    ix, iy = ix.ravel(), iy.ravel()
    farmland = ix % FIELD_EVERY == FIELD_EVERY - 1
    lane_row = iy % LANE_EVERY == 0
    house = ~farmland & (rng.random(ix.size) < 0.75)
    hx, hy = ix[house], iy[house]
    n = hx.size
    w, h = rng.uniform(8, 15, n), rng.uniform(6, 10, n)
    ang = np.deg2rad(rng.uniform(-8, 8, n))
    cx = x0 + (hx + 0.5) * cw + rng.uniform(-3, 3, n)
    cy = y0 + (hy + 0.5) * ch + np.where(lane_row[house], 2.5, 0) + rng.uniform(-2, 2, n)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], float) / 2
    dx, dy = corners[None, :, 0] * w[:, None], corners[None, :, 1] * h[:, None]
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    rings = np.stack([cx[:, None] + dx * c - dy * s, cy[:, None] + dx * s + dy * c], -1)
    roofs = gpd.GeoDataFrame({"building": np.arange(1, n + 1), "height_m": rng.uniform(3, 7, n)},
                             geometry=shapely.polygons(rings), crs=CRS)
    lane_y = y0 + np.arange(0, ny, LANE_EVERY) * ch
    lanes = gpd.GeoDataFrame(geometry=shapely.box(x0, lane_y, x0 + side_m, lane_y + 4.0), crs=CRS)
    fx = np.arange(FIELD_EVERY - 1, nx, FIELD_EVERY)
    fy = np.arange(0, ny, 2)
    fxx, fyy = np.meshgrid(fx, fy)
    fxx, fyy = fxx.ravel(), fyy.ravel()
    fields = gpd.GeoDataFrame({"crop": np.where(rng.random(fxx.size) < 0.6, "green", "soil")},
                              geometry=shapely.box(x0 + fxx * cw + 1, y0 + fyy * ch + 5,
                                                   x0 + (fxx + 1) * cw - 1, y0 + (fyy + 2) * ch), crs=CRS)
    nt = n // 2
    trees = gpd.GeoDataFrame(geometry=shapely.points(x0 + rng.uniform(0, side_m, nt),
                                                     y0 + rng.uniform(0, side_m, nt)), crs=CRS)
    return {"roofs": roofs, "lanes": lanes, "fields": fields, "trees": trees}


def build(out_dir: Path, raw_bytes: float, seed: int = 7, tile_rows: int = 512) -> dict:
    """Render (or reuse) the orthophoto of about ``raw_bytes`` raw RGB bytes; returns its description.

    Writes ``ortho.tif``, ``buildings.gpkg`` and ``meta.json`` in ``out_dir``; a folder whose
    ``meta.json`` already describes the same size and seed is reused.
    """
    from imagery.synthetic import render_orthophoto

    out_dir.mkdir(parents=True, exist_ok=True)
    side_px = side_px_for(raw_bytes)
    meta_path, tif, gpkg = out_dir / "meta.json", out_dir / "ortho.tif", out_dir / "buildings.gpkg"
    want = {"side_px": side_px, "seed": seed, "resolution_m": RESOLUTION_M}
    if meta_path.exists() and tif.exists() and gpkg.exists():
        meta = json.loads(meta_path.read_text())
        if all(meta.get(k) == v for k, v in want.items()):
            return {**meta, "reused": True}
    side_m = side_px * RESOLUTION_M
    t0 = time.perf_counter()
    layers = layout(side_m, seed)
    layers["roofs"].to_file(gpkg, driver="GPKG")
    x0, y0 = ORIGIN
    info = render_orthophoto(tif, bounds=(x0, y0, x0 + side_m, y0 + side_m), resolution_m=RESOLUTION_M, crs=CRS,
                             roofs=layers["roofs"], lanes=layers["lanes"], fields=layers["fields"],
                             trees=layers["trees"], seed=seed, tile_rows=tile_rows)
    meta = {**want, "width": info["width"], "height": info["height"], "bounds": list(info["bounds"]),
            "buildings": len(layers["roofs"]), "raw_bytes": info["width"] * info["height"] * 3,
            "file_bytes": tif.stat().st_size, "render_seconds": round(time.perf_counter() - t0, 1)}
    meta_path.write_text(json.dumps(meta))
    return {**meta, "reused": False}
