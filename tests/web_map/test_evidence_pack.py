"""The evidence pack of an alert: a PDF in Chinese with an embedded font, its figures in the text layer, its
SHA-256 stored and returned; checked with poppler's pdftotext, pdffonts and pdftoppm on a live server."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.web_map.test_map_in_browser import PASSWORD, live_server  # noqa: F401
from tests.web_map.test_workbench_in_browser import INFLATED, workbench_project  # noqa: F401


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: apt-get install poppler-utils")
    return path


def test_evidence_pack_pdf(live_server, workbench_project, conn, tmp_path):  # noqa: F811
    alert_id = workbench_project["AREA_INFLATED"]
    with httpx.Client(base_url=live_server, timeout=30) as client:
        token = client.post("/auth/token", data={"username": "S003", "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        step = client.post(f"/alerts/{alert_id}/actions", headers=auth,
                           json={"action": "assign", "assignee": "S003", "opinion": "由本人核查该房屋面积"})
        assert step.status_code == 200
        r = client.get(f"/alerts/{alert_id}/evidence-pack.pdf", headers=auth)
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        crew = client.post("/auth/token", data={"username": "S001", "password": PASSWORD}).json()["access_token"]
        hidden = client.get(f"/alerts/{alert_id}/evidence-pack.pdf", headers={"Authorization": f"Bearer {crew}"})
        assert hidden.status_code == 404                       # a field crew member does not see a report alert
    pdf = r.content
    digest = hashlib.sha256(pdf).hexdigest()
    assert r.headers["x-evidence-pack-sha256"] == digest
    stored = conn.execute(text("SELECT sha256, size_bytes, alert_state FROM alert_evidence_pack WHERE alert_id = :a"),
                          {"a": alert_id}).all()
    assert [tuple(s) for s in stored] == [(digest, len(pdf), "assigned")]
    audited = conn.execute(text("SELECT actor FROM audit_event WHERE action = 'alert.evidence_pack' "
                                "AND object_key = :k"), {"k": str(alert_id)}).scalars().all()
    assert audited == ["S003"]

    path = tmp_path / "pack.pdf"
    path.write_bytes(pdf)
    body = subprocess.run([_tool("pdftotext"), "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    for expected in ("预警证据包", "面积虚报", INFLATED, "核定建筑面积", "130.00 ㎡", "80.00 ㎡", "1.20 ㎡",
                     "48.80 ㎡", "限差依据", "户籍记录", "李秀英", "处置记录", "由本人核查该房屋面积", "审计日志", "预警·分派核查",
                     "征收前影像 2025-02-20", "征收后影像 2025-10-15"):
        assert expected in body, expected
    fonts = subprocess.run([_tool("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("yes" in row[-5:-3] for row in rows)          # every font embedded (emb column)
    assert any("CJK" in row[0] or "Noto" in row[0] or "WenQuanYi" in row[0] for row in rows)
    subprocess.run([_tool("pdftoppm"), "-r", "50", "-png", str(path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and all(p.stat().st_size > 5000 for p in pages)
    shots = Path(__file__).resolve().parents[2] / "test-output" / "web_map"
    shots.mkdir(parents=True, exist_ok=True)
    subprocess.run([_tool("pdftoppm"), "-r", "70", "-png", str(path), str(shots / "workbench_evidence_pack")],
                   check=True)
