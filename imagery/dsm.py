"""Surface models (DSM) delivered with a flight: validate, convert to COG, catalogue beside the orthophoto; height
above ground by windows (a local ground estimate under the surface), for footprint extraction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from scipy import ndimage as ndi
from sqlalchemy import Connection, text

from gis_core.files import sha256_file
from imagery.catalogue import get_orthophoto
from imagery.errors import (CorruptGeoTIFFError, NoGeoreferenceError, NoOverlapError, NotGeoTIFFError,
                            ResolutionError, UnsupportedBandsError, UnsupportedDtypeError)

#: Surface-model pixel sizes accepted (metres): photogrammetry delivers 1-20 cm, lidar and city models 0.5-2 m.
MIN_RESOLUTION_M = 0.01
MAX_RESOLUTION_M = 5.0
#: Share of the orthophoto's valid area the surface model must cover.
MIN_OVERLAP = 0.05
#: The ground under a surface model: a grey opening (local minimum, then maximum) over this window, on ~1 m cells;
#: wider than the widest building, so that inside any building the window reaches the ground around it.
GROUND_WINDOW_M = 40.0
GROUND_CELL_M = 1.0
NUMERIC = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64")


def _read_info(path: Path) -> dict:
    """What validation needs of a surface-model file (raises the ImageryError of what is wrong)."""
    name = path.name
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        if path.read_bytes()[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            raise CorruptGeoTIFFError(f"{name} is a damaged or truncated TIFF and cannot be read") from exc
        raise NotGeoTIFFError(f"{name} is not a GeoTIFF surface model") from exc
    with ds:
        if ds.driver != "GTiff":
            raise NotGeoTIFFError(f"{name} is not a GeoTIFF (GDAL reads it as {ds.driver})")
        if ds.crs is None:
            raise NoGeoreferenceError(f"{name} has no coordinate reference system (CRS)")
        if ds.transform.is_identity:
            raise NoGeoreferenceError(f"{name} has no geotransform: its pixels have no position on the ground")
        if ds.count != 1:
            raise UnsupportedBandsError(f"{name} has {ds.count} bands; a surface model has one (heights in metres)")
        if ds.dtypes[0] not in NUMERIC:
            raise UnsupportedDtypeError(f"{name} has pixel type {ds.dtypes[0]}; a surface model is numeric")
        try:
            step = max(1, max(ds.width, ds.height) // 1024)    # a decimated read: enough for range and validity
            sample = ds.read(1, masked=True, out_shape=(max(1, ds.height // step), max(1, ds.width // step)),
                             resampling=Resampling.nearest)
        except RasterioIOError as exc:
            raise CorruptGeoTIFFError(f"{name} is a damaged or truncated TIFF and cannot be read") from exc
        values = sample.compressed().astype(np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise NoOverlapError(f"{name} has no valid heights (everything is nodata)")
        return {"crs": ds.crs, "transform": ds.transform, "width": ds.width, "height": ds.height,
                "dtype": ds.dtypes[0], "nodata": ds.nodata, "bounds": tuple(ds.bounds),
                "z_min": float(values.min()), "z_max": float(values.max())}


def _resolution_m(info: dict, to_project: Transformer) -> float:
    t, col, row = info["transform"], info["width"] / 2.0, info["height"] / 2.0
    xs, ys = zip(*(t @ (c, r) for c, r in ((col, row), (col + 1, row), (col, row + 1))))
    px, py = to_project.transform(np.array(xs), np.array(ys))
    if not (np.all(np.isfinite(px)) and np.all(np.isfinite(py))):
        return math.nan
    return float((math.hypot(px[1] - px[0], py[1] - py[0]) + math.hypot(px[2] - px[0], py[2] - py[0])) / 2)


def validate_surface_model(path: str | Path, ortho: dict) -> tuple[dict, shapely.MultiPolygon, float]:
    """Check a surface model against its orthophoto: a readable GeoTIFF, one numeric band, a CRS, a plausible
    pixel size, valid heights, and an extent overlapping the orthophoto's valid area.

    Returns (file facts, its extent in the project CRS, the share of the orthophoto's valid area it covers).
    """
    path = Path(path)
    info = _read_info(path)
    to_project = Transformer.from_crs(CRS.from_user_input(info["crs"].to_wkt()), CRS.from_epsg(ortho["srid"]),
                                      always_xy=True)
    res_m = _resolution_m(info, to_project)
    if not math.isfinite(res_m) or not MIN_RESOLUTION_M <= res_m <= MAX_RESOLUTION_M:
        shown = f"{res_m:.3g} m" if math.isfinite(res_m) else "not measurable"
        raise ResolutionError(f"{path.name}: pixel size {shown} is implausible for a surface model "
                              f"(expected {MIN_RESOLUTION_M:g} to {MAX_RESOLUTION_M:g} m per pixel)")
    x0, y0, x1, y1 = info["bounds"]
    box = shapely.segmentize(shapely.box(x0, y0, x1, y1), max(x1 - x0, y1 - y0) / 32)
    extent = shapely.make_valid(shapely.transform(box, lambda xy: np.column_stack(to_project.transform(*xy.T))))
    extent = shapely.MultiPolygon([p for p in shapely.get_parts(extent) if p.geom_type == "Polygon"])
    valid = ortho["footprint"]
    share = float(shapely.area(shapely.intersection(valid, extent)) / valid.area) if valid is not None and \
        valid.area > 0 else 0.0
    if share < MIN_OVERLAP:
        raise NoOverlapError(f"{path.name} covers {share:.1%} of orthophoto {ortho['id']}'s valid area; a surface "
                             f"model of the same flight covers most of it")
    info["resolution_m"] = res_m
    return info, extent, share


def cogify_surface_model(src: str | Path, dst: str | Path) -> Path:
    """Write ``src`` as a Cloud Optimized GeoTIFF (its own pixel type and nodata, DEFLATE with a predictor,
    averaged overviews), streamed by GDAL block by block."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp.tif")
    with rasterio.open(src) as ds:
        rasterio.shutil.copy(ds, tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES", BLOCKSIZE=512,
                             OVERVIEW_RESAMPLING="AVERAGE", NUM_THREADS=1, BIGTIFF="IF_SAFER")
    tmp.replace(dst)
    return dst


