"""Synthetic RGB drone orthophotos of a rural village, rendered from vector layers (demo/test data)."""

from __future__ import annotations

import math
import os
from statistics import NormalDist
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import ColorInterp
from rasterio.features import rasterize
from rasterio.transform import from_origin
from rasterio.windows import Window

from gis_core.errors import GeographicCRSError

ROOF_COLOURS: dict[str, tuple[int, int, int]] = {
    "tile": (172, 84, 60),  # red/orange clay tile
    "steel": (86, 116, 154),  # blue-grey colour-coated steel
    "concrete": (112, 116, 124),  # grey flat concrete
    "tan": (234, 202, 164),  # light tan
}
ROOF_WEIGHTS: dict[str, float] = {"tile": 0.45, "steel": 0.25, "concrete": 0.22, "tan": 0.08}
GROUND_COLOURS = ((170, 155, 130), (158, 150, 137))  # dusty brown, grey-brown courtyard
LANE_COLOUR = (198, 196, 190)
CROP_COLOUR, ROW_SOIL_COLOUR = (70, 112, 50), (128, 108, 80)
TILLED_COLOURS = ((134, 105, 77), (104, 82, 61))
TREE_COLOUR = (50, 80, 40)
RUBBLE_COLOURS = ((142, 128, 110), (120, 112, 104))
SHADOW_FACTOR = 0.45
NOISE_SIGMA = 2.5
BLOCK = 512
_SUN = np.array([1.0, 1.0]) / math.sqrt(2.0)  # towards the sun in pixel space (col east, row south)
_HASH_M = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0xBF58476D1CE4E5B9),
           np.uint64(0x94D049BB133111EB))


def _hash01(a: np.ndarray, b: np.ndarray, key: int) -> np.ndarray:
    """Uniform [0, 1) float32 from integer lattice coordinates (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = a.astype(np.uint64) * _HASH_M[0] + b.astype(np.uint64) * _HASH_M[1] + np.uint64(key)
        h ^= h >> np.uint64(30)
        h *= _HASH_M[2]
        h ^= h >> np.uint64(27)
        h *= _HASH_M[3]
        h ^= h >> np.uint64(31)
    return ((h >> np.uint64(40)).astype(np.float32) / np.float32(2**24)).astype(np.float32)


def _value_noise(r0: int, h: int, w: int, cell_px: float, key: int) -> np.ndarray:
    """Smooth value noise in [0, 1] that depends only on the global pixel position (strip-invariant)."""
    cell = max(float(cell_px), 1.0)
    ry, cx = (np.arange(r0, r0 + h) + 0.5) / cell, (np.arange(w) + 0.5) / cell
    iy, ix = np.floor(ry).astype(np.int64), np.floor(cx).astype(np.int64)
    fy, fx = [(f * f * (3 - 2 * f)).astype(np.float32) for f in (ry - iy, cx - ix)]
    ly = np.arange(iy[0], iy[-1] + 2)
    lat = _hash01(ly[:, None], np.arange(ix[-1] + 2)[None, :], key)
    rows = lat[:, ix] * (1 - fx) + lat[:, ix + 1] * fx
    j = iy - ly[0]
    out, nxt = rows[j], rows[j + 1]
    out *= (1 - fy)[:, None]
    nxt *= fy[:, None]
    out += nxt
    return out


_NOISE_LUT = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], np.float32)


def _add_row_noise(img: np.ndarray, seed: int, r0: int, sigma: float) -> None:
    """Add Gaussian-like sensor noise in place; each global row has its own generator seeded by (seed, row)."""
    lut, (nb, h, w) = _NOISE_LUT * np.float32(sigma), img.shape
    for i in range(h):
        u = np.frombuffer(np.random.default_rng((seed, 0x5EED, r0 + i)).bytes(nb * w), np.uint8)
        img[:, i, :] += lut[u].reshape(nb, w)


class _Layer:
    """Pixel-space geometries with an STRtree and per-geometry burn values."""

    def __init__(self, geoms: np.ndarray, values: np.ndarray | None = None) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        self.values = np.arange(1, len(self.geoms) + 1) if values is None else np.asarray(values)
        self.tree = shapely.STRtree(self.geoms) if len(self.geoms) else None

    def burn(self, r0: int, h: int, w: int, dtype: Any = np.int32) -> np.ndarray:
        """Rasterise geometries touching rows [r0, r0+h) (pixel-centre rule; later geometries win)."""
        idx = (np.sort(self.tree.query(shapely.box(0, r0, w, r0 + h))) if self.tree is not None
               else np.empty(0, dtype=np.intp))
        if len(idx) == 0:
            return np.zeros((h, w), dtype)
        shapes = zip(self.geoms[idx], self.values[idx].tolist())
        return rasterize(shapes, out_shape=(h, w), transform=Affine(1, 0, 0, 0, 1, r0), fill=0, dtype=dtype)


def _polygons(gdf: gpd.GeoDataFrame | gpd.GeoSeries | None, crs: CRS, name: str,
              allow_points: bool = False) -> tuple[np.ndarray, gpd.GeoDataFrame]:
    """Non-empty geometries of a layer in `crs` plus the matching (filtered) frame."""
    if gdf is None:
        return np.empty(0, object), gpd.GeoDataFrame(geometry=[], crs=crs)
    frame = gpd.GeoDataFrame(geometry=gdf) if isinstance(gdf, gpd.GeoSeries) else gdf
    if frame.crs is not None and not CRS.from_user_input(frame.crs).equals(crs):
        frame = frame.to_crs(crs)
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    geoms = np.asarray(frame.geometry.values, dtype=object)
    kinds = shapely.get_type_id(geoms)
    ok = np.isin(kinds, [3, 6] + ([0, 4] if allow_points else []))
    if not ok.all():
        raise ValueError(f"{name}: unsupported geometry types {sorted(set(frame.geometry.geom_type[~ok]))}"
                         " (expected polygons" + (" or points)" if allow_points else ")"))
    return geoms, frame


def _shift(geoms: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Translate each geometry by its own (dx, dy)."""
    if len(geoms) == 0:
        return geoms
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    coords += np.column_stack([dx[idx], dy[idx]])
    return shapely.set_coordinates(geoms.copy(), coords)


