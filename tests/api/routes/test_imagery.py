"""Orthophoto routes: streamed upload with roles and limits, the catalogue, tiles with cache headers."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin

from expro.settings import get_settings
from imagery.tiles import tile_at
from supervision.accounts import upsert_user
from tests.api.conftest import PASSWORD, token
from tests.common import X0, Y0

UPLOAD_LIMIT = 2_000_000


@pytest.fixture
def imagery_client(client, project, conn, tmp_path):
    """The test client with its own store (tmp_path), a small upload limit and a GIS officer G001."""
    settings = get_settings().model_copy(update={"home": tmp_path / "home", "upload_max_bytes": UPLOAD_LIMIT,
                                                 "secret_key": "imagery-test-secret-of-at-least-32-bytes"})
    client.app.dependency_overrides[get_settings] = lambda: settings
    upsert_user(conn, username="G001", name="孙丽", role="gis_officer", password=PASSWORD)
    yield client
    client.app.dependency_overrides.pop(get_settings, None)


def _geotiff(path, width=600, height=400, res=0.1, origin=(X0 - 5, Y0 + 35)) -> bytes:
    """A small RGB GeoTIFF over the canonical project's houses: grey ground, two red roofs."""
    img = np.empty((3, height, width), np.uint8)
    img[0], img[1], img[2] = 160, 150, 130
    img += np.random.default_rng(0).integers(0, 6, img.shape, dtype=np.uint8)
    img[:, 120:200, 100:200] = np.array([172, 84, 60], np.uint8)[:, None, None]
    img[:, 120:200, 350:450] = np.array([86, 116, 154], np.uint8)[:, None, None]
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
                       crs="EPSG:4550", transform=from_origin(*origin, res, res), tiled=True, blockxsize=256,
                       blockysize=256, compress="deflate") as dst:
        dst.write(img)
    return path.read_bytes()


def _upload(client, headers, content: bytes, name="flight.tif", **fields):
    data = {"project": "T-001", "phase": "baseline", "captured_on": "2025-02-20", **fields}
    return client.post("/orthophotos", headers=headers, data=data,
                       files={"file": (name, content, "image/tiff")})


def test_upload_list_and_tiles(imagery_client, tmp_path):
    client = imagery_client
    gis = token(client, "G001")
    res = _upload(client, gis, _geotiff(tmp_path / "flight.tif"))
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["status"] == "ingested" and body["source_name"] == "flight.tif" and body["project"] == "T-001"
    assert body["tiles"] == f"/tiles/{body['id']}/{{z}}/{{x}}/{{y}}.png"
    assert body["footprint"]["type"] == "MultiPolygon" and body["footprint_area_m2"] == pytest.approx(60 * 40, rel=1e-3)
    cogs = list((tmp_path / "home" / "orthophotos").rglob("*.tif"))
    assert len(cogs) == 1 and not list((tmp_path / "home" / "uploads").iterdir())  # upload spool removed

    inspector = token(client, "S003")
    listed = client.get("/orthophotos", params={"project": "T-001"}, headers=inspector)
    assert listed.status_code == 200 and [o["id"] for o in listed.json()] == [body["id"]]
    assert str(tmp_path) not in listed.text and "source_path" not in listed.json()[0]   # no server paths
    assert client.get("/orthophotos", params={"project": "NOPE"}, headers=inspector).status_code == 404

    lon, lat = Transformer.from_crs(4550, 4326, always_xy=True).transform(X0 + 10, Y0 + 20)
    z, x, y = tile_at(lon, lat, 21)
    tile = client.get(f"/tiles/{body['id']}/{z}/{x}/{y}.png", headers=inspector)
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    assert "max-age" in tile.headers["cache-control"] and tile.headers["etag"]
    pixels = np.asarray(Image.open(io.BytesIO(tile.content)).convert("RGBA"))
    assert pixels.shape == (256, 256, 4) and pixels[..., 3].any() and pixels[..., :3].std() > 5
    again = client.get(f"/tiles/{body['id']}/{z}/{x}/{y}.png",
                       headers={**inspector, "If-None-Match": tile.headers["etag"]})
    assert again.status_code == 304
    webp = client.get(f"/tiles/{body['id']}/{z}/{x}/{y}.webp", headers=inspector)
    assert webp.status_code == 200 and webp.content[8:12] == b"WEBP"
    outside = client.get(f"/tiles/{body['id']}/{z}/0/0.png", headers=inspector)   # transparent, not a 404
    assert outside.status_code == 200 and not np.asarray(Image.open(io.BytesIO(outside.content)).convert("RGBA"))[..., 3].any()
    assert client.get(f"/tiles/{body['id']}/3/9/0.png", headers=inspector).status_code == 404   # no such tile
    assert client.get(f"/tiles/{body['id']}/{z}/{x}/{y}.gif", headers=inspector).status_code == 422
    assert client.get(f"/tiles/999999/{z}/{x}/{y}.png", headers=inspector).status_code == 404
    assert client.get(f"/tiles/{body['id']}/{z}/{x}/{y}.png").status_code == 401


