"""Change between two flights: one grid, radiometric normalisation, changed share of each building and parcel."""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling
from scipy import ndimage as ndi
from sqlalchemy import Connection, text

from imagery.catalogue import get_orthophoto
from imagery.errors import ChangeInputError
from imagery.readers import Grid, GridReader
from imagery.zonal import zonal_stats

TILE_PX = 2048


@dataclass(frozen=True)
class ChangeParams:
    """Thresholds of the change detector (after normalisation, in 8-bit digital numbers)."""

    smooth_px: int = 5  # box filter before comparing (noise, sub-pixel misregistration)
    colour_dn: float = 25.0  # RGB distance (per band, RMS) that counts as changed
    texture_dn: float = 6.0  # difference of local brightness standard deviation that counts as changed
    exg_vegetation: float = 0.06  # pixels green in both flights (growth, season) are not counted as changed
    min_blob_px: int = 3  # opening that removes isolated changed pixels
    normalise_sample_px: int = 1024  # longest side of the decimated read that fits the normalisation


@dataclass(frozen=True)
class ChangeSummary:
    """What a comparison found."""

    grid: Grid
    observed_px: int
    changed_px: int
    gains: list[float]
    offsets: list[float]
    subjects: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # type -> (keys, observed_px, changed_px)

    @property
    def changed_share(self) -> float:
        """Share of the commonly observed area that changed."""
        return self.changed_px / self.observed_px if self.observed_px else 0.0


def common_grid(baseline: dict, after: dict, srid: int) -> Grid:
    """The project-CRS grid over the common footprint of two orthophotos, at the coarser resolution."""
    common = shapely.intersection(baseline["footprint"], after["footprint"])
    if common.is_empty or common.area <= 0:
        raise ChangeInputError(f"orthophotos {baseline['id']} and {after['id']} do not overlap")
    res = max(float(baseline["resolution_m"]), float(after["resolution_m"]))
    return Grid.from_bounds(common.bounds, res, rasterio.crs.CRS.from_epsg(srid))


def _coarse(grid: Grid, max_px: int) -> Grid:
    f = max(1.0, max(grid.width, grid.height) / max_px)
    return Grid(grid.crs, grid.transform @ Affine.scale(f), max(1, int(grid.width / f)), max(1, int(grid.height / f)))


def fit_normalisation(baseline_path: str | Path, after_path: str | Path, grid: Grid,
                      params: ChangeParams = ChangeParams()) -> tuple[np.ndarray, np.ndarray]:
    """Per-band gain and offset mapping the after flight onto the baseline's radiometry.

    Robust linear fit (median and 5-95 percentile spread) on a decimated read of the pixels valid in both,
    starting from the identity and
    refitted on pseudo-invariant pixels: the half that differs least under the previous fit (so that
    demolished houses or a changed crop do not bend the fit).
    """
    coarse = _coarse(grid, params.normalise_sample_px)
    window = rasterio.windows.Window(0, 0, coarse.width, coarse.height)
    with GridReader(baseline_path, coarse, Resampling.average) as b, GridReader(after_path, coarse,
                                                                                   Resampling.average) as a:
        both = b.valid(window) & a.valid(window)
        if both.sum() < 16:
            raise ChangeInputError("the two orthophotos share too few valid pixels to be compared")
        bv, av = b.read(window)[:, both].astype(np.float64), a.read(window)[:, both].astype(np.float64)
    gains, offsets = np.ones(len(bv)), np.zeros(len(bv))
    for _ in range(3):
        distance = np.sqrt(((bv - (av * gains[:, None] + offsets[:, None])) ** 2).mean(0))
        invariant = distance <= np.median(distance)
        gains, offsets = _robust_fit(bv[:, invariant], av[:, invariant])
    return gains.astype(np.float32), offsets.astype(np.float32)


