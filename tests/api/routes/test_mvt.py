"""Vector tiles of a project's parcels (ST_AsMVT) over a live server: decoded by GDAL's MVT driver."""

from __future__ import annotations

import httpx
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from api.routes.mvt import MIN_ZOOM
from imagery.tiles import tile_at
from tests.api.conftest import PASSWORD
from tests.common import HOUSEHOLDS, PARCELS, X0, Y0



def decode(body: bytes, tmp_path, z: int, x: int, y: int) -> dict[str, dict]:
    """The features of the tile's ``parcels`` layer by parcel code, with WGS84 geometries."""
    path = tmp_path / f"{z}-{x}-{y}.pbf"
    path.write_bytes(body)
    frame = pyogrio.read_dataframe(path, layer="parcels", X=str(x), Y=str(y), Z=str(z))
    frame = frame.to_crs(4326)
    return {row.parcel_code: {**row._asdict()} for row in frame.itertuples(index=False)}


def sign_in(url: str, username: str) -> dict[str, str]:
    res = httpx.post(f"{url}/auth/token", data={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


@pytest.fixture
def tile() -> tuple[int, int, int]:
    """The deepest tile (from zoom 17 up) holding all the canonical parcels."""
    to_wgs84 = Transformer.from_crs(4550, 4326, always_xy=True)
    corners = [to_wgs84.transform(X0 - 1, Y0 - 1), to_wgs84.transform(X0 + 71, Y0 + 241)]
    for z in range(17, MIN_ZOOM - 1, -1):
        a, b = (tile_at(lon, lat, z) for lon, lat in corners)
        if a == b:
            return a
    raise AssertionError("the canonical parcels straddle every tile")


def test_parcel_tile_has_parcels_status_and_worst_open_alert(conn, project, live_server, tmp_path, tile):
    z, x, y = tile
    url = f"{live_server.url}/projects/T-001/tiles/parcels/{z}/{x}/{y}.pbf"
    assert httpx.get(url).status_code == 401                           # behind the same sign-in
    inspector = sign_in(live_server.url, "S003")
    p = project.project_id
    for rule, severity, subject, state in [("R-A", "internal", "210112101201JC00001", "new"),
                                           ("R-B", "report", "210112101201JC00001", "verifying"),
                                           ("R-C", "report", "210112101201JC00003", "closed"),
                                           ("R-D", "prompt", "household:" + HOUSEHOLDS[1][0], "new")]:
        kind, _, key = subject.rpartition(":")
        conn.execute(text("INSERT INTO alert (project_id, rule_code, severity, subject_type, subject_key, message, "
                          "state, firing) VALUES (:p, :r, :s, :t, :k, '测试', :st, :f)"),
                     {"p": p, "r": rule, "s": severity, "t": kind or "parcel", "k": key, "st": state,
                      "f": state != "closed"})
    res = httpx.get(url, headers=inspector)
    assert res.status_code == 200 and res.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    features = decode(res.content, tmp_path, z, x, y)
    assert set(features) == set(PARCELS)                               # every canonical parcel is in the tile
    assert features["210112101201JC00001"]["severity"] == "report"     # the worst of its two open alerts
    assert features["210112101201JC00001"]["open_alerts"] == 2
    assert features["210112101201JC00003"]["severity"] == "none"       # its only alert is closed
    assert features["210112101201JC00002"]["severity"] == "prompt"     # an alert on its household
    assert {f["status"] for f in features.values()} <= {"paid", "claimed", "unclaimed"}
    geom = features["210112101201JA00001"]["geometry"]                 # and where it should be
    lon, lat = Transformer.from_crs(4550, 4326, always_xy=True).transform(X0 + 10, Y0 + 140)
    assert geom.buffer(1e-5).contains(shapely.Point(lon, lat))

    again = httpx.get(url, headers=inspector)                          # cached: the same bytes, and an ETag
    assert again.content == res.content
    assert httpx.get(url, headers={**inspector, "If-None-Match": res.headers["etag"]}).status_code == 304

    conn.execute(text("UPDATE alert SET state = 'closed', firing = false WHERE project_id = :p"), {"p": p})
    conn.execute(text("INSERT INTO alert_event (alert_id, from_state, to_state) "
                      "SELECT id, 'verifying', 'closed' FROM alert WHERE project_id = :p AND rule_code = 'R-B'"),
                 {"p": p})
    fresh = decode(httpx.get(url, headers=inspector).content, tmp_path, z, x, y)   # a new version of the data
    assert fresh["210112101201JC00001"]["severity"] == "none"

    crew = sign_in(live_server.url, "S009")                            # a field crew member without households
    empty = httpx.get(url, headers=crew)
    assert empty.status_code == 200 and len(empty.content) == 0
    assigned = decode(httpx.get(url, headers=sign_in(live_server.url, "S001")).content, tmp_path, z, x, y)
    assert set(assigned) <= set(PARCELS) and assigned

    assert httpx.get(f"{live_server.url}/projects/NOPE/tiles/parcels/{z}/{x}/{y}.pbf",
                     headers=inspector).status_code == 404
    assert httpx.get(f"{live_server.url}/projects/T-001/tiles/parcels/3/9/0.pbf", headers=inspector).status_code == 404
    outside = httpx.get(f"{live_server.url}/projects/T-001/tiles/parcels/{z}/0/0.pbf", headers=inspector)
    assert outside.status_code == 200 and outside.content == b""


def test_vector_layer_draws_the_parcels_in_chromium(conn, project, live_server, tile):
    """``web_map.vector_tiles.parcels_vector_layer`` on a page of the same server: Chromium fetches the tiles
    with the page's cookie, draws the parcels, logs no error; the script is this server's."""
    import shutil

    import folium
    from fastapi.responses import HTMLResponse
    from playwright.sync_api import sync_playwright

    from web_map.security import add_nonce, content_security_policy, new_nonce
    from web_map.vector_tiles import VECTOR_GRID_JS, parcels_vector_layer, use_vector_tiles

    assert use_vector_tiles(3001) and not use_vector_tiles(3000)
    z, x, y = tile
    lon, lat = Transformer.from_crs(4550, 4326, always_xy=True).transform(X0 + 35, Y0 + 120)
    m = folium.Map(location=[lat, lon], zoom_start=17, tiles=None)
    m.default_js = [("leaflet", "/static/leaflet/leaflet.js"), ("jquery", "/static/jquery/jquery.min.js")]
    m.default_css = [("leaflet_css", "/static/leaflet/leaflet.css")]
    parcels_vector_layer("T-001").add_to(m)
    nonce = new_nonce()
    page_html = add_nonce(m.get_root().render(), nonce)    # under the map pages' Content-Security-Policy
    assert f"/static/{VECTOR_GRID_JS}" in page_html and "unpkg" not in page_html
    live_server.app.add_api_route(
        "/test-vector-page", lambda: HTMLResponse(page_html, headers={
            "Content-Security-Policy": content_security_policy(nonce)}), include_in_schema=False)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 800, "height": 600})
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        statuses: list[int] = []
        page.on("response", lambda res: statuses.append(res.status) if ".pbf" in res.url else None)
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=username]", "S003")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_server.url}/test-vector-page")
        page.wait_for_function("""() => {
            const tiles = Array.from(document.querySelectorAll('.leaflet-tile-container canvas'));
            return tiles.length && tiles.every(c => c.classList.contains('leaflet-tile-loaded'));
        }""", timeout=20000)
        painted = page.evaluate("""() => Array.from(document.querySelectorAll('.leaflet-tile-container canvas'))
            .filter(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                           for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; }).length""")
        browser.close()
    assert statuses and all(s == 200 for s in statuses)   # the page's cookie opened the tiles
    assert painted >= 1 and not errors, errors


