"""Classical building segmentation of one image tile: masks from colour and height, then regular polygons.

No learnt model: vegetation by excess green, shadows by darkness relative to the local ground,
buildings as regions that stand out from a median background (RGB) or stand above the ground and
are planar (surface model); morphology, ``rasterio.features.shapes``, simplification and a minimum
rotated rectangle when the region is rectangular enough.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio.features import shapes
from scipy import ndimage as ndi


@dataclass(frozen=True)
class SegmentParams:
    """Thresholds of the segmentation (defaults tuned for 2-30 cm village orthophotos)."""

    min_area_m2: float = 5.0  # sheds and outhouses of 5-8 m² are claimed too
    max_area_m2: float = 5000.0
    background_cell_m: float = 4.0  # the ground colour is estimated on a grid of this cell ...
    background_window_m: float = 60.0  # ... as the median over this window (larger than half any roof)
    exg_vegetation: float = 0.06  # excess green (2g - r - b on chromaticities) above this is vegetation
    brightness_contrast: float = 0.15  # relative brightness difference from the ground that counts as distinct
    chroma_contrast: float = 0.08  # chromaticity distance from the ground that counts as distinct
    shadow_brightness: float = 0.7  # darker than this share of the ground, with the ground's chroma: shadow
    shadow_chroma: float = 0.12
    texture_window_m: float = 0.45  # local brightness variation is measured over this window, ...
    smooth_patch_m: float = 0.75  # ... the smoothest such window within this distance is kept, ...
    max_texture: float = 0.018  # ... and a region whose median of it exceeds this is rubble, not a roof:
    #   every roof plane (gable halves included) holds smooth windows, broken material holds none
    opening_m: float = 0.9  # structures narrower than this are removed (crop rows, lane markings)
    max_elongation: float = 6.0  # long side / short side of the rotated rectangle
    min_rectangularity: float = 0.6  # region area / rotated-rectangle area
    rectangle_above: float = 0.85  # above this rectangularity the outline becomes that rectangle
    simplify_px: float = 1.5
    min_height_m: float = 2.5  # height above ground of a building (surface model)
    max_plane_residual_m: float = 0.7  # roofs are planar at the DSM's pixel scale; crowns are not
    max_slope: float = 1.2  # metres per pixel step: steeper is a tree crown or a facade
    ground_window_m: float = 80.0  # the terrain under a surface model: grey opening over this window


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[-2] // f * f, a.shape[-1] // f * f
    if h == 0 or w == 0:
        return a.reshape(a.shape[:-2] + (1, 1)).astype(np.float32).mean((-2, -1), keepdims=True)
    v = a[..., :h, :w].astype(np.float32)
    return v.reshape(a.shape[:-2] + (h // f, f, w // f, f)).mean((-3, -1))


def _upsample(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    zoomed = ndi.zoom(a, (shape[0] / a.shape[0], shape[1] / a.shape[1]), order=1, mode="nearest")
    out = np.empty(shape, np.float32)
    h, w = min(shape[0], zoomed.shape[0]), min(shape[1], zoomed.shape[1])
    out[:h, :w] = zoomed[:h, :w]
    if h < shape[0]:
        out[h:, :w] = out[h - 1:h, :w]
    if w < shape[1]:
        out[:, w:] = out[:, w - 1:w]
    return out


def rgb_building_mask(rgb: np.ndarray, valid: np.ndarray, resolution_m: float,
                      params: SegmentParams = SegmentParams()) -> tuple[np.ndarray, np.ndarray]:
    """Candidate roof pixels and vegetation pixels of an RGB uint8 tile (3, h, w)."""
    mask, vegetation, _ = rgb_building_evidence(rgb, valid, resolution_m, params)
    return mask, vegetation


def contrast_confidence(score: np.ndarray) -> np.ndarray:
    """Round 1's per-pixel confidence from its contrast score (1 = just distinct from the ground): 0.5 at the
    threshold, 1 at twice it. A margin, not a calibrated probability."""
    return np.clip(score / 2.0, 0.0, 1.0)


def rgb_building_evidence(rgb: np.ndarray, valid: np.ndarray, resolution_m: float,
                          params: SegmentParams = SegmentParams()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate roof pixels, vegetation pixels and the contrast score with the local ground (> 1: distinct)
    of an RGB uint8 tile (3, h, w)."""
    img = rgb.astype(np.float32)
    r, g, b = img
    total = r + g + b + 1.0
    vegetation = (2 * g - r - b) / total > params.exg_vegetation
    f = max(1, round(params.background_cell_m / resolution_m))
    coarse = _block_mean(np.where(valid, img, np.nan), f)
    coarse_valid = ~np.isnan(coarse[0])
    win = max(3, round(params.background_window_m / (f * resolution_m)) | 1)
    background = []
    for band in coarse:
        filled = np.where(coarse_valid, band, np.nanmedian(band) if coarse_valid.any() else 0.0)
        background.append(_upsample(ndi.median_filter(filled, size=win, mode="nearest"), r.shape))
    bg_total = background[0] + background[1] + background[2] + 1.0
    ratio = total / bg_total
    chroma = np.zeros_like(r)
    for band, bg in zip(img, background):
        chroma += (band / total - bg / bg_total) ** 2
    np.sqrt(chroma, out=chroma)
    shadow = (ratio < params.shadow_brightness) & (chroma < params.shadow_chroma)
    score = np.hypot((ratio - 1) / params.brightness_contrast, chroma / params.chroma_contrast)
    distinct = majority((score > 1) & ~vegetation & ~shadow & valid)
    return drop_textured(distinct, total / 3.0, resolution_m, params), vegetation, score


