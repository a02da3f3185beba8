"""The field app's Kivy screens in a real window, both orientations, against the live API (issue 12).

Each test runs ``python -m mobile_app --tour DIR --server URL --orientation O`` in a subprocess (Kivy allows
one window per process; SDL is offscreen) and checks the screenshots it wrote and what the screens showed.
The screenshots are kept under ``test-output/mobile_app/<orientation>/`` (and the test's tmp_path).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tests.common import BUILDINGS, SCOPE
from tests.mobile_app.conftest import HH1, PROJECT

ROOT = Path(__file__).resolve().parents[2]
FONT = ROOT / "mobile_app" / "fonts" / "ExproSansSC-Regular.otf"
OUTPUT = ROOT / "test-output" / "mobile_app"
SCREENS = ["signin", "cases", "case", "stage", "capture-refused", "capture", "quantity", "signature",
           "stage-complete", "map", "sync", "sync-done"]
SIZES = {"landscape": (1280, 800), "portrait": (800, 1280)}


RES_M = 0.25


@pytest.fixture
def orthophoto(survey_open, conn, tmp_path) -> int:
    """A baseline flight over the canonical project (ground, fields, the houses' roofs), ingested into a COG."""
    import datetime as dt

    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from sqlalchemy import text

    from imagery.ingest import ingest_orthophoto

    x0, y0, x1, y1 = SCOPE.bounds
    width, height = int((x1 - x0) / RES_M), int((y1 - y0) / RES_M)
    rng = np.random.default_rng(7)
    img = np.empty((3, height, width), np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    img[0] = 120 + 30 * np.sin(xx / 37.0) + rng.integers(0, 12, (height, width))
    img[1] = 135 + 25 * np.cos(yy / 53.0) + rng.integers(0, 12, (height, width))
    img[2] = 95 + rng.integers(0, 12, (height, width))
    for n, geom in enumerate(BUILDINGS.values()):
        bx0, by0, bx1, by1 = geom.bounds
        c0, c1 = int((bx0 - x0) / RES_M), int((bx1 - x0) / RES_M)
        r0, r1 = int((y1 - by1) / RES_M), int((y1 - by0) / RES_M)
        img[:, r0:r1, c0:c1] = np.array([(172, 84, 60), (86, 116, 154)][n % 2], np.uint8)[:, None, None]
    path = tmp_path / "baseline.tif"
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
                       crs="EPSG:4550", transform=from_origin(x0, y1, RES_M, RES_M), tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate") as dst:
        dst.write(img)
    project_id = conn.execute(text("SELECT id FROM project WHERE code = :c"), {"c": PROJECT}).scalar_one()
    return ingest_orthophoto(conn, path, project_id=project_id, phase="baseline", captured_on=dt.date(2025, 2, 20),
                             store_dir=tmp_path / "store")


def run_tour(url: str, out: Path, orientation: str) -> dict:
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1",
               KIVY_HOME=str(out.parent / ".kivy"), OMP_NUM_THREADS="1")
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "mobile_app", "--tour", str(out), "--server", url,
                          "--orientation", orientation, "--case", HH1], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    print(f"tour {orientation}: {time.monotonic() - started:.1f} s")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads((out / "tour.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
def test_tour_walks_every_screen(survey_open, orthophoto, tmp_path, orientation):
    out = tmp_path / orientation
    summary = run_tour(survey_open.server.url, out, orientation)
    names = [s["name"] for s in summary["screens"]]
    assert names == SCREENS, summary.get("error")
    keep = OUTPUT / orientation
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    for shot in summary["screens"]:
        path = out / shot["file"]
        with Image.open(path) as image:
            assert image.size == SIZES[orientation], shot
            stat = ImageStat.Stat(image.convert("L"))
            assert stat.stddev[0] > 10, f"{shot['file']} looks blank"
        shutil.copy(path, keep / shot["file"])
    print(f"screenshots: {keep} and {out}")

    checks = summary["checks"]
    # the stage of the demo case: submit disabled while items are missing, enabled once complete
    assert checks["stage"] == "survey"
    assert checks["submit_enabled_at_start"] is False
    assert "缺" in checks["note_at_start"] or "必填" in checks["note_at_start"]
    assert checks["submit_enabled_when_complete"] is True
    assert checks["submit_enabled_after_submit"] is False
    assert checks["note_after_submit"] == "已提交，等待同步"
    # a position worse than the project's limit refuses the capture, a good one allows it
    assert checks["capture_allowed_when_inaccurate"] is False
    assert "不能采集" in checks["position_refused_text"]
    assert checks["capture_allowed_when_accurate"] is True
    # the quantity form checks as typed
    assert checks["quantity_errors"]["storeys"] == "层数须在 1 到 200 之间"
    assert checks["quantity_errors"]["width_m"] == "宽度须为数字"
    assert "正射影像" in checks["map_info"] and "本机瓦片 0 张" not in checks["map_info"], checks["map_info"]
    assert checks["sync_before"].startswith("待上传采集")
    assert checks["sync_after"].startswith("全部已同步"), checks["sync_after"]
    # and the server has the survey submitted by the app
    case = survey_open.get(f"/projects/{PROJECT}/cases/{HH1}").json()
    survey = next(s for s in case["stages"] if s["code"] == "survey")
    assert survey["state"] == "submitted"


def test_screen_texts_are_covered_by_the_bundled_font():
    """Every character the screens show is in the font (else it would render as a box)."""
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(FONT)).getBestCmap()
    folder = ROOT / "mobile_app" / "screens"
    texts = "".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.kv")) + sorted(
        folder.glob("*.py"))) + (ROOT / "mobile_app" / "views.py").read_text(encoding="utf-8")
    missing = sorted({c for c in texts if ord(c) > 0x7F and ord(c) not in cmap})
    assert not missing