def test_map_search_by_household_parcel_and_masked_name(conn, project, live_server):
    url = f"{live_server.url}/projects/T-001/map/search"
    assert httpx.get(url, params={"q": "0003"}).status_code == 401          # behind the same sign-in
    inspector = sign_in(live_server.url, "S003")

    def found(q: str, who: dict[str, str] = inspector) -> list[dict]:
        res = httpx.get(url, params={"q": q}, headers=who)
        assert res.status_code == 200, res.text
        return res.json()["results"]

    by_household = found(HOUSEHOLDS[2][0])
    assert [r["parcel_code"] for r in by_household] == ["210112101201JC00003"]
    assert by_household[0]["head_name_masked"] == "张*" and "张伟" not in str(by_household)
    (s, w), (n, e) = by_household[0]["bounds"]
    assert 41 < s < n < 42.5 and 122.5 < w < e < 124                      # WGS84 bounds near Shenyang
    assert [r["parcel_code"] for r in found("JA00001")] == ["210112101201JA00001"]
    assert {r["household_no"] for r in found("王*")} == {HOUSEHOLDS[0][0]}   # both parcels of 王建国's household
    assert len(found("王*")) == 2 and found("王") == found("王*")
    assert found("王建国") == [] and found("%") == [] and found("") == []   # never by full name; LIKE is escaped
    assert found(HOUSEHOLDS[2][0], sign_in(live_server.url, "S009")) == []  # a crew member without households
    assert httpx.get(url, params={"q": "x" * 41}, headers=inspector).status_code == 422


def test_map_page_above_threshold_draws_vector_tiles(conn, project, live_server):
    from web_map.vector_tiles import VECTOR_TILE_THRESHOLD

    conn.execute(text("""
        INSERT INTO parcel (project_id, parcel_code, village_code, land_class, household_no, geom)
        SELECT :p, 'BULK' || lpad(i::text, 5, '0'), '210112101201', 'homestead', NULL,
               ST_Multi(ST_MakeEnvelope(:x + (i % 100) * 30, :y - 500 - (i / 100) * 25,
                                        :x + (i % 100) * 30 + 27, :y - 500 - (i / 100) * 25 + 22, 4550))
        FROM generate_series(1, :n) AS i"""), {"p": project.project_id, "x": X0, "y": Y0,
                                                 "n": VECTOR_TILE_THRESHOLD})
    with httpx.Client(base_url=live_server.url) as client:
        res = client.post("/login", data={"username": "S003", "password": PASSWORD, "next": "/map/T-001"})
        assert res.status_code == 303
        page = client.get("/map/T-001")
    assert page.status_code == 200
    html = page.text
    assert f"宗地 {VECTOR_TILE_THRESHOLD + len(PARCELS)} 宗" in html
    assert "/projects/T-001/tiles/parcels/{z}/{x}/{y}.pbf" in html
    assert 'mode: "vector"' in html and "BULK00001" not in html            # no parcel inlined
    assert len(html) < 300_000
