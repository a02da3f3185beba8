"""The inspectors' map in a real headless Chromium, served by a real uvicorn server on real PostGIS.

The server runs in a thread of the test process on the test's rolled-back transaction (requests are
serialised: they share that one connection). Chromium is Debian's (``scripts/bootstrap.sh`` installs it).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from api.app import create_app
from imagery.ingest import ingest_orthophoto
from supervision import models
from supervision.accounts import upsert_user
from supervision.package.service import import_package
from tests.common import X0, Y0, package_tables, write_package
from tests.live import serve

PASSWORD = "correct-horse-42"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def live_server(conn):
    """Base URL of the API served by uvicorn on a free local port."""
    with serve(create_app()) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser():
    """Headless Debian Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/bootstrap.sh (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def project_with_alerts(conn, tmp_path):
    """The canonical project with two amount mismatches planted, the models run and a baseline flight."""
    tables = package_tables()
    tables["claims"].loc[1, "amount_yuan"] = "10000.00"      # 6 mu x 1800 = 10800: off by 800
    tables["claims"].loc[3, "amount_yuan"] = "127000.00"     # 80 x 1600 = 128000: off by 1000
    tables["payments"].loc[0, "amount_yuan"] = "306000.00"
    result, _ = import_package(conn, write_package(tmp_path / "pkg", tables=tables))
    upsert_user(conn, username="S003", name="吴刚", role="inspector", password=PASSWORD)
    counts = models.run_all(conn, "T-001")
    ingest_orthophoto(conn, _orthophoto(tmp_path / "before.tif", roof=True), project_id=result.project_id,
                      phase="baseline", captured_on=dt.date(2025, 2, 20), store_dir=tmp_path / "store")
    ingest_orthophoto(conn, _orthophoto(tmp_path / "after.tif", roof=False), project_id=result.project_id,
                      phase="after", captured_on=dt.date(2025, 10, 15), store_dir=tmp_path / "store")
    return counts


def _orthophoto(path: Path, roof: bool) -> Path:
    """A 0.2 m RGB orthophoto over the canonical scope: a brown field, with a bright roof before demolition."""
    width, height = 650, 1500
    rgb = np.empty((3, height, width), np.uint8)
    rgb[0], rgb[1], rgb[2] = 150, 120, 90
    if roof:
        rgb[:, 200:400, 150:400] = [[[230]], [[60]], [[50]]]
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
                       crs="EPSG:4550", transform=from_origin(X0 - 30, Y0 + 270, 0.2, 0.2)) as dst:
        dst.write(rgb)
    return path


MAP_STATE_JS = """() => {
    const key = Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map);
    const map = window[key];
    const out = {polygons: 0, markers: [], fills: []};
    map.eachLayer(l => {
        if (l instanceof L.CircleMarker) {
            const p = map.latLngToContainerPoint(l.getLatLng());
            out.markers.push({x: p.x, y: p.y, colour: l.options.fillColor});
        } else if (l instanceof L.Polygon && l.feature && l.feature.properties && l.feature.properties.parcel_code) {
            out.polygons += 1;
            out.fills.push(l.options.fillColor);
        }
    });
    const size = map.getSize();
    out.width = size.x; out.height = size.y;
    return out;
}"""


def test_inspector_sees_parcels_and_alerts_in_chromium(live_server, browser, project_with_alerts, tmp_path):
    assert project_with_alerts["AMOUNT_MISMATCH"] == 2
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(req.url))
    tiles: list[int] = []
    page.on("response", lambda res: tiles.append(res.status) if "/tiles/" in res.url else None)

    # not signed in: the map sends the browser to the sign-in page
    page.goto(f"{live_server}/map/T-001")
    assert "/login" in page.url
    page.fill("input[name=username]", "S003")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{live_server}/map/T-001")
    page.wait_for_function("() => typeof L !== 'undefined' && document.querySelector('.leaflet-container')")
    page.wait_for_timeout(300)

    state = page.evaluate(MAP_STATE_JS)
    assert state["polygons"] == 4                       # every parcel of T-001
    assert len(state["markers"]) == 2                   # the two AMOUNT_MISMATCH alerts
    for m in state["markers"]:                          # drawn inside the visible map
        assert 0 <= m["x"] <= state["width"] and 0 <= m["y"] <= state["height"]
    assert "宗地 4 宗" in page.inner_text("#title")
    legend = page.inner_text("#legend")
    assert "宗地状态" in legend and "报送纪委监委" in legend
    # every script and stylesheet is served locally (no internet in the field office)
    assert failed == [] and errors == []
    # the baseline flight is drawn from the authenticated tile endpoint (the session cookie)
    page.wait_for_function("() => document.querySelectorAll('img.leaflet-tile-loaded').length > 0")
    assert 200 in tiles and 401 not in tiles
    layers = page.inner_text(".leaflet-control-layers")
    assert "征收前影像 2025-02-20" in layers and "征收后影像 2025-10-15" in layers
    # before and after side by side: a slider, each flight clipped to its side
    assert page.locator("input.leaflet-sbs-range").count() == 1
    clips = page.evaluate("""() => [...document.querySelectorAll('.leaflet-tile-pane .leaflet-layer')]
                                    .map(l => l.style.clip).filter(c => c)""")
    assert len(clips) == 2

    # clicking an alert opens its evidence, in Chinese
    marker = state["markers"][0]
    page.mouse.click(marker["x"], marker["y"])
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    popup = page.inner_text(".leaflet-popup-content")
    assert "AMOUNT_MISMATCH" in popup and "元" in popup and "预警编号" in popup and "状态：新预警" in popup
    page.wait_for_timeout(400)                          # let the popup finish fading in

    shot = tmp_path / "map.png"
    page.screenshot(path=str(shot))
    from PIL import Image

    pixels = Image.open(shot).convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50     # a drawn map, not a blank page
    # the parcels' status colour fills part of the canvas
    fill = state["fills"][0].lstrip("#")
    rgb = tuple(int(fill[i:i + 2], 16) for i in (0, 2, 4))
    near = sum(n for n, c in colours if sum(abs(a - b) for a, b in zip(c, rgb)) < 120)
    assert near > 500