def _robust_fit(bv: np.ndarray, av: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q_b, q_a = np.percentile(bv, [5, 50, 95], axis=1), np.percentile(av, [5, 50, 95], axis=1)
    spread_a = q_a[2] - q_a[0]
    gains = np.where(spread_a > 4, (q_b[2] - q_b[0]) / np.maximum(spread_a, 4), 1.0)
    return gains, q_b[1] - gains * q_a[1]


def change_mask(base: np.ndarray, after: np.ndarray, params: ChangeParams = ChangeParams()) -> np.ndarray:
    """Changed pixels of two co-registered, normalised RGB tiles (3, h, w) float32."""
    k = params.smooth_px
    mb = ndi.uniform_filter(base, size=(1, k, k))
    ma = ndi.uniform_filter(after, size=(1, k, k))
    colour = np.sqrt(((mb - ma) ** 2).mean(0))

    def texture(img: np.ndarray) -> np.ndarray:
        grey = img.mean(0)
        m1, m2 = ndi.uniform_filter(grey, k), ndi.uniform_filter(grey * grey, k)
        return np.sqrt(np.maximum(m2 - m1 * m1, 0))

    def green(img: np.ndarray) -> np.ndarray:
        r, g, b = img
        return (2 * g - r - b) / (r + g + b + 1.0) > params.exg_vegetation

    changed = (colour > params.colour_dn) | (np.abs(texture(base) - texture(after)) > params.texture_dn)
    changed &= ~(green(mb) & green(ma))
    if params.min_blob_px > 1:
        changed = ndi.binary_opening(changed, structure=np.ones((params.min_blob_px,) * 2, bool))
    return changed


def compare(baseline_path: str | Path, after_path: str | Path, grid: Grid,
            subjects: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
            params: ChangeParams = ChangeParams(), map_path: str | Path | None = None) -> ChangeSummary:
    """Compare two flights on ``grid`` tile by tile; count observed and changed pixels per subject.

    The per-subject counts are coverage-weighted (``imagery.zonal``, exactextract over the change map):
    a pixel counts by the share of it that the subject covers.

    ``subjects`` maps a subject type to (keys, polygons in the grid CRS). ``map_path`` receives the
    change map (uint8 GeoTIFF: 0 unchanged, 1 changed, 255 not observed in both flights).
    """
    gains, offsets = fit_normalisation(baseline_path, after_path, grid, params)
    subjects = subjects or {}
    observed = changed_total = 0
    overlap = params.smooth_px + params.min_blob_px
    with contextlib.ExitStack() as stack:
        if map_path is None and subjects:  # the per-subject figures are read back from the map
            map_path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="expro-change-"))) / "change.tif"
        out = None
        if map_path is not None:
            out = stack.enter_context(rasterio.open(
                map_path, "w", driver="GTiff", width=grid.width, height=grid.height, count=1, dtype="uint8",
                crs=grid.crs, transform=grid.transform, nodata=255, tiled=True, blockxsize=512, blockysize=512,
                compress="deflate"))
        with GridReader(baseline_path, grid) as b, GridReader(after_path, grid) as a:
            for read_win, core in grid.tiles(TILE_PX, overlap):
                valid = b.valid(read_win) & a.valid(read_win)
                r0, c0 = int(core.row_off - read_win.row_off), int(core.col_off - read_win.col_off)
                sl = (slice(r0, r0 + int(core.height)), slice(c0, c0 + int(core.width)))
                valid_core = valid[sl]
                if not valid_core.any():
                    if out is not None:
                        out.write(np.full((int(core.height), int(core.width)), 255, np.uint8), 1, window=core)
                    continue
                base = b.read(read_win).astype(np.float32)
                aft = a.read(read_win).astype(np.float32) * gains[:, None, None] + offsets[:, None, None]
                changed = change_mask(base, aft, params)[sl] & valid_core
                observed += int(valid_core.sum())
                changed_total += int(changed.sum())
                if out is not None:
                    out.write(np.where(valid_core, changed.astype(np.uint8), np.uint8(255)), 1, window=core)
        if out is not None:
            out.close()
        # per subject, coverage-weighted: observed = covered valid pixels, changed = covered changed pixels
        per_subject = {}
        for t, (keys, geoms) in subjects.items():
            assert map_path is not None            # a temporary one is made above whenever there are subjects
            stats = zonal_stats(map_path, geoms, grid.crs, ops=("count", "sum"))
            per_subject[t] = (keys, np.nan_to_num(stats["count"]), np.nan_to_num(stats["sum"]))
    return ChangeSummary(grid, observed, changed_total, gains.tolist(), offsets.tolist(), per_subject)


