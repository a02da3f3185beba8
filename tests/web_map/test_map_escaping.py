"""Hostile project names, household numbers and alert messages are shown as text and run no script:
escaped in the HTML, inert in a real headless Chromium, behind a nonce Content-Security-Policy."""

from __future__ import annotations

import re

from sqlalchemy import text

from tests.web_map.test_map_in_browser import MAP_STATE_JS, PASSWORD, browser, live_server  # noqa: F401
from tests.web_map.test_map_in_browser import project_with_alerts  # noqa: F401

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
TEMPLATE = "`);alert(3);// ${alert(4)} \\` <svg onload=alert(5)>"


def _plant(conn) -> None:
    conn.execute(text("UPDATE project SET name = :n WHERE code = 'T-001'"), {"n": f"王家村{SCRIPT}{IMG}"})
    conn.execute(text("UPDATE parcel SET household_no = :h WHERE parcel_code = '210112101201JA00001'"),
                 {"h": f"0001{IMG}"})
    conn.execute(text("UPDATE alert SET message = :m WHERE subject_key = 'C2'"), {"m": f"地址：沈阳{IMG}{TEMPLATE}"})
    conn.execute(text("UPDATE alert SET message = :m WHERE subject_key = 'C4'"), {"m": f"{SCRIPT}张三"})


def test_hostile_data_is_text_and_runs_nothing(conn, live_server, browser, project_with_alerts):  # noqa: F811
    _plant(conn)
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{live_server}/map/T-001")
    page.fill("input[name=username]", "S003")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/map/T-001") and r.request.method == "GET") as info:
        page.click("button[type=submit], input[type=submit]")
    response = info.value
    page.wait_for_function("() => typeof L !== 'undefined' && document.querySelector('.leaflet-container')")
    page.wait_for_timeout(300)

    # the HTML carries the data escaped, and every script tag the page emits carries the response's nonce
    source = response.text()
    assert SCRIPT not in source and "<img src=x" not in source and "<svg onload" not in source
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source
    csp = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    tags = re.findall(r"<script\b[^>]*>", source, flags=re.IGNORECASE)
    assert tags and all(f'nonce="{nonce}"' in t for t in tags)
    markup = re.sub(r"<script\b.*?</script>", "", source, flags=re.S | re.I)
    assert not [t for t in re.findall(r"<[a-zA-Z][^>]*>", markup) if re.search(r"\son[a-z]+\s*=", t)]  # no handlers

    # the browser shows them as text and runs none of them
    assert SCRIPT in page.inner_text("#title") and "onerror=alert(2)" in page.inner_text("#title")
    state = page.evaluate(MAP_STATE_JS)
    assert state["polygons"] == 4 and len(state["markers"]) == 2       # the map still draws everything
    for m in state["markers"]:
        page.mouse.click(m["x"], m["y"])
        page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        popup = page.inner_text(".leaflet-popup-content")
        assert SCRIPT in popup or TEMPLATE in popup, popup
        page.keyboard.press("Escape")
        page.evaluate("() => { const k = Object.keys(window).find(k => k.startsWith('map_') && window[k] "
                      "instanceof L.Map); window[k].closePopup(); }")
    page.mouse.move(state["markers"][0]["x"] + 1, state["markers"][0]["y"] + 1)
    page.wait_for_timeout(300)
    assert dialogs == [] and errors == [] and violations == []
    assert page.locator("img[src=x], svg[onload]").count() == 0
