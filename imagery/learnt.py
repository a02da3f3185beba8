"""A learnt roof segmenter: a gradient-boosted pixel classifier on colour, texture and edge features.

The image is read onto a grid of ``WORK_RES_M`` pixels (whatever its own resolution), in tiles with an overlap,
so memory stays bounded on any orthophoto; per pixel, features at several scales in metres; LightGBM gives the
probability of roof; the probability map is thresholded, cleaned and traced into regularised outlines, each
with a confidence (its mean probability). A baseline beside the U-Net of ``imagery.cnn``: trained by
``scripts/train_footprints.py`` into ``benchmarks/out/footprint_folds/`` (not committed: it generalises far
worse than the U-Net, see ``benchmarks/footprints/README.md``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import shapely
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.windows import transform as window_transform
from scipy import ndimage as ndi

from imagery.readers import Grid, GridReader
from imagery.segment import SegmentParams, polygons

WORK_RES_M = 0.2
_OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "out"
MODEL_PATH = _OUT / "footprint_folds" / "footprints_all.txt"  # written by scripts/train_footprints.py --final
SOURCE = "model:" + MODEL_PATH.stem
TILE_PX = 1024
CONTEXT_M = 24.0  # the widest feature window reaches this far: the overlap of tiles
LEARNT_PARAMS = SegmentParams(min_area_m2=5.0, min_rectangularity=0.5, rectangle_above=0.85, opening_m=0.8,
                              max_elongation=8.0)

FEATURE_NAMES: list[str] = []


def _box(a: np.ndarray, px: float) -> np.ndarray:
    return ndi.uniform_filter(a, size=max(1, int(round(px))), mode="reflect")


def features(rgb: np.ndarray, valid: np.ndarray, res: float = WORK_RES_M) -> np.ndarray:
    """Per-pixel features (n, h, w) float32 of an RGB uint8 tile (3, h, w) on a ``res`` grid."""
    img = rgb.astype(np.float32) / 255.0
    fill = img[:, valid].mean(axis=1) if valid.any() else np.full(3, 0.5, np.float32)
    img = np.where(valid[None], img, fill[:, None, None])
    r, g, b = img
    bright = (r + g + b) / 3
    total = r + g + b + 1e-3
    cr, cg = r / total, g / total
    exg = 2 * cg - cr - b / total
    mx, mn = img.max(0), img.min(0)
    sat = (mx - mn) / (mx + 1e-3)
    m = 1.0 / res  # pixels per metre
    out = [r, g, b, bright, cr, cg, exg, sat]
    # local means and spreads at 0.6, 1.5, 4 m
    for w_m in (0.6, 1.5, 4.0):
        mu = _box(bright, w_m * m)
        sd = np.sqrt(np.maximum(_box(bright * bright, w_m * m) - mu * mu, 0))
        out += [mu, sd / (mu + 0.02)]
    for w_m in (1.5, 4.0):
        out += [_box(cr, w_m * m), _box(cg, w_m * m), _box(sat, w_m * m), _box(exg, w_m * m)]
    # edges: gradient magnitude at two scales, edge density, straightness (structure-tensor coherence)
    for s_m in (0.2, 0.6):
        gx = ndi.gaussian_filter(bright, s_m * m, order=(0, 1))
        gy = ndi.gaussian_filter(bright, s_m * m, order=(1, 0))
        mag = np.hypot(gx, gy)
        out += [mag, _box(mag, 2.0 * m)]
        jxx, jyy, jxy = (ndi.gaussian_filter(v, 1.0 * m) for v in (gx * gx, gy * gy, gx * gy))
        coh = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / (jxx + jyy + 1e-6)
        out.append(coh)
    # blobs at building scale (difference of Gaussians)
    g1, g3, g8 = (ndi.gaussian_filter(bright, s * m) for s in (1.0, 3.0, 8.0))
    out += [bright - g3, g1 - g8, g3 - g8]
    # contrast with the local ground: median over ~24 m on a 2 m grid
    f = max(1, int(round(2.0 / res)))
    h, w = bright.shape
    hh, ww = max(1, h // f), max(1, w // f)
    coarse = [ndi.zoom(c, (hh / h, ww / w), order=1) for c in (bright, cr, cg)]
    bg = [ndi.zoom(ndi.median_filter(c, size=max(3, int(CONTEXT_M / 2.0) | 1), mode="reflect"),
                   (h / c.shape[0], w / c.shape[1]), order=1) for c in coarse]
    bg = [np.pad(x, ((0, max(0, h - x.shape[0])), (0, max(0, w - x.shape[1]))), mode="edge")[:h, :w] for x in bg]
    out += [bright / (bg[0] + 0.02), cr - bg[1], cg - bg[2],
            np.hypot(cr - bg[1], cg - bg[2]), _box(bright / (bg[0] + 0.02), 1.5 * m)]
    stack = np.stack(out).astype(np.float32)
    if not FEATURE_NAMES:
        FEATURE_NAMES.extend(f"f{i}" for i in range(len(stack)))
    return stack


def work_grid(path: str | Path, resolution_m: float = WORK_RES_M) -> Grid:
    """The ``resolution_m`` grid over a north-up raster, in its own CRS."""
    import rasterio

    with rasterio.open(path) as src:
        return Grid.from_bounds(tuple(src.bounds), resolution_m, src.crs)


def read_rgb(path: str | Path, grid: Grid, window=None) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, valid) of ``path`` on ``grid`` (averaged when coarser than the source)."""
    from rasterio.windows import Window

    window = window or Window(0, 0, grid.width, grid.height)
    with GridReader(path, grid, resampling=Resampling.average) as reader:
        return _read(reader, window)


