"""The field app's core end to end against the live API on real PostGIS: offline work, then sync (issue 12)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from mobile_app import field
from mobile_app.errors import GateError
from mobile_app.store import Store
from mobile_app.sync import Retry, SyncClient, sign_in
from tests.api.conftest import PASSWORD
from tests.api.routes.case_files import capture as post_capture
from tests.mobile_app.conftest import HH1, ON_SITE, PROJECT, big_mp4, closed_port_url, write_file

ROOT = Path(__file__).resolve().parents[2]
FAST = Retry(attempts=2, base_s=0.01, cap_s=0.05)
SUBMIT_KEY = f"{PROJECT}/{HH1}/survey"


def signed_in_device(tmp_path: Path, url: str) -> Store:
    """A tablet's store signed in as S001 with its cases pulled, while the server was reachable."""
    store = Store(tmp_path / "device")
    sign_in(store, url, "S001", PASSWORD)
    with SyncClient(store, retry=FAST) as client:
        assert client.pull() >= 1
    return store


def capture_survey_offline(store: Store, folder: Path, *, skip: tuple[str, ...] = (),
                           big_video: bytes | None = None) -> list[str]:
    """Capture every mandatory survey item as often as it needs, on the device only; the capture UUIDs."""
    made = []
    items = store.items(PROJECT, HH1, "survey")
    if big_video is not None:                 # the large video first, so a kill lands in its upload
        items.sort(key=lambda i: i.kind != "video")
    for item in items:
        if not item.mandatory or item.code in skip:
            continue
        for n in range(item.min_count - item.count):
            if item.kind == "video" and big_video is not None:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / "big.mp4"
                path.write_bytes(big_video)
            else:
                path = write_file(folder, item.kind, len(made))
            record = field.take_capture(store, PROJECT, HH1, "survey", item.code, path, lon=ON_SITE[0],
                                        lat=ON_SITE[1], accuracy_m=4.5)
            made.append(record.capture_uuid)
    return made


def server_state(conn, uuids: list[str]) -> dict:
    """What the server holds of these captures and of the survey submission."""
    rows = conn.execute(text("SELECT capture_uuid::text, count(*) FROM case_capture WHERE capture_uuid::text = "
                             "ANY(:u) GROUP BY 1"), {"u": uuids}).all()
    audits = conn.execute(text("SELECT action, object_key FROM audit_event WHERE action IN ('capture.store', "
                               "'stage.submit')")).all()
    return {"captures": dict(rows),
            "stored": sorted(k for a, k in audits if a == "capture.store" and k in set(uuids)),
            "submits": [k for a, k in audits if a == "stage.submit" and k == SUBMIT_KEY]}


def assert_survey_submitted(survey_open, conn, uuids: list[str]) -> dict:
    """The server shows the survey submitted with every item, each capture once, and its audit entries."""
    case = survey_open.get(f"/projects/{PROJECT}/cases/{HH1}").json()
    survey = next(s for s in case["stages"] if s["code"] == "survey")
    assert survey["state"] == "submitted"
    assert all(i["count"] >= i["min_count"] for i in survey["items"] if i["mandatory"])
    state = server_state(conn, uuids)
    assert state["captures"] == {u: 1 for u in uuids}
    assert state["stored"] == sorted(uuids)
    assert len(state["submits"]) == 1
    return state


