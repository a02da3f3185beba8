"""Fast tiles: the bounded tile cache, the Web-Mercator pyramid against the warped tiles, the HTTP route."""

from __future__ import annotations

import datetime as dt
import io

import httpx
import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from sqlalchemy import text

from imagery.catalogue import get_orthophoto
from imagery.errors import TileOutsideBoundsError
from imagery.ingest import ingest_orthophoto
from imagery.pyramid import PyramidTileReader, build_pyramid, pyramid_path, pyramid_ready
from imagery.tile_cache import TileCache
from imagery.tiles import empty_tile, render_tile, serve_tile, tile_at, zoom_range
from supervision.accounts import upsert_user
from tests.api.conftest import PASSWORD
from tests.imagery.conftest import raster_project


def decode(body: bytes) -> np.ndarray:
    """RGBA pixels of an encoded tile."""
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))


def centre_tile(ortho: dict, z: int) -> tuple[int, int, int]:
    """The tile at the centre of an orthophoto's footprint."""
    c = ortho["footprint"].centroid
    lon, lat = Transformer.from_crs(ortho["srid"], 4326, always_xy=True).transform(c.x, c.y)
    return tile_at(lon, lat, z)


def test_cache_is_bounded_lru_and_drops_a_flight():
    cache = TileCache(max_bytes=1000)
    for i in range(5):
        cache.put((1, "sha", i), bytes(300))
    assert len(cache) == 3 and cache.size_bytes == 900          # the two oldest went
    assert cache.get((1, "sha", 0)) is None and cache.get((1, "sha", 4)) == bytes(300)
    cache.get((1, "sha", 2))                                   # 2 is now the most recently used
    cache.put((2, "sha", 0), bytes(300))
    assert cache.get((1, "sha", 3)) is None and cache.get((1, "sha", 2)) is not None
    cache.put((9,), bytes(5000))                               # larger than the budget: not kept
    assert cache.get((9,)) is None and cache.size_bytes <= 1000
    assert cache.drop((1,)) == 2 and len(cache) == 1 and cache.get((2, "sha", 0)) is not None
    assert cache.hits >= 3 and cache.misses >= 3