def _read(reader: GridReader, window) -> tuple[np.ndarray, np.ndarray]:
    valid = reader.valid(window)
    if reader.count >= 3:
        rgb = reader.read(window)
    else:
        band = reader.read(window, indexes=[1])
        rgb = np.repeat(band, 3, axis=0)
    return rgb, valid


class FootprintModel:
    """The learnt roof segmenter, loaded once; ``extract`` works tile by tile on any orthophoto."""

    def __init__(self, booster, threshold: float = 0.5, source: str = SOURCE) -> None:
        self.booster = booster
        self.threshold = threshold
        self.source = source

    @classmethod
    def load(cls, path: str | Path | None = None, threshold: float | None = None) -> FootprintModel:
        """The model at ``path`` (LightGBM text; the committed model by default)."""
        import lightgbm

        path = Path(path or MODEL_PATH)
        booster = lightgbm.Booster(model_file=str(path))
        card = path.with_suffix(".json")
        if threshold is None:
            threshold = float(json.loads(card.read_text())["threshold"]) if card.exists() else 0.5
        return cls(booster, threshold, "model:" + path.stem)

    def probability(self, rgb: np.ndarray, valid: np.ndarray, res: float = WORK_RES_M) -> np.ndarray:
        """Probability of roof per pixel of one tile."""
        feats = features(rgb, valid, res)
        n, h, w = feats.shape
        prob = np.zeros(h * w, np.float32)
        flat_valid = valid.ravel()
        if flat_valid.any():
            x = feats.reshape(n, -1)[:, flat_valid].T
            prob[flat_valid] = self.booster.predict(x, num_threads=1)
        return prob.reshape(h, w)

    def extract(self, path: str | Path, grid: Grid | None = None, tile_px: int = TILE_PX,
                params: SegmentParams = LEARNT_PARAMS) -> list:
        """Regularised footprints of the orthophoto at ``path`` on ``grid`` (default: its own CRS at 0.2 m)."""
        from imagery.footprints import ExtractedFootprint

        if grid is None:
            grid = work_grid(path)
        elif abs(grid.resolution_m - WORK_RES_M) > 1e-9:
            grid = Grid.from_bounds(_bounds(grid), WORK_RES_M, grid.crs)
        res = grid.resolution_m
        overlap = math.ceil(max(CONTEXT_M, math.sqrt(params.max_area_m2) * 0.6) / res)
        found = []
        with GridReader(path, grid, resampling=Resampling.average) as reader:
            for read_win, core in grid.tiles(tile_px, overlap):
                rgb, valid = _read(reader, read_win)
                if not valid.any():
                    continue
                prob = self.probability(rgb, valid, res)
                tr = window_transform(read_win, grid.transform)
                cx0, cy1 = grid.transform @ (core.col_off, core.row_off)
                cx1, cy0 = grid.transform @ (core.col_off + core.width, core.row_off + core.height)
                for poly, rect, conf in outlines(prob, valid, tr, res, self.threshold, params):
                    c = poly.centroid
                    if cx0 <= c.x < cx1 and cy0 < c.y <= cy1:
                        found.append(ExtractedFootprint(poly, rect, None, round(conf, 3), self.source))
        return found


def _bounds(grid: Grid) -> tuple[float, float, float, float]:
    t = grid.transform
    return (t.c, t.f + t.e * grid.height, t.c + t.a * grid.width, t.f)


def outlines(prob: np.ndarray, valid: np.ndarray, transform, res: float, threshold: float = 0.5,
             params: SegmentParams = LEARNT_PARAMS) -> list[tuple[shapely.Polygon, float, float]]:
    """(outline, rectangularity, confidence) of the roofs of a probability map: smoothed, thresholded,
    cleaned (closing, opening, holes filled), touching roofs split at narrow necks, traced and regularised."""
    smooth = ndi.gaussian_filter(prob, 1.0)
    mask = (smooth > threshold) & valid
    mask = ndi.binary_closing(mask, np.ones((3, 3), bool))
    k = max(1, round(params.opening_m / res))
    mask = ndi.binary_opening(mask, np.ones((k, k), bool)) if k > 1 else mask
    mask = ndi.binary_fill_holes(mask)
    out = []
    for poly, rect in polygons(mask, transform, res, params):
        inside = rasterize([poly], out_shape=prob.shape, transform=transform) > 0
        conf = float(prob[inside].mean()) if inside.any() else 0.0
        out.append((poly, rect, conf))
    return out
