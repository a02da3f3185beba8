"""Web-map tiles of ingested orthophotos, on real drone and aerial imagery."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from rio_cogeo.cogeo import cog_validate

from imagery.catalogue import get_orthophoto
from imagery.errors import TileOutsideBoundsError
from imagery.ingest import ingest_orthophoto
from imagery.tiles import render_tile, tile_at, zoom_range
from tests.imagery.conftest import raster_project


def centre_tile(ortho: dict, z: int) -> tuple[int, int, int]:
    """The tile at the centre of an orthophoto's footprint."""
    c = ortho["footprint"].centroid
    lon, lat = Transformer.from_crs(ortho["srid"], 4326, always_xy=True).transform(c.x, c.y)
    return tile_at(lon, lat, z)


def decode(png: bytes) -> np.ndarray:
    """RGBA pixels of an encoded tile."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


@pytest.mark.parametrize("name", ["drone_ortho_pix4d_bali.tif", "usgs_colorado_rgb_15cm.tif"])
def test_real_orthophoto_ingests_and_serves_tiles(conn, real_data, store, name):
    pid = raster_project(conn, real_data / name, "REAL-" + name[:8].upper())
    oid = ingest_orthophoto(conn, real_data / name, project_id=pid, phase="baseline",
                            captured_on=dt.date(2020, 1, 1), store_dir=store)
    ortho = get_orthophoto(conn, oid, ingested=True)
    assert cog_validate(ortho["cog_path"], quiet=True)[0]
    minzoom, maxzoom = zoom_range(ortho["cog_path"])
    z, x, y = centre_tile(ortho, maxzoom)
    png = render_tile(ortho["cog_path"], z, x, y, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = decode(png)
    opaque = pixels[..., 3] > 0
    assert opaque.mean() > 0.5 and pixels[..., :3][opaque].std() > 5  # real content, not a blank tile
    webp = render_tile(ortho["cog_path"], z, x, y, "webp")
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    with pytest.raises(TileOutsideBoundsError):
        render_tile(ortho["cog_path"], z, 0, 0, "png")
    with pytest.raises(TileOutsideBoundsError):
        render_tile(ortho["cog_path"], 3, 9, 0, "png")  # no such tile at zoom 3
    if name.startswith("drone"):
        assert ortho["ingest"]["mask_source"] == "alpha"
        assert ortho["footprint"].area < 0.95 * ortho["width_px"] * ortho["height_px"] * ortho["resolution_m"] ** 2