def _project_subjects(conn: Connection, project_id: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for kind, sql in (("building", "SELECT parcel_code || '/' || building_no AS k, ST_AsBinary(geom) AS g "
                                   "FROM building WHERE project_id = :p ORDER BY id"),
                      ("parcel", "SELECT parcel_code AS k, ST_AsBinary(geom) AS g FROM parcel "
                                 "WHERE project_id = :p ORDER BY id")):
        rows = conn.execute(text(sql), {"p": project_id}).all()
        out[kind] = (np.array([r.k for r in rows], dtype=object),
                     np.array([shapely.from_wkb(bytes(r.g)) for r in rows], dtype=object))
    return out


def compare_orthophotos(conn: Connection, baseline_id: int, after_id: int, *,
                        params: ChangeParams = ChangeParams(), map_path: str | Path | None = None,
                        ) -> ChangeSummary:
    """Compare two ingested flights of one project and store the changed share of every building and parcel."""
    baseline = get_orthophoto(conn, baseline_id, ingested=True)
    after = get_orthophoto(conn, after_id, ingested=True)
    if baseline_id == after_id:
        raise ChangeInputError("compare two different orthophotos")
    if baseline["project_id"] != after["project_id"]:
        raise ChangeInputError(f"orthophotos {baseline_id} and {after_id} belong to different projects")
    grid = common_grid(baseline, after, baseline["srid"])
    subjects = _project_subjects(conn, baseline["project_id"])
    summary = compare(baseline["cog_path"], after["cog_path"], grid, subjects, params, map_path)
    store_change(conn, baseline, after, summary, subjects, params)
    return summary


def store_change(conn: Connection, baseline: dict, after: dict, summary: ChangeSummary,
                 subjects: dict[str, tuple[np.ndarray, np.ndarray]], params: ChangeParams) -> int:
    """Replace the stored fractions of this pair of flights; returns the number of rows."""
    px_m2 = summary.grid.resolution_m ** 2
    conn.execute(text("DELETE FROM change_fraction WHERE project_id = :p AND baseline_ortho_id = :b "
                      "AND after_ortho_id = :a"), {"p": baseline["project_id"], "b": baseline["id"], "a": after["id"]})
    meta = json.dumps({**asdict(params), "gains": summary.gains, "offsets": summary.offsets})
    rows = []
    for kind, (keys, obs, chg) in summary.subjects.items():
        areas = shapely.area(subjects[kind][1])
        for key, area, o, c in zip(keys, areas, obs, chg):
            rows.append({"p": baseline["project_id"], "t": kind, "k": key, "b": baseline["id"], "a": after["id"],
                         "area": float(area), "of": float(min(1.0, o * px_m2 / area)) if area > 0 else 0.0,
                         "cf": float(c / o) if o else None, "ca": float(c * px_m2),
                         "res": summary.grid.resolution_m, "params": meta})
    if rows:
        conn.execute(text("""
            INSERT INTO change_fraction (project_id, subject_type, subject_key, baseline_ortho_id, after_ortho_id,
                                         area_m2, observed_fraction, changed_fraction, changed_area_m2,
                                         resolution_m, params)
            VALUES (:p, :t, :k, :b, :a, :area, :of, :cf, :ca, :res, CAST(:params AS jsonb))"""), rows)
    return len(rows)


def quicklook(baseline_path: str | Path, after_path: str | Path, map_path: str | Path, png_path: str | Path,
              max_px: int = 1200) -> Path:
    """A side-by-side PNG: baseline | after | after with changed pixels in red (decimated)."""
    from PIL import Image

    with rasterio.open(map_path) as m:
        grid = Grid(m.crs, m.transform, m.width, m.height)
    coarse = _coarse(grid, max_px // 3 if max_px >= 3 else 1)
    window = rasterio.windows.Window(0, 0, coarse.width, coarse.height)
    with GridReader(baseline_path, coarse, Resampling.average) as b, \
            GridReader(after_path, coarse, Resampling.average) as a, \
            GridReader(map_path, coarse, Resampling.nearest) as m:
        base, aft = b.read(window), a.read(window)
        changed = m.read(window, indexes=[1])[0] == 1
    overlay = aft.copy()
    overlay[0][changed], overlay[1][changed], overlay[2][changed] = 230, 30, 30
    gap = np.full((3, coarse.height, 4), 255, np.uint8)
    panel = np.concatenate([base, gap, aft, gap, overlay], axis=2)
    Image.fromarray(np.moveaxis(panel, 0, -1)).save(png_path)
    return Path(png_path)


def changed_fraction_summary(summary: ChangeSummary, kind: str, threshold: float = 0.5) -> dict:
    """Counts of subjects of ``kind``: observed, and changed on more than ``threshold`` of their area."""
    keys, obs, chg = summary.subjects.get(kind, (np.empty(0), np.empty(0), np.empty(0)))
    seen = obs > 0
    frac = np.divide(chg, obs, out=np.zeros(len(obs)), where=seen)
    return {"subjects": int(len(keys)), "observed": int(seen.sum()),
            "changed": int((frac > threshold).sum()), "threshold": threshold,
            "median_fraction": float(np.median(frac[seen])) if seen.any() else math.nan}