def test_the_survey_done_offline_syncs_when_the_server_comes_back(survey_open, conn, tmp_path):
    store = signed_in_device(tmp_path, survey_open.server.url)
    store.set_server_url(closed_port_url())                  # the server goes away
    uuids = capture_survey_offline(store, tmp_path / "camera")
    assert len(uuids) == sum(i.min_count for i in store.items(PROJECT, HH1, "survey") if i.mandatory) > 30
    field.submit_stage(store, PROJECT, HH1, "survey")
    rows = field.checklist(store, PROJECT, HH1, "survey")
    assert {r.state for r in rows if r.mandatory} == {"waiting"}
    with SyncClient(store, retry=FAST) as client:
        report = client.sync()
    assert report.outcome == "unreachable" and not report.uploaded
    assert store.waiting()["pending"] == len(uuids) and store.waiting()["submissions_queued"] == 1
    assert store.sync_log()[0]["outcome"] == "unreachable"

    store.set_server_url(survey_open.server.url)             # it comes back
    with SyncClient(store, retry=FAST) as client:
        report = client.sync()
    assert report.outcome == "ok", report.error
    assert sorted(report.uploaded) == sorted(uuids) and report.submitted == [SUBMIT_KEY]
    first = assert_survey_submitted(survey_open, conn, uuids)
    assert store.waiting()["uploaded"] == len(uuids) and store.waiting()["submissions_queued"] == 0
    assert {r.state for r in field.checklist(store, PROJECT, HH1, "survey") if r.mandatory} == {"uploaded"}
    assert next(s for s in store.case(PROJECT, HH1).stages if s.code == "survey").state == "submitted"

    with SyncClient(store, retry=FAST) as client:             # again: nothing changes on the server
        again = client.sync()
    assert again.outcome == "ok" and not again.uploaded and not again.submitted
    assert server_state(conn, uuids) == first
    # a capture resent (as after a crash before its answer was recorded) answers 200: no duplicate
    store.set_upload(uuids[0], "pending")
    with SyncClient(store, retry=FAST) as client:
        resent = client.sync()
    assert resent.uploaded == [uuids[0]] and store.capture(uuids[0]).state == "uploaded"
    assert server_state(conn, uuids) == first

    # approved: the quantity stage opens; its building line is recorded offline and sent with the next sync
    with httpx.Client(base_url=survey_open.server.url, timeout=60) as http:
        assert http.post(f"/projects/{PROJECT}/cases/{HH1}/stages/survey/review", headers=survey_open.supervisor,
                         json={"decision": "approve", "opinion": "同意"}).status_code == 200
    with pytest.raises(GateError):
        field.record_quantities(store, PROJECT, HH1, [{"building_no": "1"}])    # the device has not pulled yet
    with SyncClient(store, retry=FAST) as client:
        assert client.sync().outcome == "ok"
    line = field.building_line(building_no="1", structure_type="brick_concrete", storeys=2, length_m="10",
                               width_m="8", unit_price_yuan="1850", parcel_code="210112101201JC00001")
    assert line["quantity"] == "160.00" and line["amount_yuan"] == "296000.00"
    store.set_server_url(closed_port_url())
    field.record_quantities(store, PROJECT, HH1, [line])
    with SyncClient(store, retry=FAST) as client:
        assert client.sync().outcome == "unreachable"
    store.set_server_url(survey_open.server.url)
    with SyncClient(store, retry=FAST) as client:
        sent = client.sync()
    assert sent.quantities == [f"{PROJECT}/{HH1}"] and store.quantities(states=("sent",))
    record = survey_open.get(f"/projects/{PROJECT}/cases/{HH1}/quantities").json()
    assert record["total_yuan"] == "296000.00" and record["lines"][0]["storeys"] == 2


