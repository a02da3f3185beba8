"""Web-map tiles (WebMercatorQuad) of ingested orthophotos."""

from __future__ import annotations

from pathlib import Path

import morecantile

from imagery.errors import TileOutsideBoundsError
from imagery.readers import OrthoTileReader

#: URL suffix -> (GDAL driver used to encode, media type).
TILE_FORMATS: dict[str, tuple[str, str]] = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}
TILE_SIZE_PX = 256
MAX_ZOOM = 24


def render_tile(cog_path: str | Path, z: int, x: int, y: int, fmt: str = "png") -> bytes:
    """The encoded tile ``z/x/y`` of the COG (transparent where it has no valid pixels).

    Raises TileOutsideBoundsError when the tile does not touch the orthophoto (or does not exist in
    WebMercatorQuad) and ValueError for an unknown format.
    """
    if fmt not in TILE_FORMATS:
        raise ValueError(f"tile format must be one of {sorted(TILE_FORMATS)}, got {fmt!r}")
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise TileOutsideBoundsError(f"there is no tile {z}/{x}/{y} in WebMercatorQuad")
    with OrthoTileReader(cog_path, tilesize=TILE_SIZE_PX) as reader:
        return reader.tile(x, y, z, img_format=TILE_FORMATS[fmt][0])


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The (z, x, y) WebMercatorQuad tile containing a WGS84 point."""
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return t.z, t.x, t.y


def zoom_range(cog_path: str | Path) -> tuple[int, int]:
    """The (min, max) zoom of a COG in WebMercatorQuad."""
    return OrthoTileReader(cog_path).zoom_range   # cached per COG; the file need not be opened here
