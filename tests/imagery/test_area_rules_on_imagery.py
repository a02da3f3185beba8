"""The area rules on footprints measured from the orthophotos alone (a package without footprint files)."""

from __future__ import annotations

import csv
import datetime as dt
import shutil

from sqlalchemy import text

from imagery.footprints import measure_orthophoto
from imagery.ingest import ingest_orthophoto
from supervision.models import area_inflated, not_at_baseline, not_demolished, outside_scope
from supervision.package.service import import_package
from supervision.projects import get_project

RULES = (area_inflated, not_at_baseline, not_demolished, outside_scope)


def test_area_rules_on_imagery_footprints_find_the_planted_anomalies(conn, district40, store, tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(district40, pkg)
    for name in ("footprints_baseline.gpkg", "footprints_after.gpkg"):
        (pkg / name).unlink()
    result, _ = import_package(conn, pkg)
    pid = result.project_id
    assert conn.execute(text("SELECT count(*) FROM footprint WHERE project_id = :p"), {"p": pid}).scalar() == 0
    flights = {r["phase"]: dt.date.fromisoformat(r["captured_on"])
               for r in csv.DictReader(open(pkg / "orthophotos.csv", encoding="utf-8"))}
    for phase, captured in flights.items():
        oid = ingest_orthophoto(conn, pkg / "imagery" / f"{phase}.tif", project_id=pid, phase=phase,
                                captured_on=captured, store_dir=store)
        assert measure_orthophoto(conn, oid) > 0
    project = get_project(conn, "HN-S1-IMAGERY")
    truth: dict[str, set[str]] = {}
    for row in csv.DictReader(open(pkg / "truth.csv", encoding="utf-8")):
        truth.setdefault(row["rule_code"], set()).add(row["subject_key"])
    for module in RULES:
        code = module.MODEL.code
        module.MODEL.run(conn, project)
        found = {k for (k,) in conn.execute(text(
            "SELECT subject_key FROM alert WHERE project_id = :p AND rule_code = :r AND firing"),
            {"p": pid, "r": code})}
        planted = truth.get(code, set())
        assert planted, code
        tp = len(found & planted)
        precision, recall = tp / max(len(found), 1), tp / len(planted)
        assert precision >= 0.95 and recall >= 0.95, (code, sorted(found - planted), sorted(planted - found))
        if code in ("AREA_INFLATED", "NOT_AT_BASELINE", "NOT_DEMOLISHED"):
            sources = conn.execute(text(
                "SELECT DISTINCT evidence->>'baseline_source', evidence->>'after_source' FROM alert "
                "WHERE project_id = :p AND rule_code = :r"), {"p": pid, "r": code}).all()
            assert sources == [("imagery", "imagery")], (code, sources)
