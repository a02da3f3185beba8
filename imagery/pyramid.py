"""A Web-Mercator pyramid of an ingested COG: tiles read as windows, without a warp per request.

``build_pyramid`` reprojects the COG once into a second COG in EPSG:3857 on GDAL's
``GoogleMapsCompatible`` tiling scheme (256 px blocks on the tile grid of its base zoom, one average
overview per zoom above it). A web-map tile at one of those zooms is then one 256 × 256 window of one
overview level, read as is; a tile deeper than the base zoom is a smaller window upsampled bilinearly.
Neither warps. The pyramid sits next to the COG (``<cog>.wm.tif``) and counts as stale once the COG is
newer than it (a re-ingest rewrites the COG).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.windows import Window

from imagery.errors import CogWriteError

log = logging.getLogger("expro.imagery")

#: Half the side of the EPSG:3857 square (m).
MERCATOR_HALF_M = 20037508.342789244
TILE_PX = 256
#: Deepest overzoom served from the base level (a 256 px tile from a 1 px window); deeper ones warp.
MAX_OVERZOOM = 8
#: GDAL block cache while building (bounds memory whatever the COG size).
BUILD_CACHE_MB = 256
PYRAMID_OPTIONS = {"TILING_SCHEME": "GoogleMapsCompatible", "COMPRESS": "JPEG", "QUALITY": "90",
                   "RESAMPLING": "NEAREST", "OVERVIEW_RESAMPLING": "AVERAGE", "BIGTIFF": "IF_SAFER"}
#: Open pyramid levels kept per worker thread (a GDAL dataset must not be shared between threads).
HANDLES_PER_THREAD = 32


def pyramid_path(cog_path: str | Path) -> Path:
    """Where the pyramid of ``cog_path`` lives (next to it)."""
    cog = Path(cog_path)
    return cog.with_name(cog.stem + ".wm.tif")


def pyramid_ready(cog_path: str | Path) -> bool:
    """Whether the pyramid of ``cog_path`` exists and is not older than the COG."""
    pyr = pyramid_path(cog_path)
    try:
        return pyr.stat().st_mtime_ns >= os.stat(cog_path).st_mtime_ns
    except FileNotFoundError:
        return False


def build_pyramid(cog_path: str | Path, *, threads: int = 1) -> Path:
    """Write the Web-Mercator pyramid of ``cog_path`` (replacing a stale one); returns its path.

    Written to a temporary name and moved into place, so readers never see half a file. Memory is
    bounded by GDAL's block cache (``BUILD_CACHE_MB``), not by the size of the COG.
    """
    cog, dst = Path(cog_path), pyramid_path(cog_path)
    staging = dst.with_name(f"{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with rasterio.Env(GDAL_CACHEMAX=BUILD_CACHE_MB, GDAL_NUM_THREADS=str(threads)):
            rasterio.shutil.copy(cog, staging, driver="COG", NUM_THREADS=str(threads), **PYRAMID_OPTIONS)
        os.replace(staging, dst)
    except rasterio.errors.RasterioError as exc:
        log.error("building the Web-Mercator pyramid of %s failed: %s", cog, exc)
        raise CogWriteError("the Web-Mercator pyramid of the orthophoto could not be written") from exc
    finally:
        staging.unlink(missing_ok=True)
    return dst


_builds: dict[str, Future[Path]] = {}
_builds_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def ensure_pyramid_async(cog_path: str | Path) -> Future[Path] | None:
    """Start building the pyramid of ``cog_path`` in a background thread unless it is ready or under way.

    One build at a time per process; returns its future (None when the pyramid is ready). Until it is
    done, tiles are warped as before.
    """
    global _executor
    if pyramid_ready(cog_path):
        return None
    key = str(cog_path)
    with _builds_lock:
        running = _builds.get(key)
        if running is not None and not running.done():
            return running
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="expro-pyramid")
        future = _executor.submit(_build_logged, key)
        _builds[key] = future
        return future


def _build_logged(cog_path: str) -> Path:
    if pyramid_ready(cog_path):
        return pyramid_path(cog_path)
    log.info("building the Web-Mercator pyramid of %s", cog_path)
    return build_pyramid(cog_path)


def tile_bounds_m(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of WebMercatorQuad tile ``z/x/y`` in EPSG:3857 metres."""
    size = 2 * MERCATOR_HALF_M / 2 ** z
    left, top = -MERCATOR_HALF_M + x * size, MERCATOR_HALF_M - y * size
    return left, top - size, left + size, top


