"""Raster readers, each a context manager: an input orthophoto, a COG's web-map tiles, a raster on a grid."""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

if TYPE_CHECKING:
    from rio_tiler.io import Reader

from imagery.errors import (CorruptGeoTIFFError, NoGeoreferenceError, NotGeoTIFFError, TileOutsideBoundsError,
                            UnsupportedBandsError, UnsupportedDtypeError)

#: First bytes of classic and BigTIFF files, little- and big-endian.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_OTHER_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"PK\x03\x04": "a ZIP archive",
                b"%PDF": "a PDF document", b"GIF8": "a GIF image", b"RIFF": "a RIFF (WebP/AVI) file"}
SUPPORTED_DTYPES = ("uint8", "uint16")
#: uint16 input is stretched linearly between these percentiles of a sample of its valid pixels.
UINT16_STRETCH_PERCENTILES = (0.1, 99.9)
WINDOW_PX = 2048  # edge of the windows read while converting (a multiple of the 512 px COG block)


@dataclass(frozen=True)
class SourceInfo:
    """What an input orthophoto is, once validated."""

    path: Path
    size_bytes: int
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS
    transform: Affine
    nodata: float | None
    layout: str  # "RGB", "RGBA" or "RGB+NIR"
    has_mask: bool  # some pixels may be invalid (alpha, nodata or an internal mask)
    mask_source: str  # "alpha", "nodata", "mask" or "none"