def test_upload_roles_and_refusals(imagery_client, tmp_path):
    client = imagery_client
    good = _geotiff(tmp_path / "flight.tif")
    assert _upload(client, token(client, "S003"), good).status_code == 403  # an inspector may not upload
    assert client.post("/orthophotos", files={"file": ("a.tif", good)}).status_code == 401
    gis = token(client, "G001")
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, format="PNG")
    res = _upload(client, gis, png.getvalue(), name="photo.tif")
    assert res.status_code == 422 and "PNG" in res.json()["detail"]
    far = _geotiff(tmp_path / "far.tif", origin=(500_000.0, 4_500_000.0))
    res = _upload(client, gis, far)
    assert res.status_code == 422 and "does not overlap" in res.json()["detail"]
    assert _upload(client, gis, good, phase="during").status_code == 422
    assert _upload(client, gis, good, captured_on="20.02.2025").status_code == 422
    assert _upload(client, gis, good, project="NOPE").status_code == 404
    big = _geotiff(tmp_path / "big.tif", width=2000, height=1500)
    big = big + b"\0" * max(0, UPLOAD_LIMIT + 1 - len(big))
    res = _upload(client, gis, big)
    assert res.status_code == 413 and "limit" in res.json()["detail"]
    assert client.get("/orthophotos", params={"project": "T-001"}, headers=gis).json() == []


def test_demo_orthophoto_tile_is_a_real_picture(client, conn, tmp_path):
    """The demo district's baseline flight, ingested like the demo does, serves a non-blank PNG tile.

    Without the canonical project: its accounts would conflict with the demo's staff (import refuses that).
    """
    from expro.synthetic.district import generate_district
    from imagery.catalogue import get_orthophoto
    from imagery.ingest import ingest_orthophoto
    from supervision.package.service import import_package

    pkg = tmp_path / "demo"
    generate_district(pkg, households=30, seed=3, imagery=True, resolution_m=0.3)
    toml = pkg / "project.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('code = "HN-S3"', 'code = "HN-S3-TILES"'),
                    encoding="utf-8")
    result, _ = import_package(conn, pkg)
    oid = ingest_orthophoto(conn, pkg / "imagery" / "baseline.tif", project_id=result.project_id,
                            phase="baseline", captured_on=dt.date(2025, 2, 20), store_dir=tmp_path / "store")
    ortho = get_orthophoto(conn, oid)
    c = ortho["footprint"].centroid
    lon, lat = Transformer.from_crs(4550, 4326, always_xy=True).transform(c.x, c.y)
    z, x, y = tile_at(lon, lat, 17)
    upsert_user(conn, username="TILE-INSPECTOR", name="吴刚", role="inspector", password=PASSWORD)
    res = client.get(f"/tiles/{oid}/{z}/{x}/{y}.png", headers=token(client, "TILE-INSPECTOR"))
    assert res.status_code == 200
    image = Image.open(io.BytesIO(res.content))
    image.verify()
    pixels = np.asarray(Image.open(io.BytesIO(res.content)).convert("RGBA"))
    assert (pixels[..., 3] > 0).mean() > 0.9
    assert pixels[..., :3].std() > 10 and len(np.unique(pixels[..., 0])) > 20
