"""Scoring of footprint extractors on real labelled imagery and on rendered districts (one place for the harness,
the training script's leave-one-set-out folds and the tests)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely

from imagery.footprints import best_iou, score_footprints

REAL_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
#: The real drone sets with OpenStreetMap outlines (README of the real data).
DRONE_SETS = ("dhulikhel_a", "dhulikhel_b", "kampala", "banepa", "nairobi_a")

Extractor = Callable[[Path], list]  # an RGB GeoTIFF -> footprints with a ``geometry``


def drone_paths(name: str, real_dir: Path = REAL_DIR) -> tuple[Path, Path]:
    """(orthophoto, OSM outlines) of one drone set."""
    return real_dir / f"drone_{name}_rgb.tif", real_dir / f"drone_{name}_buildings.geojson"


def labels_inside(rgb: Path, labels: Path | gpd.GeoDataFrame) -> np.ndarray:
    """The reference outlines (in the image's CRS) whose centroid falls on a valid pixel of the image."""
    with rasterio.open(rgb) as src:
        frame = labels if isinstance(labels, gpd.GeoDataFrame) else gpd.read_file(labels)
        geoms = shapely.make_valid(frame.to_crs(src.crs).geometry.to_numpy())
        geoms = np.array([g if g.geom_type == "Polygon" else max(getattr(g, "geoms", [g]), key=lambda p: p.area)
                          for g in geoms], dtype=object)
        cents = shapely.centroid(geoms)
        rows, cols = rasterio.transform.rowcol(src.transform, shapely.get_x(cents), shapely.get_y(cents))
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        mask = src.dataset_mask()
        keep = np.zeros(len(geoms), bool)
        keep[inside] = mask[rows[inside], cols[inside]] > 0
    return geoms[keep & (shapely.area(geoms) > 0)]


def score(measured: np.ndarray, truth: np.ndarray, match_iou: float = 0.5) -> dict:
    """Building-level precision, recall, F1 at ``match_iou``, median IoU and the area error of matched buildings."""
    s = score_footprints(measured, truth, match_iou=match_iou)
    p, r = s["precision"], s["recall"]
    s["f1"] = 2 * p * r / (p + r) if p + r else 0.0
    errors = []
    if len(measured) and len(truth):
        tree = shapely.STRtree(measured)
        iu = best_iou(truth, measured)
        for t, v in zip(truth, iu):
            if v < match_iou:
                continue
            cand = measured[tree.query(t, predicate="intersects")]
            ious = shapely.area(shapely.intersection(cand, t)) / shapely.area(shapely.union(cand, t))
            m = cand[int(np.argmax(ious))]
            errors.append(m.area / t.area - 1.0)
    s["median_area_error"] = float(np.median(errors)) if errors else None
    s["median_abs_area_error"] = float(np.median(np.abs(errors))) if errors else None
    return s


def score_set(extract: Extractor, rgb: Path, labels: Path | gpd.GeoDataFrame) -> dict:
    """Run ``extract`` on ``rgb`` and score it against ``labels`` (centroids on valid pixels)."""
    truth = labels_inside(rgb, labels)
    found = extract(rgb)
    measured = np.array([f.geometry for f in found], dtype=object)
    return score(measured, truth)


def atlanta_as_rgb(real_dir: Path = REAL_DIR, out_dir: Path | None = None) -> Path:
    """The panchromatic Atlanta image as a grey RGB uint8 GeoTIFF (2-98 % stretch), for RGB extractors."""
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="atlanta_"))
    path = out_dir / "atlanta_grey_rgb.tif"
    with rasterio.open(real_dir / "spacenet_atlanta_pan.tif") as src:
        pan = src.read(1).astype(np.float32)
        valid = pan > 0
        lo, hi = np.percentile(pan[valid], [2, 98])
        grey = np.clip((pan - lo) / (hi - lo) * 254 + 1, 1, 255).astype(np.uint8)
        grey[~valid] = 0
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=3, dtype="uint8",
                       crs=src.crs, transform=src.transform, nodata=0)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([grey] * 3))
    return path