def ingest_surface_model(conn: Connection, path: str | Path, *, ortho_id: int, store_dir: str | Path,
                         source_name: str | None = None) -> int:
    """Validate ``path`` against orthophoto ``ortho_id``, keep its COG under ``store_dir`` and catalogue it as
    that flight's surface model (replacing an earlier one); returns its id."""
    path = Path(path)
    ortho = get_orthophoto(conn, ortho_id, ingested=True)
    info, extent, share = validate_surface_model(path, ortho)
    sha = sha256_file(path)
    dst = Path(store_dir) / f"p{ortho['project_id']}" / \
        f"{ortho['phase']}-{ortho['captured_on'].isoformat()}-{sha[:16]}.dsm.tif"
    cog = cogify_surface_model(path, dst)
    epsg = CRS.from_user_input(info["crs"].to_wkt()).to_epsg()
    row = {"o": ortho_id, "src": source_name or str(path), "cog": str(cog), "sha": sha,
           "cog_sha": sha256_file(cog), "size": path.stat().st_size, "cog_size": cog.stat().st_size,
           "w": info["width"], "h": info["height"], "dtype": info["dtype"],
           "crs": f"EPSG:{epsg}" if epsg else info["crs"].to_wkt(), "res": info["resolution_m"],
           "nodata": info["nodata"], "zmin": info["z_min"], "zmax": info["z_max"],
           "g": shapely.to_wkb(extent), "srid": ortho["srid"], "share": round(min(share, 1.0), 6)}
    return int(conn.execute(text("""
        INSERT INTO surface_model (orthophoto_id, source_path, cog_path, sha256, cog_sha256, size_bytes,
                                   cog_size_bytes, width_px, height_px, dtype, crs, resolution_m, nodata, z_min_m,
                                   z_max_m, footprint, overlap_fraction)
        VALUES (:o, :src, :cog, :sha, :cog_sha, :size, :cog_size, :w, :h, :dtype, :crs, :res, :nodata, :zmin, :zmax,
                ST_Multi(ST_SetSRID(ST_GeomFromWKB(:g), :srid)), :share)
        ON CONFLICT (orthophoto_id) DO UPDATE SET
            source_path = EXCLUDED.source_path, cog_path = EXCLUDED.cog_path, sha256 = EXCLUDED.sha256,
            cog_sha256 = EXCLUDED.cog_sha256, size_bytes = EXCLUDED.size_bytes,
            cog_size_bytes = EXCLUDED.cog_size_bytes, width_px = EXCLUDED.width_px, height_px = EXCLUDED.height_px,
            dtype = EXCLUDED.dtype, crs = EXCLUDED.crs, resolution_m = EXCLUDED.resolution_m,
            nodata = EXCLUDED.nodata, z_min_m = EXCLUDED.z_min_m, z_max_m = EXCLUDED.z_max_m,
            footprint = EXCLUDED.footprint, overlap_fraction = EXCLUDED.overlap_fraction, ingested_at = now()
        RETURNING id"""), row).scalar_one())