class _Level:
    """One open level (the full resolution or an overview) of a pyramid."""

    def __init__(self, path: Path, overview: int | None) -> None:
        self.ds = rasterio.open(path, overview_level=overview) if overview is not None else rasterio.open(path)
        t = self.ds.transform
        self.left, self.top, self.res_x, self.res_y = t.c, t.f, t.a, -t.e

    def close(self) -> None:
        self.ds.close()


_handles = threading.local()


def _level(path: Path, mtime_ns: int, overview: int | None) -> _Level:
    cache: OrderedDict | None = getattr(_handles, "cache", None)
    if cache is None:
        cache = _handles.cache = OrderedDict()
    key = (str(path), mtime_ns, overview)
    level = cache.get(key)
    if level is None:
        level = cache[key] = _Level(path, overview)
        while len(cache) > HANDLES_PER_THREAD:
            cache.popitem(last=False)[1].close()
    else:
        cache.move_to_end(key)
    return level


class PyramidTileReader:
    """WebMercatorQuad tiles of a pyramid as RGBA arrays, read as windows of its levels (no warp)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._mtime_ns = 0
        self._base: _Level | None = None

    def __enter__(self) -> PyramidTileReader:
        self._mtime_ns = os.stat(self.path).st_mtime_ns
        self._base = _level(self.path, self._mtime_ns, None)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._base = None  # the levels stay open in the thread's cache

    def _opened(self) -> _Level:
        if self._base is None:
            raise RuntimeError("PyramidTileReader used outside its with block")
        return self._base

    @property
    def base_zoom(self) -> int:
        """The zoom whose tile grid the full resolution sits on."""
        return int(self._opened().ds.tags(ns="TILING_SCHEME").get("ZOOM_LEVEL", -1))

    @property
    def zoom_range(self) -> tuple[int, int]:
        """(min, max) zoom served from windows: the coarsest overview down to ``MAX_OVERZOOM`` past the base."""
        base = self._opened()
        zb = self.base_zoom
        return zb - len(base.ds.overviews(1)), zb + MAX_OVERZOOM

    def covers(self, z: int) -> bool:
        """Whether tiles of zoom ``z`` are read from the pyramid (otherwise the caller warps)."""
        zmin, zmax = self.zoom_range
        return self.base_zoom >= 0 and zmin <= z <= zmax

    def read(self, z: int, x: int, y: int) -> np.ndarray | None:
        """The RGBA pixels (256 × 256 × 4, uint8) of tile ``z/x/y``; None where it has no valid pixel."""
        base = self._opened()
        zb = self.base_zoom
        k = max(0, zb - z)
        level = base if k == 0 else _level(self.path, self._mtime_ns, k - 1)
        left, _, right, top = tile_bounds_m(z, x, y)
        # the tile as a (float) window of the level; integer at and above the base zoom
        c0, r0 = (left - level.left) / level.res_x, (level.top - top) / level.res_y
        size = (right - left) / level.res_x
        w, h = level.ds.width, level.ds.height
        cc0, rr0, cc1, rr1 = max(c0, 0.0), max(r0, 0.0), min(c0 + size, w), min(r0 + size, h)
        if cc1 <= cc0 or rr1 <= rr0:
            return None
        scale = TILE_PX / size  # output pixels per level pixel
        oc0, or0 = round((cc0 - c0) * scale), round((rr0 - r0) * scale)
        oc1, or1 = round((cc1 - c0) * scale), round((rr1 - r0) * scale)
        if oc1 <= oc0 or or1 <= or0:
            return None
        if z <= zb:  # whole pixels: snap (the window is integer up to float noise)
            window = Window(round(cc0), round(rr0), round(cc1) - round(cc0), round(rr1) - round(rr0))
        else:
            window = Window(cc0, rr0, cc1 - cc0, rr1 - rr0)
        shape = (or1 - or0, oc1 - oc0)
        resampling = Resampling.nearest if z <= zb else Resampling.bilinear
        mask = level.ds.read_masks(1, window=window, out_shape=shape, resampling=Resampling.nearest)
        if not mask.any():
            return None
        rgb = level.ds.read((1, 2, 3), window=window, out_shape=(3, *shape), resampling=resampling)
        out = np.zeros((TILE_PX, TILE_PX, 4), np.uint8)
        out[or0:or1, oc0:oc1, :3] = np.moveaxis(rgb, 0, -1)
        out[or0:or1, oc0:oc1, 3] = mask
        return out