def _sniff(path: Path) -> None:
    """Refuse a file whose first bytes are not a TIFF header."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except IsADirectoryError:
        raise NotGeoTIFFError(f"{path.name} is a folder, not a GeoTIFF") from None
    if head[:4] in TIFF_MAGIC:
        return
    what = next((name for magic, name in _OTHER_MAGIC.items() if head.startswith(magic)), None)
    if not head:
        raise NotGeoTIFFError(f"{path.name} is empty, not a GeoTIFF")
    raise NotGeoTIFFError(f"{path.name} is not a GeoTIFF" + (f": it is {what}" if what else
                                                             " (no TIFF header)"))


class SourceReader:
    """An input orthophoto GeoTIFF, validated on open, read as uint8 RGB windows plus a validity mask.

    Refuses (with a specific ``ImageryError``): files that are not TIFFs, truncated or damaged TIFFs,
    rasters without a geotransform or CRS, pixel types other than uint8/uint16, and band layouts other
    than RGB, RGBA or RGB + near-infrared (band 4 not alpha: it is dropped).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ds: rasterio.DatasetReader | None = None
        self.info: SourceInfo
        self.stretch: tuple[float, float] | None = None

    def __enter__(self) -> SourceReader:
        _sniff(self.path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(self.path)
        except RasterioIOError as exc:
            raise CorruptGeoTIFFError(f"{self.path.name} is a damaged or truncated TIFF and cannot be read") from exc
        try:
            self.info = self._validate(self._ds)
            self._probe()
            if self.info.dtype == "uint16":
                self.stretch = self._sample_stretch()
        except BaseException:
            self._ds.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._ds is not None:
            self._ds.close()

    @property
    def dataset(self) -> rasterio.DatasetReader:
        """The open rasterio dataset."""
        if self._ds is None:
            raise RuntimeError("SourceReader used outside its `with` block")
        return self._ds

    def _validate(self, ds: rasterio.DatasetReader) -> SourceInfo:
        name = self.path.name
        if ds.driver not in ("GTiff", "COG"):
            raise NotGeoTIFFError(f"{name} is not a GeoTIFF (GDAL reads it as {ds.driver})")
        if ds.crs is None and ds.gcps[0]:
            raise NoGeoreferenceError(f"{name} is georeferenced only by ground control points; "
                                      "rectify it first (e.g. gdalwarp) so that it has a geotransform")
        if ds.transform.is_identity or ds.transform.determinant == 0:
            raise NoGeoreferenceError(f"{name} has no geotransform: its pixels have no position on the ground")
        if ds.crs is None:
            raise NoGeoreferenceError(f"{name} has no coordinate reference system (CRS)")
        dtypes = set(ds.dtypes)
        if len(dtypes) != 1 or (dtype := dtypes.pop()) not in SUPPORTED_DTYPES:
            raise UnsupportedDtypeError(f"{name} has pixel type {'/'.join(sorted(set(ds.dtypes)))}; an orthophoto "
                                        f"must be uint8 or uint16")
        interp = ds.colorinterp
        if ds.count == 3:
            layout = "RGB"
        elif ds.count == 4:
            layout = "RGBA" if interp[3] == ColorInterp.alpha else "RGB+NIR"
        else:
            raise UnsupportedBandsError(f"{name} has {ds.count} band(s); an orthophoto must be RGB (3 bands), "
                                        "RGBA (4, the 4th alpha) or RGB + near-infrared (4)")
        if ColorInterp.palette in interp[:3]:
            raise UnsupportedBandsError(f"{name} is a paletted image; expand it to RGB first")
        flags = ds.mask_flag_enums[0]
        if layout == "RGBA":
            mask_source = "alpha"
        elif ds.nodata is not None:
            mask_source = "nodata"
        elif MaskFlags.per_dataset in flags and MaskFlags.all_valid not in flags:
            mask_source = "mask"
        else:
            mask_source = "none"
        return SourceInfo(path=self.path, size_bytes=self.path.stat().st_size, width=ds.width, height=ds.height,
                          count=ds.count, dtype=dtype, crs=ds.crs, transform=ds.transform, nodata=ds.nodata,
                          layout=layout, has_mask=mask_source != "none", mask_source=mask_source)

    def _probe(self) -> None:
        """Read the last and first blocks, so that a truncated file is refused before any work."""
        ds = self.dataset
        bh, bw = ds.block_shapes[0]
        last = Window((ds.width - 1) // bw * bw, (ds.height - 1) // bh * bh, 1, 1)
        for window in (last, Window(0, 0, 1, 1)):
            self._read(window)

    def _read(self, window: Window, indexes: list[int] | None = None) -> np.ndarray:
        try:
            return self.dataset.read(indexes or [1, 2, 3], window=window)
        except (RasterioIOError, RasterioError) as exc:
            raise CorruptGeoTIFFError(f"{self.path.name} is damaged or truncated: pixels at row "
                                      f"{int(window.row_off)}, column {int(window.col_off)} cannot be read") from exc

    def _valid(self, window: Window) -> np.ndarray:
        if not self.info.has_mask:
            return np.ones((int(window.height), int(window.width)), bool)
        try:
            if self.info.layout == "RGBA":
                return self.dataset.read(4, window=window) > 0
            return self.dataset.dataset_mask(window=window) > 0
        except (RasterioIOError, RasterioError) as exc:
            raise CorruptGeoTIFFError(f"{self.path.name} is damaged or truncated: its mask cannot be read") from exc

    def _sample_stretch(self, samples: int = 8, size: int = 256) -> tuple[float, float]:
        """Percentile range of a grid of sample windows (bounded I/O, whatever the file size)."""
        ds, values = self.dataset, []
        for fy in np.linspace(0, 1, samples):
            for fx in np.linspace(0, 1, samples):
                w, h = min(size, ds.width), min(size, ds.height)
                win = Window(int(fx * (ds.width - w)), int(fy * (ds.height - h)), w, h)
                rgb, valid = self._read(win), self._valid(win)
                values.append(rgb[:, valid].ravel())
        allv = np.concatenate(values)
        if allv.size == 0:
            return 0.0, 65535.0
        lo, hi = (float(v) for v in np.percentile(allv, UINT16_STRETCH_PERCENTILES))
        return lo, max(hi, lo + 1.0)

    def windows(self, size: int = WINDOW_PX) -> Iterator[Window]:
        """Windows of at most ``size`` px covering the raster, row by row (aligned to ``size``)."""
        ds = self.dataset
        for r0 in range(0, ds.height, size):
            for c0 in range(0, ds.width, size):
                yield Window(c0, r0, min(size, ds.width - c0), min(size, ds.height - r0))

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Bands 1-3 of ``window`` as uint8 (uint16 stretched) and the boolean mask of valid pixels."""
        rgb, valid = self._read(window), self._valid(window)
        if self.stretch is not None:
            lo, hi = self.stretch
            scaled = (rgb.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
            rgb = np.clip(np.rint(scaled, out=scaled), 0, 255, out=scaled).astype(np.uint8)
        rgb[:, ~valid] = 0
        return rgb, valid


#: PNG tiles with zlib level 1: encoding a 256 px RGBA tile takes ~5 ms instead of ~16 ms at the
#: default level 6, for tiles ~25 % larger (browsers cache them by ETag; WEBP is there for small tiles).
PNG_OPTIONS: dict[str, Any] = {"ZLEVEL": 1}

_open_readers = threading.local()
#: Open rio-tiler readers kept per worker thread (a GDAL dataset must not be shared between threads).
READERS_PER_THREAD = 16


def _cached_reader(path: Path) -> Reader:
    """An open rio-tiler Reader of ``path`` for this thread (COG names carry their SHA-256: a path
    never changes content, but the modification time is part of the key all the same)."""
    from rio_tiler.io import Reader

    cache = getattr(_open_readers, "cache", None)
    if cache is None:
        cache = _open_readers.cache = OrderedDict()
    key = (str(path), os.stat(path).st_mtime_ns)
    reader = cache.get(key)
    if reader is None:
        reader = cache[key] = Reader(str(path))
        while len(cache) > READERS_PER_THREAD:
            cache.popitem(last=False)[1].close()
    else:
        cache.move_to_end(key)
    return reader


@lru_cache(maxsize=1024)
def _zoom_range(path: str, mtime_ns: int) -> tuple[int, int]:
    from rio_tiler.io import Reader

    with Reader(path) as reader:
        return reader.minzoom, reader.maxzoom


class OrthoTileReader:
    """Web-map tiles (WebMercatorQuad) of an ingested COG through rio-tiler.

    The COG stays open in the worker thread between requests, and its zoom range is computed once
    (rio-tiler recomputes it for every new reader).
    """

    def __init__(self, cog_path: str | Path, tilesize: int = 256) -> None:
        self.cog_path = Path(cog_path)
        self.tilesize = tilesize
        self._reader: Reader | None = None

    def __enter__(self) -> OrthoTileReader:
        self._reader = _cached_reader(self.cog_path)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._reader = None  # stays open in the thread's cache

    @property
    def zoom_range(self) -> tuple[int, int]:
        """The (min, max) zoom of the COG in WebMercatorQuad."""
        return _zoom_range(str(self.cog_path), os.stat(self.cog_path).st_mtime_ns)

    def tile(self, x: int, y: int, z: int, img_format: str = "PNG") -> bytes:
        """The tile image (PNG or WEBP, with transparency outside the valid pixels)."""
        from rio_tiler.errors import TileOutsideBounds

        if self._reader is None:
            raise RuntimeError("OrthoTileReader.tile called outside its with block")
        _, maxzoom = self.zoom_range
        # nearest down to the native resolution (the overviews are already averaged), bilinear only
        # beyond it, where a pixel spans several screen pixels
        try:  # rio-tiler checks that the tile touches the COG (TileOutsideBounds otherwise)
            image = self._reader.tile(x, y, z, tilesize=self.tilesize, indexes=(1, 2, 3),
                                      resampling_method="bilinear" if z > maxzoom else "nearest")
        except TileOutsideBounds as exc:
            raise TileOutsideBoundsError(f"tile {z}/{x}/{y} is outside the orthophoto") from exc
        fmt = img_format.upper()
        return image.render(img_format=fmt, **(PNG_OPTIONS if fmt == "PNG" else {}))


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid in a projected CRS (metres)."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def from_bounds(cls, bounds: tuple[float, float, float, float], resolution_m: float, crs: CRS | str) -> Grid:
        """The grid of ``resolution_m`` pixels snapped outward to cover ``bounds``."""
        x0, y0, x1, y1 = bounds
        r = float(resolution_m)
        gx0, gy1 = math.floor(x0 / r) * r, math.ceil(y1 / r) * r
        width, height = max(1, math.ceil((x1 - gx0) / r)), max(1, math.ceil((gy1 - y0) / r))
        return cls(CRS.from_user_input(crs), Affine(r, 0, gx0, 0, -r, gy1), width, height)

    @property
    def resolution_m(self) -> float:
        """Pixel size in metres."""
        return float(self.transform.a)

    def tiles(self, size: int, overlap: int) -> Iterator[tuple[Window, Window]]:
        """(read window with ``overlap`` px on each side, core window) pairs covering the grid."""
        for r0 in range(0, self.height, size):
            for c0 in range(0, self.width, size):
                core = Window(c0, r0, min(size, self.width - c0), min(size, self.height - r0))
                ro, co = max(0, r0 - overlap), max(0, c0 - overlap)
                re = min(self.height, r0 + size + overlap)
                ce = min(self.width, c0 + size + overlap)
                yield Window(co, ro, ce - co, re - ro), core


class GridReader:
    """A raster resampled onto a ``Grid`` (a WarpedVRT unless it already is on it), read by windows."""

    def __init__(self, path: str | Path, grid: Grid, resampling: Resampling = Resampling.bilinear) -> None:
        self.path = Path(path)
        self.grid = grid
        self.resampling = resampling
        self._src: rasterio.DatasetReader | None = None
        self._view: rasterio.DatasetReader | WarpedVRT | None = None

    def __enter__(self) -> GridReader:
        self._src = rasterio.open(self.path)
        g, s = self.grid, self._src
        if s.crs == g.crs and s.transform.almost_equals(g.transform) and (s.width, s.height) == (g.width, g.height):
            self._view = s
        else:
            self._view = WarpedVRT(s, crs=g.crs, transform=g.transform, width=g.width, height=g.height,
                                   resampling=self.resampling)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._view is not None and self._view is not self._src:
            self._view.close()
        if self._src is not None:
            self._src.close()

    def _opened(self) -> tuple[rasterio.DatasetReader, rasterio.DatasetReader | WarpedVRT]:
        if self._src is None or self._view is None:
            raise RuntimeError("GridReader used outside its with block")
        return self._src, self._view

    @property
    def count(self) -> int:
        """Number of bands."""
        return self._opened()[1].count

    @property
    def nodata(self) -> float | None:
        """The source's nodata value."""
        return self._opened()[0].nodata

    def read(self, window: Window, indexes: list[int] | None = None) -> np.ndarray:
        """The bands of ``window`` (bands 1-3 unless ``indexes``)."""
        return self._opened()[1].read(indexes or [1, 2, 3], window=window)

    def read_float(self, window: Window, band: int = 1) -> np.ndarray:
        """One band as float32 with nodata and invalid pixels as NaN."""
        data = self._opened()[1].read(band, window=window, masked=True)
        return np.ma.filled(data.astype(np.float32), np.nan)

    def valid(self, window: Window) -> np.ndarray:
        """Boolean mask of valid pixels (alpha, mask or nodata of the source; False outside it)."""
        return self._opened()[1].dataset_mask(window=window) > 0
