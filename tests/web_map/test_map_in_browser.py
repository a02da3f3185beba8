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
    const reg = window.exproMap, map = reg.map;
    const count = key => reg.layers[key] ? reg.layers[key].getLayers().length : 0;
    const out = {polygons: count('parcels'), buildings: count('buildings'), baseline: count('footprints_baseline'),
                 after: count('footprints_after'), markers: [], fills: [], mode: reg.mode,
                 keys: Object.keys(reg.layers)};
    if (reg.layers.alerts) {
        reg.layers.alerts.eachLayer(l => {
            const p = map.latLngToContainerPoint(l.getLatLng());
            out.markers.push({x: p.x, y: p.y, colour: l.options.fillColor});
        });
    }
    if (reg.layers.parcels && reg.layers.parcels.eachLayer) {
        reg.layers.parcels.eachLayer(l => out.fills.push({fill: l.options.fillColor,
                                                           severity: l.feature.properties.severity}));
    }
    const size = map.getSize();
    out.width = size.x; out.height = size.y;
    return out;
}"""

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "web_map"
#: The clip of the after flight's tile layer (the swipe's right side).
AFTER_CLIP_JS = "() => document.querySelector('.leaflet-layer.expro-flight-after').style.clip"


def _sign_in(page, base: str, target: str) -> None:
    page.goto(f"{base}{target}")
    assert "/login" in page.url                          # not signed in: sent to the sign-in page
    page.fill("input[name=username]", "S003")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{base}{target}")
    page.wait_for_function("() => window.exproMap && window.exproMap.map")


def test_inspector_sees_parcels_outlines_footprints_flights_in_chromium(live_server, browser, project_with_alerts):
    assert project_with_alerts["AMOUNT_MISMATCH"] == 2
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(req.url))
    bad: list[str] = []
    tiles: dict[str, list[tuple[int, str]]] = {}

    def on_response(res) -> None:
        if res.status >= 400:
            bad.append(f"{res.status} {res.url}")
        if "/tiles/" in res.url and res.url.endswith(".png"):
            flight = res.url.split("/tiles/", 1)[1].split("/", 1)[0]
            tiles.setdefault(flight, []).append((res.status, res.headers.get("content-type", "")))
    page.on("response", on_response)

    _sign_in(page, live_server, "/map/T-001")
    page.wait_for_function("""() => ['baseline', 'after'].every(p =>
        document.querySelectorAll('.expro-flight-' + p + ' img.leaflet-tile-loaded').length > 0)""")
    page.wait_for_timeout(300)

    state = page.evaluate(MAP_STATE_JS)
    assert state["mode"] == "inline"
    assert {"scope", "parcels", "buildings", "footprints_baseline", "footprints_after", "alerts", "flight_baseline",
            "flight_after"} <= set(state["keys"])
    assert state["polygons"] == 4                        # every parcel of T-001
    assert state["buildings"] == 4                       # the claimed outlines
    assert state["baseline"] == 4 and state["after"] == 1    # measured footprints, before and after
    assert len(state["markers"]) == 2                    # the two AMOUNT_MISMATCH alerts
    for m in state["markers"]:                           # drawn inside the visible map
        assert 0 <= m["x"] <= state["width"] and 0 <= m["y"] <= state["height"]
    # parcels coloured by their worst open alert: the households with a mismatch are not "none"
    severities = {f["severity"] for f in state["fills"]}
    assert "none" in severities and severities - {"none"}
    for f in state["fills"]:
        assert f["fill"] == {"report": "#c62828", "internal": "#ef6c00", "prompt": "#1565c0",
                             "none": "#b0bec5"}[f["severity"]]
    assert "宗地 4 宗" in page.inner_text("#title")
    legend = page.inner_text("#legend")
    for label in ("最高未结预警", "报送纪委监委", "内部报警", "提示", "无未结预警", "登记房屋轮廓", "实测基底（征收前）",
                  "实测基底（征收后）"):
        assert label in legend
    layers = page.inner_text(".leaflet-control-layers")
    assert "征收前影像 2025-02-20" in layers and "征收后影像 2025-10-15" in layers
    assert "登记房屋轮廓（申报，4）" in layers and "实测基底（征收前）（4）" in layers and "实测基底（征收后）（1）" in layers
    # both flights drawn from the authenticated tile endpoint (the session cookie), as images
    assert len(tiles) == 2
    for responses in tiles.values():
        assert responses and all(status == 200 and ctype.startswith("image/") for status, ctype in responses)
    page.screenshot(path=str(SHOTS / "map.png"))

    # before and after side by side: dragging the swipe's handle moves the after flight's clip
    assert page.locator("input.leaflet-sbs-range").count() == 1
    clip_before = page.evaluate(AFTER_CLIP_JS)
    divider = page.locator(".leaflet-sbs-divider").bounding_box()
    range_box = page.locator("input.leaflet-sbs-range").bounding_box()
    assert divider is not None and range_box is not None
    x, y = divider["x"] + divider["width"] / 2, range_box["y"] + range_box["height"] / 2
    marker = state["markers"][0]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move((x + marker["x"]) / 2, y, steps=4)
    page.mouse.move(marker["x"], y, steps=4)
    page.mouse.up()
    clip_after = page.evaluate(AFTER_CLIP_JS)
    assert clip_before and clip_after and clip_after != clip_before
    divider = page.locator(".leaflet-sbs-divider").bounding_box()
    assert divider is not None and abs(divider["x"] + divider["width"] / 2 - marker["x"]) < 15

    # an alert's popup opens in Chinese, on top of the swipe's divider that now runs through it
    page.mouse.click(marker["x"], marker["y"])
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    popup = page.inner_text(".leaflet-popup-content")
    assert "AMOUNT_MISMATCH" in popup and "元" in popup and "预警编号" in popup and "状态：新预警" in popup
    page.wait_for_timeout(400)                           # let the popup finish fading in
    box = page.locator(".leaflet-popup-content-wrapper").bounding_box()
    assert box is not None and box["x"] < marker["x"] < box["x"] + box["width"]
    on_top = page.evaluate("""([x, y]) => { const e = document.elementFromPoint(x, y);
                                           return !!(e && e.closest('.leaflet-popup')); }""",
                           [marker["x"], box["y"] + box["height"] / 2])
    assert on_top, "the swipe's divider draws over the open popup"
    page.screenshot(path=str(SHOTS / "popup_over_swipe.png"))
    from PIL import Image

    colours = Image.open(SHOTS / "popup_over_swipe.png").convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50     # a drawn map, not a blank page
    page.keyboard.press("Escape")

    # search: by household number (Enter zooms to it and opens its card), then by masked name
    page.fill("#search-input", "2101121012010003")
    page.press("#search-input", "Enter")
    page.wait_for_selector(".expro-search-popup", timeout=5000)
    card = page.inner_text(".expro-search-popup")
    assert "户号：2101121012010003" in card and "户主：张*" in card and "张伟" not in card
    page.fill("#search-input", "李*")
    page.wait_for_function("() => document.querySelector('#search-results li[data-parcel^=\"210112101201JC00002\"]')")
    assert "2101121012010002" in page.inner_text("#search-results") and "李秀英" not in page.content()
    page.screenshot(path=str(SHOTS / "search.png"))

    assert failed == [] and bad == [] and errors == []
