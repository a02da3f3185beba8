"""A package with flights and no footprint files, run as a GIS officer would: `expro import`, then `expro check`.

Issue 9, point 11: no area alert that the measurements do not support. Footprints are extracted from the
flights at import; a building that no measured flight covers is counted not measurable and raises nothing.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import rasterio
from rasterio.windows import Window
from sqlalchemy import text

from expro.cli import cli
from supervision import models
from tests.imagery.conftest import district40  # noqa: F401  (fixture)

AREA_RULES = ("AREA_INFLATED", "NOT_AT_BASELINE", "NOT_DEMOLISHED")


def _imagery_only(source: Path, target: Path, code: str) -> Path:
    """``source`` without its footprint files, under project code ``code``."""
    shutil.copytree(source, target)
    for name in ("footprints_baseline.gpkg", "footprints_after.gpkg"):
        (target / name).unlink()
    toml = target / "project.toml"
    toml.write_text(re.sub(r'(?m)^code = ".*"$', f'code = "{code}"', toml.read_text(encoding="utf-8")),
                    encoding="utf-8")
    return target


def _crop_west(path: Path, share: float) -> None:
    """Keep only the western ``share`` of the orthophoto at ``path`` (a flight that missed part of the scope)."""
    with rasterio.open(path) as src:
        window = Window(0, 0, int(src.width * share), src.height)
        profile = src.profile | {"width": int(window.width), "transform": src.window_transform(window)}
        data = src.read(window=window)
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _area_alerts(conn, pid: int) -> list:
    return conn.execute(text("""
        SELECT a.rule_code, a.subject_key, b.geom FROM alert a
        JOIN building b ON b.project_id = a.project_id AND b.parcel_code || '/' || b.building_no = a.subject_key
        WHERE a.project_id = :p AND a.firing AND a.rule_code = ANY(:r)"""), {"p": pid, "r": list(AREA_RULES)}).all()


def test_flights_without_footprints_are_measured_at_import_and_only_covered_buildings_judged(
        conn, district40, tmp_path, runner):  # noqa: F811
    pkg = _imagery_only(district40, tmp_path / "pkg", "HN-IMG-ONLY")
    _crop_west(pkg / "imagery" / "baseline.tif", 0.35)
    _crop_west(pkg / "imagery" / "after.tif", 0.5)
    res = runner.invoke(cli, ["import", str(pkg)])
    assert res.exit_code == 0, res.output
    assert "extracted from the imagery" in res.output
    pid = conn.execute(text("SELECT id FROM project WHERE code = 'HN-IMG-ONLY'")).scalar_one()
    flights = {r.phase: r for r in conn.execute(text(
        "SELECT id, phase, status, footprint FROM orthophoto WHERE project_id = :p"), {"p": pid})}
    assert {p: f.status for p, f in flights.items()} == {"baseline": "ingested", "after": "ingested"}
    assert conn.execute(text("SELECT count(*) FROM footprint WHERE project_id = :p AND source = 'imagery' "
                             "AND phase = 'baseline'"), {"p": pid}).scalar_one() > 0
    covered, total = conn.execute(text("""
        SELECT count(*) FILTER (WHERE ST_Covers(o.footprint, b.geom)), count(*)
        FROM building b JOIN orthophoto o ON o.project_id = b.project_id AND o.phase = 'baseline'
        WHERE b.project_id = :p"""), {"p": pid}).one()
    assert 0 < covered < total

    res = runner.invoke(cli, ["check", "--project", "HN-IMG-ONLY"])
    assert res.exit_code == 0, res.output
    assert f"{total - covered} subject(s) not measurable" in res.output
    # every area alert stands on a measurement: its building lies inside a measured flight of the phase it needs
    inside = {}
    for phase in ("baseline", "after"):
        inside[phase] = set(conn.execute(text("""
            SELECT b.parcel_code || '/' || b.building_no FROM building b JOIN orthophoto o ON o.id = :o
            WHERE b.project_id = :p AND ST_Covers(o.footprint, b.geom)"""),
            {"p": pid, "o": flights[phase].id}).scalars())
    alerts = _area_alerts(conn, pid)
    for rule, key, _ in alerts:
        assert key in inside["after" if rule == "NOT_DEMOLISHED" else "baseline"], (rule, key)
    result = models.check(conn, "HN-IMG-ONLY")
    assert result.not_measurable["NOT_AT_BASELINE"] == result.not_measurable["AREA_INFLATED"] == total - covered
    paid_outside = conn.execute(text("""
        SELECT count(DISTINCT b.id) FROM building b JOIN claim c ON c.building_id = b.id
        JOIN payment pm ON pm.household_id = c.household_id
        WHERE b.project_id = :p AND NOT (b.parcel_code || '/' || b.building_no = ANY(:inside))"""),
        {"p": pid, "inside": list(inside["after"])}).scalar_one()
    assert result.not_measurable["NOT_DEMOLISHED"] == paid_outside > 0
    assert result.unmeasured_flights == []


def test_unmeasured_flights_raise_no_area_alert_and_check_names_the_command(conn, district40, tmp_path, runner):  # noqa: F811
    pkg = _imagery_only(district40, tmp_path / "pkg", "HN-IMG-CATALOGUED")
    res = runner.invoke(cli, ["import", str(pkg), "--no-imagery"])
    assert res.exit_code == 0, res.output
    pid = conn.execute(text("SELECT id FROM project WHERE code = 'HN-IMG-CATALOGUED'")).scalar_one()
    total = conn.execute(text("SELECT count(*) FROM building WHERE project_id = :p"), {"p": pid}).scalar_one()
    res = runner.invoke(cli, ["check", "--project", "HN-IMG-CATALOGUED"])
    assert res.exit_code == 0, res.output
    assert _area_alerts(conn, pid) == []
    assert re.search(r"NOT_AT_BASELINE\s+0\s+\(" + str(total) + " not measurable", res.output), res.output
    assert "expro ortho footprints" in res.output and "尚未提取房屋轮廓" in res.output
    result = models.check(conn, "HN-IMG-CATALOGUED")
    assert result.not_measurable["NOT_AT_BASELINE"] == total
    assert {f["phase"] for f in result.unmeasured_flights} == {"baseline", "after"}
