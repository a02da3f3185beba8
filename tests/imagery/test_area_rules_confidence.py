"""The area rules use only imagery footprints their extractor is sure of; the rest are not measurable, and the
evidence of an alert names the flight, the extractor, the confidence and the tolerance."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil

import geopandas as gpd
import pytest
from sqlalchemy import text

from imagery.catalogue import get_orthophoto
from imagery.footprints import ExtractedFootprint, store_footprints
from imagery.ingest import ingest_orthophoto
from supervision import area_metrics, models
from supervision.models import area_inflated, not_at_baseline, not_demolished
from supervision.package.service import import_package
from supervision.projects import get_project

CODE = "HN-S1-IMAGERY"
SURE, UNSURE = 0.9, 0.3


@pytest.fixture
def imagery_project(conn, district40, store, tmp_path):
    """The district imported without footprint files; both flights ingested and "measured" with the surveyed
    outlines as footprints of a sure extractor (the rules then find what the package planted)."""
    pkg = tmp_path / "pkg"
    shutil.copytree(district40, pkg)
    outlines = {ph: gpd.read_file(pkg / f"footprints_{ph}.gpkg") for ph in ("baseline", "after")}
    for ph in outlines:
        (pkg / f"footprints_{ph}.gpkg").unlink()
    result, _ = import_package(conn, pkg)
    flights = {r["phase"]: dt.date.fromisoformat(r["captured_on"])
               for r in csv.DictReader(open(pkg / "orthophotos.csv", encoding="utf-8"))}
    ids = {}
    for phase, captured in flights.items():
        oid = ingest_orthophoto(conn, pkg / "imagery" / f"{phase}.tif", project_id=result.project_id, phase=phase,
                                captured_on=captured, store_dir=store)
        found = [ExtractedFootprint(g, 1.0, None, SURE, "model:test") for g in outlines[phase].geometry]
        store_footprints(conn, get_orthophoto(conn, oid), found)
        ids[phase] = oid
    truth: dict[str, set[str]] = {}
    for row in csv.DictReader(open(pkg / "truth.csv", encoding="utf-8")):
        truth.setdefault(row["rule_code"], set()).add(row["subject_key"])
    return result.project_id, ids, flights, truth


def _firing(conn, pid: int, code: str) -> dict[str, dict]:
    rows = conn.execute(text("SELECT subject_key, evidence FROM alert WHERE project_id = :p AND rule_code = :r "
                             "AND firing"), {"p": pid, "r": code}).all()
    return {k: (e if isinstance(e, dict) else json.loads(e)) for k, e in rows}


def _run(conn, module) -> models.CheckResult:
    area_metrics.drop(conn)
    project = get_project(conn, CODE)
    module.MODEL.run(conn, project)
    return models.CheckResult({}, {module.MODEL.code: module.MODEL.unmeasured(conn, project)})


def _make_unsure(conn, pid: int, phase: str, subject_key: str) -> int:
    """Lower the confidence of the ``phase`` imagery footprints over one building; how many buildings they touch."""
    parcel, no = subject_key.split("/")
    conn.execute(text("""
        UPDATE footprint f SET confidence = :c FROM building b
        WHERE b.project_id = :p AND b.parcel_code = :pc AND b.building_no = :bn AND f.project_id = :p
          AND f.phase = :ph AND f.source = 'imagery' AND ST_Intersects(f.geom, b.geom)"""),
        {"c": UNSURE, "p": pid, "pc": parcel, "bn": no, "ph": phase})
    return conn.execute(text("""
        SELECT count(DISTINCT b.id) FROM building b JOIN footprint f ON ST_Intersects(f.geom, b.geom)
        WHERE b.project_id = :p AND f.project_id = :p AND f.phase = :ph AND f.source = 'imagery'
          AND f.confidence = :c"""), {"c": UNSURE, "p": pid, "ph": phase}).scalar_one()


@pytest.mark.parametrize("module, phase", [(area_inflated, "baseline"), (not_demolished, "after")])
def test_an_unsure_footprint_does_not_raise_and_is_not_measurable(conn, imagery_project, module, phase):
    pid, ids, flights, truth = imagery_project
    code = module.MODEL.code
    before = _run(conn, module).not_measurable[code]
    fired = _firing(conn, pid, code)
    assert truth[code] <= set(fired), code                # sure footprints: the planted anomalies fire
    target = sorted(truth[code])[0]
    evidence = fired[target]
    assert evidence[f"{phase}_source"] == "imagery"
    assert evidence[f"{phase}_confidence"] == pytest.approx(SURE)
    assert evidence["min_footprint_confidence"] == pytest.approx(0.6)
    assert evidence["tolerance"]["preset"] and "a" in evidence["tolerance"]
    flight = next(f for f in evidence["imagery_flights"] if f["phase"] == phase)
    assert flight["orthophoto_id"] == ids[phase] and flight["captured_on"] == flights[phase].isoformat()
    assert flight["extractor"] == "model:test"
    assert flight["footprints"] and {f["confidence"] for f in flight["footprints"]} == {SURE}
    assert {f["extractor"] for f in flight["footprints"]} == {"model:test"}

    touched = _make_unsure(conn, pid, phase, target)
    after = _run(conn, module).not_measurable[code]
    assert target not in _firing(conn, pid, code)
    assert after >= before + 1 and after - before <= touched

    project_rules = {code: {"min_footprint_confidence": 0.2}}      # a project that accepts less sure footprints
    conn.execute(text("UPDATE project SET rules = CAST(:r AS jsonb) WHERE id = :p"),
                 {"r": json.dumps(project_rules), "p": pid})
    assert _run(conn, module).not_measurable[code] == before
    assert _firing(conn, pid, code)[target][f"{phase}_confidence"] == pytest.approx(UNSURE)


def test_an_unsure_fragment_is_not_taken_for_absence(conn, imagery_project):
    pid, ids, _, truth = imagery_project
    code = not_at_baseline.MODEL.code
    before = _run(conn, not_at_baseline).not_measurable[code]
    fired = _firing(conn, pid, code)
    assert truth[code] <= set(fired)
    target = sorted(truth[code])[0]
    assert fired[target]["imagery_flights"][0]["orthophoto_id"] == ids["baseline"]
    parcel, no = target.split("/")
    corner = conn.execute(text("""SELECT ST_AsText(ST_Intersection(b.geom, ST_Buffer(ST_PointN(ST_ExteriorRing(
                                      ST_GeometryN(b.geom, 1)), 1), 2)))
                                  FROM building b WHERE b.project_id = :p AND b.parcel_code = :pc
                                    AND b.building_no = :bn"""), {"p": pid, "pc": parcel, "bn": no}).scalar_one()
    conn.execute(text("""INSERT INTO footprint (project_id, phase, source, footprint_id, orthophoto_id, pixel_size_m,
                                                geom, confidence, extractor)
                         VALUES (:p, 'baseline', 'imagery', 'UNSURE-1', :o, 0.1,
                                 ST_Multi(ST_GeomFromText(:g, 4550)), :c, 'model:test')"""),
                 {"p": pid, "o": ids["baseline"], "g": corner, "c": UNSURE})
    after = _run(conn, not_at_baseline).not_measurable[code]
    assert target not in _firing(conn, pid, code)
    assert after == before + 1


def test_check_reports_unsure_buildings_as_not_measurable(conn, imagery_project):
    pid, _, _, truth = imagery_project
    area_metrics.drop(conn)
    before = models.check(conn, CODE).not_measurable
    target = sorted(truth["AREA_INFLATED"])[0]
    _make_unsure(conn, pid, "baseline", target)
    after = models.check(conn, CODE)
    assert after.not_measurable["AREA_INFLATED"] > before["AREA_INFLATED"]
    assert after.not_measurable["NOT_AT_BASELINE"] > before["NOT_AT_BASELINE"]
    assert target not in _firing(conn, pid, "AREA_INFLATED")