def _cli(store_dir: Path, url: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(["nice", "-n", "5", sys.executable, "-m", "mobile_app.cli", "sync", "--server", url,
                             "--user", "S001", "--data", str(store_dir), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_sync_killed_mid_upload_ends_in_the_same_state_when_rerun(survey_open, conn, tmp_path):
    store = signed_in_device(tmp_path, survey_open.server.url)
    store.set_server_url(closed_port_url())
    video = big_mp4(3 * 1024**2)
    uuids = capture_survey_offline(store, tmp_path / "camera", big_video=video)
    big = next(u for u in uuids if store.capture(u).size_bytes == len(video))
    field.submit_stage(store, PROJECT, HH1, "survey")

    url = survey_open.server.url
    proc = _cli(store.data_dir, url, "--large-mb", "1", "--chunk-kb", "64", "--chunk-pause", "0.05")
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the upload never started"
        rec = store.capture(big)
        if rec.state == "uploading" and len(video) // 4 < rec.server_offset < len(video) // 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.3)                                           # the server notices the dropped connection
    rec = store.capture(big)
    upload = survey_open.get(rec.upload_url)
    part_way = upload.json()["offset"]
    assert upload.json()["state"] == "receiving" and 0 < part_way < len(video)
    assert conn.execute(text("SELECT count(*) FROM case_capture WHERE capture_uuid::text = :u"),
                        {"u": big}).scalar_one() == 0

    rerun = _cli(store.data_dir, url, "--large-mb", "1", "--chunk-kb", "256")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, (out, err)
    assert_survey_submitted(survey_open, conn, uuids)
    assert conn.execute(text("SELECT count(*), min(state) FROM capture_upload WHERE capture_uuid::text = :u"),
                        {"u": big}).one() == (1, "complete")
    sha = conn.execute(text("SELECT sha256 FROM case_capture WHERE capture_uuid::text = :u"), {"u": big}).scalar_one()
    assert sha == store.capture(big).sha256
    assert Store(store.data_dir).waiting()["uploaded"] == len(uuids)

    before = server_state(conn, uuids)
    third = _cli(store.data_dir, url, "--large-mb", "1")
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, (out, err)
    assert server_state(conn, uuids) == before


def test_poor_accuracy_and_a_missing_item_are_refused_on_the_device_and_on_the_server(survey_open, conn, tmp_path):
    store = signed_in_device(tmp_path, survey_open.server.url)
    photo = write_file(tmp_path / "camera", "photo", 1)
    limit = store.case(PROJECT, HH1).accuracy_limit_m
    with pytest.raises(GateError, match="差于项目限值"):
        field.take_capture(store, PROJECT, HH1, "survey", "house_front_photo", photo, lon=ON_SITE[0],
                           lat=ON_SITE[1], accuracy_m=limit * 2.5)
    with pytest.raises(GateError, match="须带拍摄位置"):
        field.take_capture(store, PROJECT, HH1, "survey", "house_front_photo", photo, lon=None, lat=None,
                           accuracy_m=None)
    with pytest.raises(GateError, match="只接受"):              # a picture where a video is expected
        field.take_capture(store, PROJECT, HH1, "survey", "house_video", photo, lon=ON_SITE[0], lat=ON_SITE[1],
                           accuracy_m=3.0)
    with pytest.raises(GateError, match="不可办理"):             # a later stage is locked
        field.take_capture(store, PROJECT, HH1, "quantity", "quantity_sheet_signed", photo, lon=None, lat=None,
                           accuracy_m=None)
    assert store.captures() == []
    # the server refuses the same capture
    with httpx.Client(base_url=survey_open.server.url, timeout=60) as http:
        res = post_capture(http, survey_open.crew, HH1, "survey", "house_front_photo", accuracy_m=limit * 2.5)
    assert res.status_code == 422 and "limit" in res.json()["detail"]
    # one kept on the device past the gate (an older app, a changed limit) is refused by the server and kept
    bad = store.add_capture(photo, project_code=PROJECT, household_no=HH1, stage_code="survey",
                            item_code="house_front_photo", kind="photo", lon=ON_SITE[0], lat=ON_SITE[1],
                            accuracy_m=limit * 2.5, media_type="image/png", suffix=".png")

    uuids = capture_survey_offline(store, tmp_path / "camera", skip=("house_back_photo",))
    with pytest.raises(GateError) as refused:
        field.submit_stage(store, PROJECT, HH1, "survey")
    assert refused.value.missing == ["house_back_photo"]
    assert "房屋背面照片" in str(refused.value)
    store.queue_submission(PROJECT, HH1, "survey")           # queued past the gate: the server refuses it too
    with SyncClient(store, retry=FAST) as client:
        report = client.sync()
    assert report.outcome == "ok", report.error
    assert "limit" in report.refused[bad.capture_uuid]
    kept = store.capture(bad.capture_uuid)
    assert kept.state == "refused" and "限值" in (kept.reason or "") and kept.path.exists()
    # the device had counted the refused capture: now the item is missing again, and the checklist says why
    assert set(report.still_missing[SUBMIT_KEY]) == {"house_back_photo", "house_front_photo"}
    queued = store.submissions(states=("queued",))
    assert [q.stage_code for q in queued] == ["survey"] and set(queued[0].missing) == set(
        report.still_missing[SUBMIT_KEY])
    rows = {r.code: r for r in field.checklist(store, PROJECT, HH1, "survey")}
    assert rows["house_front_photo"].state == "refused" and "限值" in rows["house_front_photo"].reasons[0]
    assert rows["house_back_photo"].state == "missing" and rows["house_left_photo"].state == "uploaded"
    with pytest.raises(GateError) as again:
        field.submit_stage(store, PROJECT, HH1, "survey")
    assert set(again.value.missing) == {"house_back_photo", "house_front_photo"}
    case = survey_open.get(f"/projects/{PROJECT}/cases/{HH1}").json()
    assert next(s for s in case["stages"] if s["code"] == "survey")["state"] == "open"
    assert conn.execute(text("SELECT count(*) FROM case_capture WHERE capture_uuid::text = :u"),
                        {"u": bad.capture_uuid}).scalar_one() == 0
    assert len(uuids) > 30
