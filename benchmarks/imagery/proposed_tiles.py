"""Expro's API with a proposed change to ``imagery.readers.OrthoTileReader.tile``, applied in this process only.

Profiling ``imagery.tiles.render_tile`` shows two avoidable costs per tile that titiler does not pay:

* ``OrthoTileReader.tile`` calls ``tile_exists`` itself, and rio-tiler's ``Reader.tile`` calls it again
  (a ``transform_bounds`` of the COG into WebMercator each time: about 20 ms here for an EPSG:4550 COG);
* choosing the resampling reads ``Reader.maxzoom``, which rio-tiler recomputes for every new reader
  (``calculate_default_transform``: about 25 ms).

The proposal: let rio-tiler's own check raise (``TileOutsideBounds`` is already mapped to
``TileOutsideBoundsError``), and cache the zoom range per COG (COG names carry their SHA-256, so a path
never changes content). Serve with ``uvicorn proposed_tiles:create_app --factory``.
"""

from __future__ import annotations

import os
from functools import lru_cache

from fastapi import FastAPI

from imagery import readers
from imagery.errors import TileOutsideBoundsError


@lru_cache(maxsize=1024)
def _zoom_range(path: str, mtime_ns: int) -> tuple[int, int]:
    from rio_tiler.io import Reader

    with Reader(path) as reader:
        return reader.minzoom, reader.maxzoom


def tile(self: readers.OrthoTileReader, x: int, y: int, z: int, img_format: str = "PNG") -> bytes:
    """The tile image (PNG or WEBP), without the duplicate bounds check and with a cached maxzoom."""
    from rio_tiler.errors import TileOutsideBounds

    _, maxzoom = _zoom_range(str(self.cog_path), os.stat(self.cog_path).st_mtime_ns)
    try:
        image = self._reader.tile(x, y, z, tilesize=self.tilesize, indexes=(1, 2, 3),
                                  resampling_method="bilinear" if z >= maxzoom else "nearest")
    except TileOutsideBounds as exc:
        raise TileOutsideBoundsError(f"tile {z}/{x}/{y} is outside the orthophoto") from exc
    return image.render(img_format=img_format.upper())


def create_app() -> FastAPI:
    """Expro's application with the proposed ``OrthoTileReader.tile``."""
    from api.app import create_app as expro_app

    readers.OrthoTileReader.tile = tile
    return expro_app()