def surface_model_of(conn: Connection, ortho_id: int) -> dict | None:
    """The catalogued surface model of orthophoto ``ortho_id`` (None when the flight has none)."""
    row = conn.execute(text("""SELECT id, orthophoto_id, source_path, cog_path, sha256, cog_sha256, crs,
                                      resolution_m, z_min_m, z_max_m, overlap_fraction
                               FROM surface_model WHERE orthophoto_id = :o"""), {"o": ortho_id}).mappings().first()
    return dict(row) if row else None


def height_above_ground(surface: np.ndarray, resolution_m: float, window_m: float = GROUND_WINDOW_M,
                        cell_m: float = GROUND_CELL_M) -> np.ndarray:
    """Height above the local ground of a surface-model window (NaN where the surface is unknown).

    The ground is a grey opening of the surface on ``cell_m`` cells (each cell its lowest valid height) over
    ``window_m``: the erosion reaches the ground around any building narrower than the window, the dilation
    restores a sloping terrain (an opening keeps planes), and noise biases it by at most a cell's minimum.
    """
    valid = np.isfinite(surface)
    if not valid.any():
        return np.full(surface.shape, np.nan, np.float32)
    f = max(1, round(cell_m / resolution_m))
    h, w = surface.shape
    ph, pw = -h % f, -w % f
    top = float(np.nanmax(surface))
    filled = np.pad(np.where(valid, surface, top), ((0, ph), (0, pw)), mode="edge")
    cells = filled.reshape((h + ph) // f, f, (w + pw) // f, f).min(axis=(1, 3))
    k = max(3, round(window_m / (f * resolution_m)) | 1)
    ground = ndi.grey_opening(cells, size=(k, k), mode="nearest")
    ground = ndi.uniform_filter(ground, size=3, mode="nearest")     # cell steps smoothed
    ys = (np.arange(h) + 0.5) / f - 0.5
    xs = (np.arange(w) + 0.5) / f - 0.5
    yy, xx = np.meshgrid(np.clip(ys, 0, cells.shape[0] - 1), np.clip(xs, 0, cells.shape[1] - 1), indexing="ij")
    full = ndi.map_coordinates(ground, [yy, xx], order=1, mode="nearest")
    return np.where(valid, surface - full, np.nan).astype(np.float32)


def height_score(above: np.ndarray, min_height_m: float = 2.0, soft_m: float = 0.5) -> np.ndarray:
    """How much a pixel's height above ground says "building": a logistic step at ``min_height_m`` (NaN where the
    height is unknown)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (1.0 / (1.0 + np.exp(-(above - min_height_m) / soft_m))).astype(np.float32)


def plane_residual(surface: np.ndarray, resolution_m: float, window_m: float = 1.25) -> np.ndarray:
    """Per pixel, the RMS residual of a plane fitted to the surface over ``window_m``: small on roof planes, large
    on tree crowns and at facades (NaN surface counts as its neighbours' level)."""
    k = max(3, round(window_m / resolution_m) | 1)
    h = np.where(np.isfinite(surface), surface, np.nanmedian(surface) if np.isfinite(surface).any() else 0.0)
    h = h.astype(np.float64)
    r = np.arange(k) - k // 2
    ky, kx = np.meshgrid(r, r, indexing="ij")
    n, sxx = k * k, float((kx * kx).sum())
    mean = ndi.uniform_filter(h, k, mode="nearest")
    mean_sq = ndi.uniform_filter(h * h, k, mode="nearest")
    gx = ndi.correlate(h, kx[::-1, ::-1], mode="nearest") / sxx
    gy = ndi.correlate(h, ky[::-1, ::-1], mode="nearest") / sxx
    var = mean_sq - mean * mean - (gx * gx + gy * gy) * sxx / n
    return np.sqrt(np.maximum(var, 0.0)).astype(np.float32)


def fuse(roof: np.ndarray, above: np.ndarray, min_height_m: float = 2.0, *, planar: np.ndarray | None = None,
         vegetation: np.ndarray | None = None) -> np.ndarray:
    """Roof probability fused with height above ground, where the height is known (the probability alone elsewhere).

    The image's evidence needs height: the geometric mean of the probability and the height score, so a
    roof-coloured yard on the ground falls below one half. Height alone is evidence too where the surface is planar
    (``planar``, 0-1) and the image shows no vegetation: a roof the segmenter misses (snow, haze) but the surface
    raises passes, a tree crown (rough, green) does not.
    """
    score = height_score(above, min_height_m)
    known = np.isfinite(score)
    out = roof.astype(np.float32).copy()
    image = np.sqrt(np.clip(roof[known], 0, 1) * score[known])
    alone = score[known] * (planar[known] if planar is not None else 1.0)
    if vegetation is not None:
        alone = alone * ~vegetation[known]
    out[known] = np.maximum(image, alone)
    return out