@pytest.fixture
def live_url(conn, tmp_path):
    """The API served by a real uvicorn on the test's rolled-back transaction; its base URL."""
    from api.app import create_app
    from expro.settings import get_settings
    from tests.live import serve

    app = create_app()
    settings = get_settings().model_copy(update={"home": tmp_path / "live-home"})
    app.dependency_overrides[get_settings] = lambda: settings
    with serve(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def pix4d(conn, real_data, tmp_path) -> dict:
    """The real Pix4D drone orthomosaic (RGBA, EPSG:32750) ingested; its catalogue row."""
    path = real_data / "drone_ortho_pix4d_bali.tif"
    pid = raster_project(conn, path, "TILECACHE-PIX4D")
    oid = ingest_orthophoto(conn, path, project_id=pid, phase="baseline", captured_on=dt.date(2020, 1, 1),
                            store_dir=tmp_path / "store")
    return get_orthophoto(conn, oid, ingested=True)


def test_pyramid_tiles_match_the_warped_tiles(pix4d):
    cog = pix4d["cog_path"]
    assert not pyramid_ready(cog)
    build_pyramid(cog)
    assert pyramid_ready(cog)
    _, maxzoom = zoom_range(cog)
    with PyramidTileReader(pyramid_path(cog)) as pyr:
        zmin, zmax = pyr.zoom_range
        assert pyr.base_zoom == maxzoom and zmin < maxzoom and zmax > maxzoom
        assert pyr.covers(zmin) and not pyr.covers(zmin - 1)
    for z in (zmin, maxzoom, maxzoom + 1):
        tile = centre_tile(pix4d, z)
        fast = decode(serve_tile(cog, *tile, "png", build=False)).astype(int)
        warped = decode(render_tile(cog, *tile, "png")).astype(int)
        assert fast.shape == warped.shape == (256, 256, 4)
        both = (fast[..., 3] > 0) & (warped[..., 3] > 0)
        either = (fast[..., 3] > 0) | (warped[..., 3] > 0)
        assert both.sum() >= 0.97 * either.sum() and both.mean() > 0.5, z     # the same pixels are valid
        # pixel by pixel at the native zoom (the same nearest samples, JPEG-compressed once more); above it
        # the pyramid averages where the warp samples the nearest pixel, and past it both interpolate
        # from different grids: there the 8 and 4 px block means (the picture) are compared
        block = 8 if z < maxzoom else 1 if z == maxzoom else 4
        means = [t[..., :3].reshape(256 // block, block, 256 // block, block, 3).mean((1, 3))
                 for t in (fast, warped)]
        inside = both.reshape(256 // block, block, 256 // block, block).all((1, 3))
        block_diff = np.abs(means[0] - means[1])[inside]
        assert block_diff.mean() < 6 and np.percentile(block_diff, 90) < 16, (z, block_diff.mean())
        assert fast[..., :3][both].std() > 5                                        # not a blank tile
    z, x, y = centre_tile(pix4d, maxzoom)
    outside = serve_tile(cog, z, 0, 0, "png")
    assert outside == empty_tile("png") and not decode(outside)[..., 3].any()
    assert serve_tile(cog, z, 0, 0, "webp")[8:12] == b"WEBP"
    with pytest.raises(TileOutsideBoundsError):
        serve_tile(cog, 3, 9, 0, "png")                          # no such tile in WebMercatorQuad


def test_tiles_over_http_cached_invalidated_and_transparent_outside(conn, live_url, make_tif, tmp_path):
    from api.routes.imagery import TILES

    src = make_tif("flight.tif", width=600, height=500, res=0.1,
                   data=np.random.default_rng(7).integers(1, 255, (3, 500, 600), dtype=np.uint8))
    pid = raster_project(conn, src, "TILECACHE-HTTP")
    oid = ingest_orthophoto(conn, src, project_id=pid, phase="baseline", captured_on=dt.date(2025, 5, 1),
                            store_dir=tmp_path / "store")
    ortho = get_orthophoto(conn, oid, ingested=True)
    upsert_user(conn, username="TILECACHE-I", name="吴刚", role="inspector", password=PASSWORD)
    signed_in = httpx.post(f"{live_url}/auth/token", data={"username": "TILECACHE-I", "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    _, maxzoom = zoom_range(ortho["cog_path"])
    z, x, y = centre_tile(ortho, maxzoom)
    url = f"{live_url}/tiles/{oid}/{z}/{x}/{y}.png"
    with httpx.Client(headers=bearer, timeout=30) as http:
        assert httpx.get(url).status_code == 401
        first = http.get(url)
        hits = TILES.hits
        second = http.get(url)
        assert first.status_code == second.status_code == 200 and TILES.hits == hits + 1
        assert second.content == first.content and decode(first.content)[..., 3].any()

        outside = http.get(f"{live_url}/tiles/{oid}/{z}/0/0.png")
        assert outside.status_code == 200 and outside.headers["content-type"] == "image/png"
        assert not decode(outside.content)[..., 3].any()

        # re-ingest: the row re-opened (as a package row is) and the flight ingested again, lossless this time
        conn.execute(text("UPDATE orthophoto SET cog_path = NULL, cog_sha256 = NULL, status = 'catalogued' "
                          "WHERE id = :i"), {"i": oid})
        assert ingest_orthophoto(conn, src, project_id=pid, phase="baseline", captured_on=dt.date(2025, 5, 1),
                                 store_dir=tmp_path / "store", compress="DEFLATE") == oid
        assert get_orthophoto(conn, oid)["cog_sha256"] != ortho["cog_sha256"]
        third = http.get(url)
        assert third.status_code == 200 and third.content != first.content
        lossless = decode(third.content)
        assert lossless[..., 3].any() and third.headers["etag"] != first.headers["etag"]
        assert http.get(url).content == third.content
