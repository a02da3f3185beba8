"""Web-map tiles (WebMercatorQuad) of ingested orthophotos."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import morecantile
import numpy as np
from PIL import Image

from imagery.errors import TileOutsideBoundsError
from imagery.pyramid import PyramidTileReader, ensure_pyramid_async, pyramid_path, pyramid_ready
from imagery.readers import OrthoTileReader

#: URL suffix -> (GDAL driver used to encode, media type).
TILE_FORMATS: dict[str, tuple[str, str]] = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}
TILE_SIZE_PX = 256
MAX_ZOOM = 24


def _check(z: int, x: int, y: int, fmt: str) -> None:
    if fmt not in TILE_FORMATS:
        raise ValueError(f"tile format must be one of {sorted(TILE_FORMATS)}, got {fmt!r}")
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise TileOutsideBoundsError(f"there is no tile {z}/{x}/{y} in WebMercatorQuad")


def encode(rgba: np.ndarray, fmt: str = "png") -> bytes:
    """An RGBA tile encoded as PNG (zlib level 1, as the warped tiles) or lossy WEBP."""
    buf = io.BytesIO()
    image = Image.fromarray(rgba, "RGBA")
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=1)
    else:
        image.save(buf, format="WEBP", quality=75)
    return buf.getvalue()


@lru_cache(maxsize=len(TILE_FORMATS))
def empty_tile(fmt: str = "png") -> bytes:
    """A fully transparent tile: the answer outside a flight (a 200, so the browser logs no error)."""
    return encode(np.zeros((TILE_SIZE_PX, TILE_SIZE_PX, 4), np.uint8), fmt)


def serve_tile(cog_path: str | Path, z: int, x: int, y: int, fmt: str = "png", *, build: bool = True) -> bytes:
    """The encoded tile ``z/x/y`` of the COG, from its Web-Mercator pyramid when it has one (no warp).

    Without a fresh pyramid the tile is warped (``render_tile``) and, when ``build``, the pyramid is
    started in the background. Outside the orthophoto the tile is ``empty_tile``. Raises
    TileOutsideBoundsError only for a tile that does not exist in WebMercatorQuad.
    """
    _check(z, x, y, fmt)
    if pyramid_ready(cog_path):
        with PyramidTileReader(pyramid_path(cog_path)) as pyr:
            if pyr.covers(z):
                rgba = pyr.read(z, x, y)
                return empty_tile(fmt) if rgba is None else encode(rgba, fmt)
    elif build:
        ensure_pyramid_async(cog_path)
    try:
        return render_tile(cog_path, z, x, y, fmt)
    except TileOutsideBoundsError:
        return empty_tile(fmt)


def render_tile(cog_path: str | Path, z: int, x: int, y: int, fmt: str = "png") -> bytes:
    """The encoded tile ``z/x/y`` of the COG warped on request (transparent where it has no valid pixels).

    Raises TileOutsideBoundsError when the tile does not touch the orthophoto (or does not exist in
    WebMercatorQuad) and ValueError for an unknown format.
    """
    _check(z, x, y, fmt)
    with OrthoTileReader(cog_path, tilesize=TILE_SIZE_PX) as reader:
        return reader.tile(x, y, z, img_format=TILE_FORMATS[fmt][0])


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The (z, x, y) WebMercatorQuad tile containing a WGS84 point."""
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return t.z, t.x, t.y


def zoom_range(cog_path: str | Path) -> tuple[int, int]:
    """The (min, max) zoom of a COG in WebMercatorQuad."""
    return OrthoTileReader(cog_path).zoom_range   # cached per COG; the file need not be opened here
