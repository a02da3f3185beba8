"""Roof segmentation by a small U-Net (trained on this machine, see ``imagery/models/MODEL_CARD.md``), run with
onnxruntime tile by tile on the ``WORK_RES_M`` grid so that memory stays bounded on any orthophoto.

The network gives two maps: roof, and the edge band of each roof. Roofs are the roof pixels away from edges,
split into buildings, grown back into the roof, traced and regularised; each outline's confidence is its mean
roof probability.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.features import rasterize, shapes
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from scipy import ndimage as ndi

from imagery.dsm import GROUND_WINDOW_M, fuse, height_above_ground, plane_residual
from imagery.readers import Grid, GridReader
from imagery.segment import SegmentParams, regularise

WORK_RES_M = 0.25
MODEL_PATH = Path(__file__).with_name("models") / "footprints_unet.onnx"
TILE_PX = 512
GDAL_CACHE_MB = 128
PLANE_RESIDUAL_M = 0.35  # surface roughness (RMS about a 1.25 m plane) above which height alone is no roof
OVERLAP_PX = 64  # beyond the network's useful context; outlines are kept by the tile holding their centroid
PARAMS = SegmentParams(min_area_m2=6.0, min_rectangularity=0.45, rectangle_above=0.85, opening_m=0.75,
                       max_elongation=10.0, simplify_px=1.0)


def normalise(rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Network input (3, h, w) float32: each channel centred and scaled on the valid pixels of the tile
    (white balance, exposure and haze differ from flight to flight)."""
    img = rgb.astype(np.float32) / 255.0
    if valid.any():
        px = img[:, valid]
        mean, std = px.mean(axis=1), px.std(axis=1).mean() + 0.02
    else:
        mean, std = np.full(3, 0.5, np.float32), 0.2
    out = (img - mean[:, None, None]) / std
    out[:, ~valid] = 0.0
    return out.astype(np.float32)


def work_grid(path: str | Path, resolution_m: float = WORK_RES_M) -> Grid:
    """The ``resolution_m`` grid over a north-up raster, in its own CRS."""
    import rasterio

    with rasterio.open(path) as src:
        return Grid.from_bounds(tuple(src.bounds), resolution_m, src.crs)


def read_window(reader: GridReader, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, valid) of one window; a single-band image is read as grey RGB."""
    valid = reader.valid(window)
    rgb = reader.read(window) if reader.count >= 3 else np.repeat(reader.read(window, indexes=[1]), 3, axis=0)
    return rgb, valid


def read_rgb(path: str | Path, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, valid) of the whole of ``path`` on ``grid`` (averaged when coarser than the source)."""
    with GridReader(path, grid, resampling=Resampling.average) as reader:
        return read_window(reader, Window(0, 0, grid.width, grid.height))


def _bounds(grid: Grid) -> tuple[float, float, float, float]:
    t = grid.transform
    return (t.c, t.f + t.e * grid.height, t.c + t.a * grid.width, t.f)


class RoofSegmenter:
    """The committed U-Net, loaded once (one onnxruntime session, one thread); ``extract`` any orthophoto."""

    def __init__(self, path: str | Path | None = None, threshold: float | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path or MODEL_PATH)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        card = self.path.with_suffix(".json")
        meta = json.loads(card.read_text()) if card.exists() else {}
        self.threshold = float(threshold if threshold is not None else meta.get("threshold", 0.5))
        self.flips = bool(meta.get("test_time_flips", False))
        post = meta.get("postprocess", {})  # chosen on training sets only (benchmarks/footprints/postproc.py)
        self.edge_threshold = float(post.get("edge_threshold", 0.5))
        self.params = dataclasses.replace(PARAMS, **{k: float(post[k]) for k in ("opening_m", "min_area_m2")
                                                     if k in post})
        self.source = "model:" + self.path.stem

    def probabilities(self, rgb: np.ndarray, valid: np.ndarray, flips: bool | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(roof, edge) probabilities of one tile on the working grid (``flips``: averaged over the tile and its
        three mirror images; by default as the model's metadata says)."""
        x = normalise(rgb, valid)
        h, w = valid.shape
        ph, pw = -h % 16, -w % 16
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > 16 else "edge")
        views = ((), (1,), (2,), (1, 2)) if (self.flips if flips is None else flips) else ((),)
        prob = np.zeros((2, h, w), np.float32)
        for axes in views:
            xv = np.flip(x, axis=axes) if axes else x
            logits = self.session.run(None, {"image": np.ascontiguousarray(xv)[None]})[0][0]
            logits = np.flip(logits, axis=axes) if axes else logits
            prob += 1.0 / (1.0 + np.exp(-logits[:, :h, :w]))
        prob /= len(views)
        prob[:, ~valid] = 0.0
        return prob[0], prob[1]

    def extract(self, path: str | Path, grid: Grid | None = None, tile_px: int = TILE_PX,
                params: SegmentParams | None = None, max_tiles: int | None = None,
                height_path: str | Path | None = None) -> list:
        """Regularised footprints of the orthophoto at ``path``, measured on ``grid``'s CRS at 0.25 m
        (``max_tiles``: stop after that many tiles, for benchmarks). With a surface model (``height_path``) the
        roof probability is fused with the height above the local ground (``imagery.dsm.fuse``), read on the same
        grid by windows; each footprint then also carries its median height above ground."""
        from imagery.footprints import ExtractedFootprint

        grid = work_grid(path) if grid is None else Grid.from_bounds(_bounds(grid), WORK_RES_M, grid.crs)
        res = grid.resolution_m
        params = self.params if params is None else params
        found = []
        source = self.source + ("+dsm" if height_path else "")
        # GDAL's block cache would otherwise grow to 5 % of the machine's memory over a large orthophoto
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), \
                GridReader(path, grid, resampling=Resampling.average) as reader, \
                contextlib.ExitStack() as stack:
            heights = stack.enter_context(GridReader(height_path, grid)) if height_path else None
            for n, (read_win, core) in enumerate(grid.tiles(tile_px, OVERLAP_PX)):
                if max_tiles is not None and n >= max_tiles:
                    break
                rgb, valid = read_window(reader, read_win)
                if not valid.any():
                    continue
                roof, edge = self.probabilities(rgb, valid)
                above, planar = _above_ground(heights, grid, read_win) if heights is not None else (None, None)
                if above is not None:
                    roof = fuse(roof, above, planar=planar, vegetation=vegetation(rgb))
                tr = window_transform(read_win, grid.transform)
                cx0, cy1 = grid.transform @ (core.col_off, core.row_off)
                cx1, cy0 = grid.transform @ (core.col_off + core.width, core.row_off + core.height)
                for poly, rect, conf in outlines(roof, edge, valid, tr, res, self.threshold, params,
                                                 self.edge_threshold):
                    c = poly.centroid
                    if cx0 <= c.x < cx1 and cy0 < c.y <= cy1:
                        height_m = _median_inside(above, poly, tr) if above is not None else None
                        found.append(ExtractedFootprint(poly, rect, height_m, round(conf, 3), source))
        return found


