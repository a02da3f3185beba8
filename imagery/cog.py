"""Windowed conversion of a validated orthophoto into a Cloud Optimized GeoTIFF, with its valid-pixel outline."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.enums import ColorInterp
from rasterio.features import shapes

from gis_core.files import sha256_file
from imagery.errors import CogWriteError
from imagery.readers import SourceReader

log = logging.getLogger("expro.imagery")

#: COG compression profiles: JPEG (YCbCr, the usual choice for RGB orthophotos, alpha becomes an
#: internal mask), WEBP (lossy, keeps alpha), DEFLATE (lossless).
COMPRESSIONS = {
    "JPEG": {"COMPRESS": "JPEG", "QUALITY": "90"},
    "WEBP": {"COMPRESS": "WEBP", "QUALITY": "90"},
    "DEFLATE": {"COMPRESS": "DEFLATE", "PREDICTOR": "2", "LEVEL": "6"},
}
COG_BLOCK_PX = 512
#: GDAL block cache while converting: bounds memory whatever the input size.
GDAL_CACHE_MB = 256
#: The valid-pixel outline is traced on a grid of at most this many cells along the longer side.
OUTLINE_CELLS = 2048


@dataclass(frozen=True)
class CogResult:
    """A written COG and what was learnt while writing it."""

    path: Path
    sha256: str
    size_bytes: int
    width: int
    height: int
    valid_outline: shapely.MultiPolygon  # in the source CRS
    valid_fraction: float
    details: dict = field(default_factory=dict)


class _OutlineAccumulator:
    """Counts valid pixels per coarse cell while windows stream by; traces the outline at the end."""

    def __init__(self, width: int, height: int, transform: Affine) -> None:
        f = 1
        while max(width, height) / f > OUTLINE_CELLS and f < COG_BLOCK_PX:
            f *= 2
        self.f, self.transform = f, transform
        shape = (math.ceil(height / f), math.ceil(width / f))
        self.valid = np.zeros(shape, np.int64)
        self.total = np.zeros(shape, np.int64)

    def add(self, row: int, col: int, valid: np.ndarray) -> None:
        f = self.f
        h, w = valid.shape
        ph, pw = math.ceil(h / f) * f, math.ceil(w / f) * f
        v = np.zeros((ph, pw), np.int32)
        t = np.zeros((ph, pw), np.int32)
        v[:h, :w], t[:h, :w] = valid, 1
        r, c = row // f, col // f
        hh, ww = ph // f, pw // f
        self.valid[r:r + hh, c:c + ww] += v.reshape(hh, f, ww, f).sum((1, 3))
        self.total[r:r + hh, c:c + ww] += t.reshape(hh, f, ww, f).sum((1, 3))

    def outline(self) -> shapely.MultiPolygon:
        cells = (self.total > 0) & (2 * self.valid >= self.total)
        if not cells.any():
            return shapely.MultiPolygon()
        tr = self.transform @ Affine.scale(self.f)
        polys = [shapely.geometry.shape(g) for g, _ in shapes(cells.astype(np.uint8), mask=cells, transform=tr)]
        merged = shapely.union_all(polys)
        if self.f > 1:
            merged = shapely.make_valid(shapely.simplify(merged, abs(tr.a) * 0.5))
        parts = [p for p in shapely.get_parts(merged) if p.geom_type == "Polygon" and not p.is_empty]
        return shapely.MultiPolygon(parts)

    @property
    def fraction(self) -> float:
        total = int(self.total.sum())
        return float(self.valid.sum()) / total if total else 0.0


def cogify(source: SourceReader, dst_path: str | Path, *, compress: str = "JPEG", overwrite: bool = False,
           threads: int = 2) -> CogResult:
    """Convert an open ``SourceReader`` into a COG at ``dst_path`` window by window (bounded memory).

    The pixels go to an intermediate tiled GeoTIFF (uint8 RGB, plus alpha when the source has invalid
    pixels), then GDAL's COG driver writes internal tiles, overviews (average) and the compression of
    ``compress``; the result must pass ``rio_cogeo`` validation. Returns the path, SHA-256, size and the
    outline of the valid pixels in the source CRS.
    """
    if compress not in COMPRESSIONS:
        raise ValueError(f"compress must be one of {sorted(COMPRESSIONS)}, got {compress!r}")
    from rio_cogeo.cogeo import cog_validate

    dst = Path(dst_path)
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists; pass overwrite=True to replace it")
    dst.parent.mkdir(parents=True, exist_ok=True)
    info = source.info
    bands = 4 if info.has_mask else 3
    part, staging = dst.with_name(dst.name + ".part.tif"), dst.with_name(dst.name + ".cog.tmp")
    raw_bytes = info.width * info.height * bands
    profile = dict(driver="GTiff", width=info.width, height=info.height, count=bands, dtype="uint8",
                   crs=info.crs, transform=info.transform, tiled=True, blockxsize=COG_BLOCK_PX,
                   blockysize=COG_BLOCK_PX, compress="ZSTD", zstd_level=1, photometric="RGB",
                   interleave="pixel", bigtiff="YES" if raw_bytes > 3_500_000_000 else "IF_SAFER")
    if bands == 4:
        profile["alpha"] = "YES"
    acc = _OutlineAccumulator(info.width, info.height, info.transform)
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS=str(threads)):
            with rasterio.open(part, "w", **profile) as out:
                out.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha][:bands]
                for window in source.windows():
                    rgb, valid = source.read(window)
                    out.write(rgb, indexes=[1, 2, 3], window=window)
                    if bands == 4:
                        out.write(valid.astype(np.uint8) * np.uint8(255), 4, window=window)
                    acc.add(int(window.row_off), int(window.col_off), valid)
                    del rgb, valid
                if source.stretch is not None:
                    out.update_tags(EXPRO_UINT16_STRETCH=f"{source.stretch[0]:g},{source.stretch[1]:g}")
            options = {**COMPRESSIONS[compress], "BLOCKSIZE": str(COG_BLOCK_PX), "OVERVIEW_RESAMPLING": "AVERAGE",
                       "BIGTIFF": "IF_SAFER", "NUM_THREADS": str(threads)}
            rasterio.shutil.copy(part, staging, driver="COG", **options)
        valid_cog, errors, _ = cog_validate(str(staging), quiet=True)
        if not valid_cog:
            log.error("COG validation failed for %s: %s", dst, "; ".join(errors))
            raise CogWriteError("the orthophoto could not be written as a valid Cloud Optimized GeoTIFF")
        os.replace(staging, dst)
    finally:
        for leftover in (part, staging):
            leftover.unlink(missing_ok=True)
    details = {"layout": info.layout, "mask_source": info.mask_source, "compress": compress,
               "source_dtype": info.dtype, "uint16_stretch": list(source.stretch) if source.stretch else None,
               "dropped_bands": [4] if info.layout == "RGB+NIR" else [], "outline_cell_px": acc.f}
    return CogResult(path=dst, sha256=sha256_file(dst), size_bytes=dst.stat().st_size, width=info.width,
                     height=info.height, valid_outline=acc.outline(), valid_fraction=acc.fraction, details=details)
