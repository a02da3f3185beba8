"""Roof segmentation by a small U-Net (trained on this machine, see ``imagery/models/MODEL_CARD.md``), run with
onnxruntime tile by tile on the ``WORK_RES_M`` grid so that memory stays bounded on any orthophoto.

The network gives two maps: roof, and the edge band of each roof. Roofs are the roof pixels away from edges,
split into buildings, grown back into the roof, traced and regularised; each outline's confidence is its mean
roof probability.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.features import rasterize, shapes
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from scipy import ndimage as ndi

from imagery.readers import Grid, GridReader
from imagery.segment import SegmentParams, regularise

WORK_RES_M = 0.25
MODEL_PATH = Path(__file__).with_name("models") / "footprints_unet.onnx"
TILE_PX = 512
GDAL_CACHE_MB = 128
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
        self.source = "model:" + self.path.stem

    def probabilities(self, rgb: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(roof, edge) probabilities of one tile on the working grid."""
        x = normalise(rgb, valid)
        h, w = valid.shape
        ph, pw = -h % 16, -w % 16
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > 16 else "edge")
        logits = self.session.run(None, {"image": x[None]})[0][0, :, :h, :w]
        prob = 1.0 / (1.0 + np.exp(-logits))
        prob[:, ~valid] = 0.0
        return prob[0], prob[1]

    def extract(self, path: str | Path, grid: Grid | None = None, tile_px: int = TILE_PX,
                params: SegmentParams = PARAMS, max_tiles: int | None = None) -> list:
        """Regularised footprints of the orthophoto at ``path``, measured on ``grid``'s CRS at 0.25 m
        (``max_tiles``: stop after that many tiles, for benchmarks)."""
        from imagery.footprints import ExtractedFootprint

        grid = work_grid(path) if grid is None else Grid.from_bounds(_bounds(grid), WORK_RES_M, grid.crs)
        res = grid.resolution_m
        found = []
        # GDAL's block cache would otherwise grow to 5 % of the machine's memory over a large orthophoto
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), \
                GridReader(path, grid, resampling=Resampling.average) as reader:
            for n, (read_win, core) in enumerate(grid.tiles(tile_px, OVERLAP_PX)):
                if max_tiles is not None and n >= max_tiles:
                    break
                rgb, valid = read_window(reader, read_win)
                if not valid.any():
                    continue
                roof, edge = self.probabilities(rgb, valid)
                tr = window_transform(read_win, grid.transform)
                cx0, cy1 = grid.transform @ (core.col_off, core.row_off)
                cx1, cy0 = grid.transform @ (core.col_off + core.width, core.row_off + core.height)
                for poly, rect, conf in outlines(roof, edge, valid, tr, res, self.threshold, params):
                    c = poly.centroid
                    if cx0 <= c.x < cx1 and cy0 < c.y <= cy1:
                        found.append(ExtractedFootprint(poly, rect, None, round(conf, 3), self.source))
        return found


def outlines(roof: np.ndarray, edge: np.ndarray, valid: np.ndarray, transform, res: float, threshold: float = 0.5,
             params: SegmentParams = PARAMS) -> list[tuple[shapely.Polygon, float, float]]:
    """(outline, rectangularity, confidence) of each building of the roof and edge maps of a tile."""
    mask = (roof > threshold) & valid
    mask = ndi.binary_fill_holes(ndi.binary_closing(mask, np.ones((3, 3), bool)))
    k = max(1, round(params.opening_m / res))
    mask = ndi.binary_opening(mask, np.ones((k, k), bool)) if k > 1 else mask
    cores = mask & (edge < 0.5)
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