def roughness(brightness: np.ndarray, resolution_m: float, params: SegmentParams = SegmentParams(),
              ) -> np.ndarray:
    """Per pixel, the smallest coefficient of variation of the brightness over a ``texture_window_m``
    window among the windows within ``smooth_patch_m``: low on any roof plane (even a narrow gable half
    next to a ridge or an edge), high only where the surface is rough everywhere (rubble)."""
    k = max(3, round(params.texture_window_m / resolution_m) | 1)
    mean = ndi.uniform_filter(brightness, k)
    mean_sq = ndi.uniform_filter(brightness * brightness, k)
    variation = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0)) / (mean + 1.0)
    return ndi.grey_erosion(variation, size=max(3, round(params.smooth_patch_m / resolution_m) | 1))


def drop_textured(mask: np.ndarray, brightness: np.ndarray, resolution_m: float,
                  params: SegmentParams = SegmentParams()) -> np.ndarray:
    """``mask`` without its connected regions whose median roughness says rubble, not roof.

    Demolition leaves a patch of broken material that differs from the ground as much as a roof does,
    but a roof is made of smooth planes and rubble is rough everywhere.
    """
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    rough_px = (roughness(brightness, resolution_m, params) > params.max_texture).ravel()
    # median above the threshold <=> more than half the region's pixels above it (bincounts, no sort)
    rough = np.bincount(labels.ravel(), weights=rough_px, minlength=n + 1)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    textured = 2 * rough > counts
    textured[0] = False
    return mask & ~textured[labels]


def majority(mask: np.ndarray) -> np.ndarray:
    """3 × 3 majority vote (a binary median filter through a box sum: fast)."""
    return ndi.uniform_filter(mask.astype(np.float32), size=3) > 0.5


def height_building_mask(height: np.ndarray, resolution_m: float, vegetation: np.ndarray | None = None,
                         params: SegmentParams = SegmentParams()) -> tuple[np.ndarray, np.ndarray]:
    """Candidate roof pixels of a surface model tile (above the ground, planar, not too steep, not
    vegetation) and the height above ground (the terrain is a grey opening of the surface)."""
    valid = np.isfinite(height)
    h = np.where(valid, height, np.nanmin(height) if valid.any() else 0.0).astype(np.float64)
    f = max(1, round(max(1.0, resolution_m) / resolution_m))
    coarse = _block_mean(h, f)
    win = max(3, round(params.ground_window_m / (f * resolution_m)) | 1)
    ground = _upsample(ndi.grey_opening(coarse, size=(win, win), mode="nearest"), h.shape)
    above = h - ground
    kx = np.array([[-1.0, 0.0, 1.0]] * 3)
    m1, m2 = ndi.uniform_filter(h, 3), ndi.uniform_filter(h * h, 3)
    gx, gy = ndi.correlate(h, kx) / 6, ndi.correlate(h, kx.T) / 6
    residual = np.sqrt(np.maximum(m2 - m1 * m1 - (gx * gx + gy * gy) * 6 / 9, 0))
    mask = valid & (above > params.min_height_m) & (residual < params.max_plane_residual_m) \
        & (np.hypot(gx, gy) < params.max_slope)
    if vegetation is not None:
        mask &= ~vegetation
    return majority(mask), np.where(valid, above, np.nan)


def clean_mask(mask: np.ndarray, resolution_m: float, params: SegmentParams = SegmentParams()) -> np.ndarray:
    """Closing (fill ridge lines), opening (remove thin structures), holes filled."""
    closed = ndi.binary_closing(mask, structure=np.ones((3, 3), bool))
    k = max(1, round(params.opening_m / resolution_m))
    opened = ndi.binary_opening(closed, structure=np.ones((k, k), bool)) if k > 1 else closed
    return ndi.binary_fill_holes(opened)


def regularise(poly: shapely.Polygon, resolution_m: float, params: SegmentParams = SegmentParams(),
               ) -> tuple[shapely.Polygon, float] | None:
    """The building outline of a traced region (or None when it is not building-shaped), and its rectangularity.

    A region whose area fills at least ``rectangle_above`` of its minimum rotated rectangle becomes that
    rectangle, shrunk about its centre to the region's area (the enclosing rectangle of a pixel staircase
    is half a pixel too large on every side); others are simplified (Douglas-Peucker).
    """
    area = poly.area
    if not params.min_area_m2 <= area <= params.max_area_m2:
        return None
    rect = shapely.minimum_rotated_rectangle(poly)
    rectangularity = area / rect.area if rect.area > 0 else 0.0
    c = shapely.get_coordinates(rect)
    sides = np.hypot(*np.diff(c[:3], axis=0).T)
    if rectangularity < params.min_rectangularity or sides.max() > params.max_elongation * max(sides.min(), 1e-9):
        return None
    if rectangularity >= params.rectangle_above:
        k = float(np.sqrt(rectangularity))
        centre = rect.centroid
        shrunk = shapely.transform(rect, lambda xy: (xy - [centre.x, centre.y]) * k + [centre.x, centre.y])
        return shrunk, rectangularity
    simple = shapely.simplify(poly, resolution_m * params.simplify_px)
    return (simple if simple.is_valid and not simple.is_empty else poly), rectangularity


def polygons(mask: np.ndarray, transform: Affine, resolution_m: float,
             params: SegmentParams = SegmentParams()) -> list[tuple[shapely.Polygon, float]]:
    """Traced, filtered and regularised outlines of the regions of ``mask`` (map coordinates)."""
    labels, n = ndi.label(mask)
    if n == 0:
        return []
    out = []
    for geom, _ in shapes(labels.astype(np.int32), mask=labels > 0, transform=transform, connectivity=4):
        poly = shapely.geometry.shape(geom)
        done = regularise(poly, resolution_m, params)
        if done is not None:
            out.append(done)
    return out
