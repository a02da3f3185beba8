"""The alert workbench and the audit viewer in a real headless Chromium, on a live server and real PostGIS.

The live-server and browser fixtures are the map test's (imported, not copied).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from imagery.ingest import ingest_orthophoto
from supervision import models
from supervision.accounts import upsert_user
from supervision.package.service import import_package
from tests.common import package_layers, package_tables, write_package
from tests.web_map.test_map_in_browser import PASSWORD, _orthophoto, browser, live_server  # noqa: F401

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "web_map"
INFLATED = "210112101201JC00002/1"


@pytest.fixture
def workbench_project(conn, tmp_path):
    """The canonical project with one inflated building (130 m² claimed on an 80 m² footprint), one amount
    mismatch and an overpayment; the models run; both flights ingested; an inspector, a supervisor and a
    field crew member who can sign in."""
    tables = package_tables()
    tables["claims"].loc[1, "amount_yuan"] = "10000.00"
    layers = package_layers()
    layers["buildings"].loc[2, "claimed_floor_area_m2"] = 130.0
    result, _ = import_package(conn, write_package(tmp_path / "pkg", tables=tables, layers=layers))
    for username, name, role in (("S001", "赵敏", "field_crew"), ("S002", "周强", "supervisor"),
                                 ("S003", "吴刚", "inspector")):
        upsert_user(conn, username=username, name=name, role=role, password=PASSWORD)
    counts = models.run_all(conn, "T-001")
    assert counts["AREA_INFLATED"] == 1 and counts["AMOUNT_MISMATCH"] == 1
    for phase, roof, day in (("baseline", True, dt.date(2025, 2, 20)), ("after", False, dt.date(2025, 10, 15))):
        ingest_orthophoto(conn, _orthophoto(tmp_path / f"{phase}.tif", roof=roof), project_id=result.project_id,
                          phase=phase, captured_on=day, store_dir=tmp_path / "store")
    ids = dict(conn.execute(text("SELECT rule_code, id FROM alert WHERE project_id = :p"),
                            {"p": result.project_id}).all())
    return ids


def _sign_in(page, base: str, target: str, username: str) -> None:
    page.goto(f"{base}{target}")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(f"{base}{target.split('?')[0]}")))


def _map_ready(page, errors: list[str]) -> None:
    try:
        page.wait_for_function("() => !!document.body && document.body.dataset.mapReady === '1'", timeout=10000)
    except Exception:
        raise AssertionError(f"the map did not start: {errors}") from None


def test_inspector_works_an_alert_from_the_workbench(live_server, browser, workbench_project, tmp_path):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    chips: dict[str, tuple[int, str]] = {}
    page.on("response", lambda r: chips.__setitem__(r.url.rsplit("/", 1)[-1], (r.status, r.headers.get("content-type", "")))
            if "/chips/" in r.url else None)

    _sign_in(page, live_server, "/workbench/T-001", "S003")
    _map_ready(page, errors)
    assert page.locator("li.alert-item").count() == 3             # AREA_INFLATED, AMOUNT_MISMATCH, OVERPAID

    # filter by rule, then by severity and village
    page.select_option("#f-rule", "AREA_INFLATED")
    page.click("#filters button[type=submit]")
    _map_ready(page, errors)
    assert page.locator("li.alert-item").count() == 1
    page.select_option("#f-severity", "prompt")
    page.click("#filters button[type=submit]")
    _map_ready(page, errors)
    assert page.locator("li.alert-item").count() == 0
    page.select_option("#f-severity", "report")
    page.select_option("#f-village", "210112101201")
    page.click("#filters button[type=submit]")
    _map_ready(page, errors)
    assert page.locator("li.alert-item").count() == 1

    # open it: the evidence in labelled Chinese rows, the map on its subject, both chips as images
    page.click("li.alert-item a")
    page.wait_for_selector("#evidence")
    _map_ready(page, errors)
    evidence = page.inner_text("#evidence")
    for expected in ("核定建筑面积\t130.00 ㎡", "征收前实测轮廓面积\t80.00 ㎡", "征收前轮廓覆盖率\t100.0 %",
                     "限差\t1.20 ㎡", "限差依据·标准", "采用层数\t1", "层数来源\t申报", "超出限差面积\t48.80 ㎡"):
        assert expected in evidence, expected
    assert INFLATED in page.inner_text("#alert-summary")
    page.wait_for_function("""() => [...document.querySelectorAll('img.chip')]
                                   .every(i => i.complete && i.naturalWidth > 0)""")
    assert chips == {"baseline.png": (200, "image/png"), "after.png": (200, "image/png")}
    zoom = page.evaluate("() => window.workbenchMap.getZoom()")
    assert zoom >= 18                                              # zoomed onto the one building
    assert "户 2101121012010002 核量单（PDF）" in page.inner_text("#documents")
    rates = page.inner_text("#hit-rates")
    assert "面积虚报" in rates and "查实率" in rates
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "workbench_alert.png"))
    page.locator(".chips").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "workbench_chips.png"))

    # the next step: assign to oneself, then start verifying with an opinion
    assert page.locator("#step-form input[name=action]").count() == 1     # a new alert: only 分派核查
    page.select_option("#step-form select[name=assignee]", "S003")
    page.fill("#step-form textarea[name=opinion]", "由本人核查")
    page.click("#step-form button[type=submit]")
    page.wait_for_selector("#step-message")
    page.check("#step-form input[value=start_verification]")
    page.fill("#step-form textarea[name=opinion]", "现场测量该房屋，核对征收前影像")
    page.click("#step-form button[type=submit]")
    page.wait_for_selector("#step-message")
    assert "已完成：开始核查" in page.inner_text("#step-message")
    assert page.locator("li.alert-item").count() == 1                     # the filters are kept
    # a step the state does not allow is refused with the reason, not an error page
    page.check("#step-form input[value=confirm]")
    page.fill("#step-form textarea[name=opinion]", "日期有误")
    page.fill("#step-form input[name=acted_on]", "2020-01-01")
    page.click("#step-form button[type=submit]")
    page.wait_for_selector("#step-error")
    assert "早于预警产生日期" in page.inner_text("#step-error")
    # confirm it with a photo attached
    photo = tmp_path / "现场照片.png"
    from PIL import Image
    Image.new("RGB", (40, 30), (200, 80, 60)).save(photo)
    page.check("#step-form input[value=confirm]")
    page.fill("#step-form textarea[name=opinion]", "现场核实多报属实")
    page.set_input_files("#step-form input[name=attachment]", str(photo))
    page.click("#step-form button[type=submit]")
    page.wait_for_selector("#step-message")
    assert "附件：现场照片.png" in page.inner_text("#history")
    assert "100.0%" in page.inner_text("#hit-rates")                       # 查实率 of AREA_INFLATED: 1 of 1
    history = page.inner_text("#history")
    assert "由本人核查" in history and "现场测量该房屋，核对征收前影像" in history and "核查中" in history
    assert "属实" in page.inner_text("#alert-summary")
    page.locator("#history").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "workbench_step.png"))

    # the audit viewer: the steps, who and on which alert; the chain verified
    page.goto(f"{live_server}/audit?action=alert.&subject={workbench_project['AREA_INFLATED']}")
    rows = page.inner_text("#audit-events")
    assert "预警·分派核查" in rows and "预警·开始核查" in rows and "S003" in rows
    assert "现场测量该房屋，核对征收前影像" in rows
    assert "审计链校验通过" in page.inner_text("#chain-state")
    assert "预警·核实属实" in rows
    assert page.locator("#audit-events tr").count() == 4                  # header + three steps
    page.goto(f"{live_server}/audit?actor=S003")
    assert "登录" in page.inner_text("#audit-events")
    page.screenshot(path=str(SHOTS / "workbench_audit.png"), full_page=True)
    assert errors == []


@contextlib.contextmanager
def _client(base: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=20) as client:
        r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/map"})
        assert r.status_code == 303 and "expro_token" in client.cookies
        yield client


def test_refusals_on_the_workbench_and_the_audit_viewer(live_server, workbench_project, conn):  # noqa: F811
    inflated, mismatch = workbench_project["AREA_INFLATED"], workbench_project["AMOUNT_MISMATCH"]
    with _client(live_server, "S002") as supervisor:
        # a supervisor may not assign a report alert (inspectors only): the page says why, no form
        page = supervisor.get(f"/workbench/T-001?alert={inflated}")
        assert page.status_code == 200 and 'id="no-step"' in page.text and "纪检监察人员" in page.text
        # on an internal alarm the supervisor gets the form, but closing it is refused with 403 (not 500)
        page = supervisor.get(f"/workbench/T-001?alert={mismatch}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
        refused = supervisor.post(f"/workbench/alerts/{inflated}/actions",
                                  data={"csrf": csrf, "action": "assign", "assignee": "S003", "opinion": "试图分派"})
        assert refused.status_code == 403 and "无权执行此步骤" in refused.text
        # a form without the session's token is refused too
        forged = supervisor.post(f"/workbench/alerts/{mismatch}/actions",
                                 data={"csrf": "0" * 64, "action": "assign", "assignee": "S002", "opinion": "x"})
        assert forged.status_code == 403
        # the API refuses the same step with 403 and a reason
        token = supervisor.post("/auth/token", data={"username": "S002", "password": PASSWORD}).json()["access_token"]
        api = supervisor.post(f"/alerts/{inflated}/actions", json={"action": "assign", "assignee": "S003",
                                                                    "opinion": "试图分派"},
                              headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 403 and "纪检监察人员" in api.json()["detail"]
        # supervisors do not open the audit viewer
        assert supervisor.get("/audit").status_code == 403
    assert conn.execute(text("SELECT state FROM alert WHERE id = :i"), {"i": inflated}).scalar() == "new"
    with _client(live_server, "S001") as crew:
        refused = crew.get("/audit")
        assert refused.status_code == 403 and "不能查看审计日志" in refused.text
        # the crew does not see the report alert at all
        assert crew.get(f"/alerts/{inflated}/chips/baseline.png").status_code == 404
    anonymous = httpx.get(f"{live_server}/audit", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