def _axes(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector (ux, uy) of the long axis of each geometry's oriented envelope."""
    ux, uy = np.ones(len(geoms)), np.zeros(len(geoms))
    for i, env in enumerate(shapely.oriented_envelope(geoms)):
        c = shapely.get_coordinates(env)
        if len(c) >= 4:
            e1, e2 = c[1] - c[0], c[2] - c[1]
            v = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
            n = np.hypot(*v)
            if n > 0:
                ux[i], uy[i] = v / n
    return ux, uy


def _choose(frame: gpd.GeoDataFrame, column: str, weights: dict[str, float],
            rng: np.random.Generator) -> np.ndarray:
    """Per-feature class from `column` (nulls filled at random with `weights`); unknown classes raise."""
    names = list(weights)
    drawn = rng.choice(names, size=len(frame), p=np.array(list(weights.values())) / sum(weights.values()))
    if column not in frame.columns:
        return drawn
    given = frame[column].to_numpy(dtype=object)
    bad = {v for v in given if v is not None and v == v and v not in weights}
    if bad:
        raise ValueError(f"unknown {column!r} values {sorted(map(str, bad))}; expected one of {names}")
    return np.where([v is None or v != v for v in given], drawn, given)


def render_orthophoto(
    out_path: str | os.PathLike,
    *,
    bounds: tuple[float, float, float, float],
    resolution_m: float,
    crs: str,
    roofs: gpd.GeoDataFrame,
    lanes: gpd.GeoDataFrame | None = None,
    fields: gpd.GeoDataFrame | None = None,
    trees: gpd.GeoDataFrame | None = None,
    bare: gpd.GeoDataFrame | None = None,
    seed: int = 0,
    nodata_outside: gpd.GeoSeries | None = None,
    tile_rows: int = 2048,
) -> dict:
    """Render a deterministic synthetic village orthophoto (tiled deflate GeoTIFF, RGB or RGBA) from vectors."""
    res = float(resolution_m)
    if not math.isfinite(res) or res <= 0:
        raise ValueError(f"resolution_m must be a positive number, got {resolution_m!r}")
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))) or xmax <= xmin or ymax <= ymin:
        raise ValueError(f"bounds must be finite (xmin, ymin, xmax, ymax) with xmin < xmax and ymin < ymax, "
                         f"got {bounds!r}")
    crs_obj = CRS.from_user_input(crs)
    if not crs_obj.is_projected:
        raise GeographicCRSError(f"crs must be a projected CRS in metres, got {crs!r}")
    if int(tile_rows) != tile_rows or tile_rows < 1:
        raise ValueError(f"tile_rows must be a positive integer, got {tile_rows!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed, tile_rows = int(seed), int(tile_rows)
    width, height = (max(1, math.ceil(round(s / res, 6))) for s in (xmax - xmin, ymax - ymin))

    def px(geoms: np.ndarray) -> np.ndarray:
        """Map coordinates -> global pixel coordinates (col, row), so strips rasterise identically."""
        return shapely.transform(geoms, lambda c: np.column_stack([c[:, 0] - xmin, ymax - c[:, 1]]) / res)

    key = (seed * 0x100000001B3 + 0x811C9DC5) & 0xFFFFFFFF

    # Roofs: class, colour jitter, ridge axis and lit half, shadow offset.
    roof_geoms, roof_frame = _polygons(roofs, crs_obj, "roofs")
    n = len(roof_geoms)
    rng = np.random.default_rng((seed, 1))
    classes = _choose(roof_frame, "roof", ROOF_WEIGHTS, rng)
    heights = rng.uniform(3.0, 7.0, n)
    if "height_m" in roof_frame.columns:
        given = roof_frame["height_m"].to_numpy(dtype=float, na_value=np.nan)
        heights = np.where(np.isfinite(given), given, heights)
    base = np.array([ROOF_COLOURS[c] for c in classes], float).reshape(n, 3)
    base += rng.uniform(-8, 8, (n, 1)) + rng.uniform(-2, 2, (n, 3))
    roof_px = px(roof_geoms)
    ux, uy = _axes(roof_px)
    cent = shapely.get_coordinates(shapely.centroid(roof_px)).reshape(n, 2)
    ridged = classes != "concrete"
    lit_pos = (-uy * _SUN[0] + ux * _SUN[1]) > 0  # outward normal of the d_perp > 0 half faces the sun
    hi, lo = np.where(ridged, 1.03, 1.0), np.where(ridged, 0.9, 1.0)
    half = np.zeros((2 * n + 2, 3), np.float32)
    sides = [np.where(lit_pos, lo, hi), np.where(lit_pos, hi, lo)]  # factor of the d_perp <= 0 / > 0 half
    half[2:] = np.stack([base * f[:, None] for f in sides], 1).reshape(-1, 3)
    d_sh = np.clip(np.nan_to_num(heights, nan=4.5) / 3.0, 1.0, 3.0)
    roofs_l, shadows_l = _Layer(roof_px), _Layer(_shift(roof_px, -d_sh, -d_sh), np.ones(n, np.uint8))

    # Trees: blob crowns for points, clipped away from roofs buffered by 1 m.
    tree_geoms, _ = _polygons(trees, crs_obj, "trees", allow_points=True)
    trng = np.random.default_rng((seed, 2))
    crowns = []
    for g in tree_geoms:
        if shapely.get_type_id(g) in (0, 4):
            ang = np.linspace(0, 2 * np.pi, 28, endpoint=False)
            wob = sum(trng.uniform(0, 0.08) * np.sin(k * ang + trng.uniform(0, 6.3)) for k in (2, 3, 5))
            r = trng.uniform(1.5, 3.5) * (1 + wob)
            centres = shapely.get_coordinates(g)[:, None, :]
            rings = centres + np.stack([r * np.cos(ang), r * np.sin(ang)], -1)[None]
            g = shapely.union_all(shapely.polygons(rings))
        crowns.append(g)
    crowns_arr = np.asarray(crowns, dtype=object)
    if len(crowns_arr) and n:
        keep_out = shapely.buffer(roof_geoms, 1.0)
        t_idx, r_idx = shapely.STRtree(keep_out).query(crowns_arr, predicate="intersects")
        for t in np.unique(t_idx):
            crowns_arr[t] = shapely.difference(crowns_arr[t], shapely.union_all(keep_out[r_idx[t_idx == t]]))
    crowns_arr = crowns_arr[~shapely.is_empty(crowns_arr)] if len(crowns_arr) else crowns_arr
    crowns_px = px(crowns_arr)
    t_off = np.sqrt(shapely.area(crowns_px) / np.pi) * 0.3 if len(crowns_px) else np.empty(0)
    tree_tone = np.concatenate([[1.0], trng.uniform(0.85, 1.15, len(crowns_px))]).astype(np.float32)
    trees_l = _Layer(crowns_px)
    tshadow_l = _Layer(_shift(crowns_px, -t_off, -t_off), np.ones(len(crowns_px), np.uint8))

    # Fields: rows along the long axis, green crops or tilled soil.
    field_geoms, field_frame = _polygons(fields, crs_obj, "fields")
    frng = np.random.default_rng((seed, 3))
    crops = _choose(field_frame, "crop", {"green": 0.7, "soil": 0.3}, frng)
    field_px = px(field_geoms)
    fux, fuy = _axes(field_px)
    f_green = np.asarray(crops == "green")
    f_period = np.where(f_green, 0.9, 0.7) / res
    f_phase, f_tone = frng.uniform(0, 2 * np.pi, len(field_px)), frng.uniform(0.92, 1.08, (len(field_px), 1))
    f_lo = (np.where(f_green[:, None], ROW_SOIL_COLOUR, TILLED_COLOURS[1]) * f_tone).astype(np.float32)
    f_hi_lo = (np.where(f_green[:, None], CROP_COLOUR, TILLED_COLOURS[0]) * f_tone).astype(np.float32) - f_lo
    fields_l = _Layer(field_px)
    lanes_l = _Layer(px(_polygons(lanes, crs_obj, "lanes")[0]), None)
    bare_l = _Layer(px(_polygons(bare, crs_obj, "bare")[0]), None)
    mask_l = None
    if nodata_outside is not None:
        mask_l = _Layer(px(_polygons(nodata_outside, crs_obj, "nodata_outside")[0]))
    bands = 4 if mask_l is not None else 3

    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype="uint8", crs=crs_obj,
                   transform=from_origin(xmin, ymax, res, res), tiled=True, blockxsize=BLOCK, blockysize=BLOCK,
                   compress="deflate", predictor=2, photometric="RGB", interleave="pixel", bigtiff="IF_SAFER",
                   num_threads="ALL_CPUS")
    if bands == 4:
        profile["alpha"] = "YES"
    c3 = lambda c: np.asarray(c, np.float32)[:, None]

    def strip(r0: int, h: int) -> np.ndarray:
        """Render rows [r0, r0+h) as a (bands, h, width) uint8 array."""
        w = width
        t, b = _value_noise(r0, h, w, 14 / res, key + 1), _value_noise(r0, h, w, 4 / res, key + 2)
        fine = _value_noise(r0, h, w, 0.5 / res, key + 3)
        img = np.empty((3, h, w), np.float32)
        for c, (ga, gb) in enumerate(zip(*GROUND_COLOURS)):
            img[c] = ga + (gb - ga) * t
        img *= 0.94 + 0.08 * b + 0.04 * fine
        fid = fields_l.burn(r0, h, w)
        if (m := fid > 0).any():
            rr, cc = np.nonzero(m)
            k = fid[m] - 1
            across = (cc + 0.5) * fuy[k] - (rr + r0 + 0.5) * fux[k]
            s = 0.5 + 0.5 * np.sin(2 * np.pi * across / f_period[k] + f_phase[k])
            q = np.where(f_green[k], np.clip((s - 0.3) * 2.5, 0, 1), s).astype(np.float32)
            img[:, m] = (f_lo[k] + f_hi_lo[k] * q[:, None]).T * (0.94 + 0.12 * fine[m])
        del fid
        if (m := lanes_l.burn(r0, h, w, np.uint8) > 0).any():
            img[:, m] = c3(LANE_COLOUR) * (0.95 + 0.05 * b[m] + 0.05 * fine[m])
        if (m := bare_l.burn(r0, h, w, np.uint8) > 0).any():
            y0, y1 = np.flatnonzero(m.any(1))[[0, -1]] + [0, 1]  # only the rows that hold rubble
            chunks = _value_noise(r0 + y0, y1 - y0, w, 0.3 / res, key + 4)[m[y0:y1]]
            ca, cb = c3(RUBBLE_COLOURS[0]), c3(RUBBLE_COLOURS[1])
            img[:, m] = (ca + (cb - ca) * t[m]) * (0.72 + 0.5 * chunks + 0.1 * fine[m])
        if (m := tshadow_l.burn(r0, h, w, np.uint8) > 0).any():
            np.multiply(img, np.float32(0.6), out=img, where=m)
        tid = trees_l.burn(r0, h, w)
        if (m := tid > 0).any():
            img[:, m] = c3(TREE_COLOUR) * (tree_tone[tid[m]] * (0.66 + 0.6 * fine[m]))
        del tid
        if (m := shadows_l.burn(r0, h, w, np.uint8) > 0).any():
            np.multiply(img, np.float32(SHADOW_FACTOR), out=img, where=m)
        rid = roofs_l.burn(r0, h, w)
        if (m := rid > 0).any():
            rr, cc = np.nonzero(m)
            k = rid[m] - 1
            dperp = (rr + r0 + 0.5 - cent[k, 1]) * ux[k] - (cc + 0.5 - cent[k, 0]) * uy[k]
            ridge = np.where(ridged[k] & (np.abs(dperp) < 0.5), 1.08, 1.0)
            shade = (ridge * (0.97 + 0.06 * fine[m])).astype(np.float32)
            img[:, m] = half[2 * k + 2 + (dperp > 0)].T * shade
        del t, b, fine, rid, m
        _add_row_noise(img, seed, r0, NOISE_SIGMA)
        out = np.empty((bands, h, w), np.uint8)
        out[:3] = np.clip(np.rint(img, out=img), 0, 255, out=img)
        if mask_l is not None:
            inside = mask_l.burn(r0, h, w, np.uint8) > 0
            out[:3, ~inside] = 0
            out[3] = inside * np.uint8(255)
        return out

    with rasterio.open(out_path, "w", **profile) as dst:
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha][:bands]
        for r0 in range(0, height, tile_rows):
            h = min(tile_rows, height - r0)
            dst.write(strip(r0, h), window=Window(0, r0, width, h))
    return {"path": os.fspath(out_path), "width": width, "height": height, "resolution_m": res,
            "crs": crs_obj.to_string(), "bounds": (xmin, ymax - height * res, xmin + width * res, ymax),
            "bands": bands}