def vegetation(rgb: np.ndarray, exg: float = SegmentParams().exg_vegetation) -> np.ndarray:
    """Green vegetation pixels of an RGB tile (excess green on chromaticities, as round 1)."""
    r, g, b = rgb.astype(np.float32)
    return (2 * g - r - b) / (r + g + b + 1.0) > exg


def _above_ground(heights: GridReader, grid: Grid, read_win: Window) -> tuple[np.ndarray, np.ndarray]:
    """Height above ground over ``read_win`` and how planar the surface is there (0-1: a logistic step at
    ``PLANE_RESIDUAL_M``), the ground estimated on a window wider by half the ground window (so that buildings
    near the tile's edge see the ground around them)."""
    margin = int(math.ceil(GROUND_WINDOW_M / 2 / grid.resolution_m))
    r0, c0 = max(0, int(read_win.row_off) - margin), max(0, int(read_win.col_off) - margin)
    r1 = min(grid.height, int(read_win.row_off + read_win.height) + margin)
    c1 = min(grid.width, int(read_win.col_off + read_win.width) + margin)
    surface = heights.read_float(Window(c0, r0, c1 - c0, r1 - r0))
    above = height_above_ground(surface, grid.resolution_m)
    residual = plane_residual(surface, grid.resolution_m)
    with np.errstate(over="ignore"):
        planar = 1.0 / (1.0 + np.exp((residual - PLANE_RESIDUAL_M) / 0.1))
    dr, dc = int(read_win.row_off) - r0, int(read_win.col_off) - c0
    core = (slice(dr, dr + int(read_win.height)), slice(dc, dc + int(read_win.width)))
    return above[core], planar[core].astype(np.float32)


def _median_inside(above: np.ndarray, poly: shapely.Polygon, transform) -> float | None:
    inside = (rasterize([poly], out_shape=above.shape, transform=transform) > 0) & np.isfinite(above)
    return round(float(np.median(above[inside])), 2) if inside.any() else None


def outlines(roof: np.ndarray, edge: np.ndarray, valid: np.ndarray, transform, res: float, threshold: float = 0.5,
             params: SegmentParams = PARAMS, edge_threshold: float = 0.5,
             ) -> list[tuple[shapely.Polygon, float, float]]:
    """(outline, rectangularity, confidence) of each building of the roof and edge maps of a tile (cores: roof
    pixels whose edge probability is below ``edge_threshold``)."""
    mask = (roof > threshold) & valid
    mask = ndi.binary_fill_holes(ndi.binary_closing(mask, np.ones((3, 3), bool)))
    k = max(1, round(params.opening_m / res))
    mask = ndi.binary_opening(mask, np.ones((k, k), bool)) if k > 1 else mask
    cores = mask & (edge < edge_threshold)
    seeds, n = ndi.label(cores)
    if n == 0:
        return []
    # grow the building cores back over the roof they lie on (touching roofs stay apart along their edges)
    dist, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    grown = np.where(mask & (dist <= 3.0 / res), seeds[iy, ix], 0)
    out = []
    for geom, value in shapes(grown.astype(np.int32), mask=grown > 0, transform=transform, connectivity=4):
        poly = shapely.geometry.shape(geom)
        got = _regular(poly, res, params)
        if got is None:
            continue
        outline, rect = got
        inside = rasterize([outline], out_shape=roof.shape, transform=transform) > 0
        conf = float(roof[inside].mean()) if inside.any() else 0.0
        out.append((outline, rect, conf))
    return out


def _regular(poly: shapely.Polygon, res: float, params: SegmentParams) -> tuple[shapely.Polygon, float] | None:
    if poly.geom_type != "Polygon":
        return None
    poly = shapely.Polygon(poly.exterior)
    return regularise(poly, res, params)

