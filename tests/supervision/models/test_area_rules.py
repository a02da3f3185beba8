"""The four area rules on real PostGIS: exact against truth.csv, SQL = gis_core, idempotent, exported."""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from click.testing import CliRunner
from shapely.geometry import box
from sqlalchemy import text

from expro.cli import cli
from gis_core.areas import building_area_metrics
from gis_core.tolerance import Tolerance
from supervision import models
from supervision.package.service import import_package
from tests.common import package_tables, write_package
from tests.supervision.models.conftest import truth_of

AREA_RULES = {"AREA_INFLATED", "NOT_AT_BASELINE", "NOT_DEMOLISHED", "OUTSIDE_SCOPE"}


def _alerts(conn, code: str, rules: set[str]) -> set[tuple[str, str, str]]:
    rows = conn.execute(text("SELECT a.rule_code, a.subject_type, a.subject_key FROM alert a JOIN project p "
                             "ON p.id = a.project_id WHERE p.code = :c AND a.firing AND a.rule_code = ANY(:r)"),
                        {"c": code, "r": list(rules)}).all()
    return {tuple(r) for r in rows}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_area_rules_find_exactly_the_planted_anomalies(conn, district_dir, seed):
    pkg = district_dir(seed)
    result, _ = import_package(conn, pkg)
    models.run_all(conn, result.project_code)
    found = _alerts(conn, result.project_code, AREA_RULES)
    truth = truth_of(pkg, AREA_RULES)
    for rule in sorted(AREA_RULES):
        f = {x for x in found if x[0] == rule}
        t = {x for x in truth if x[0] == rule}
        assert t, f"no planted {rule} for seed {seed}"
        assert f == t, f"{rule} seed {seed}: false positives {sorted(f - t)}, missed {sorted(t - f)}"


def test_sql_agrees_with_gis_core(conn, district_dir):
    pkg = district_dir(1)
    result, _ = import_package(conn, pkg)
    tol = Tolerance.from_preset("class3")
    sql = pd.DataFrame(conn.execute(text(
        "SELECT * FROM expro_building_area_metrics(:p, :a, :b, :k)"),
        {"p": result.project_id, "a": tol.a, "b": tol.b, "k": tol.resolution_k}).mappings().all())
    buildings = gpd.read_file(pkg / "buildings.gpkg")
    baseline = gpd.read_file(pkg / "footprints_baseline.gpkg")
    after = gpd.read_file(pkg / "footprints_after.gpkg")
    py = building_area_metrics(buildings, baseline, after, tolerance=tol)
    py["key"] = buildings["parcel_code"] + "/" + buildings["building_no"].astype(str)
    sql["key"] = sql["parcel_code"] + "/" + sql["building_no"]
    merged = py.merge(sql, on="key", suffixes=("_py", "_sql"))
    assert len(merged) == len(buildings) == len(sql)
    for col in ["outline_area_m2", "baseline_area_m2", "expected_floor_area_m2", "tolerance_m2", "discrepancy_m2",
                "after_area_m2", "baseline_perimeter_m"]:
        diff = np.abs(merged[f"{col}_py"].astype(float) - merged[f"{col}_sql"].astype(float))
        assert diff.max() < 0.01, f"{col}: max difference {diff.max()}"
    for col in ["baseline_coverage", "after_coverage"]:
        assert np.abs(merged[f"{col}_py"] - merged[f"{col}_sql"]).max() < 1e-6
    assert (merged["baseline_coverage_py"] > 0.999).mean() > 0.9      # a meaningful comparison, not all zero


def test_check_is_idempotent_and_keeps_dispositions(conn, district_dir):
    pkg = district_dir(2)
    result, _ = import_package(conn, pkg)
    first = models.run_all(conn, result.project_code)
    snapshot = conn.execute(text("SELECT id, rule_code, subject_key, evidence FROM alert WHERE project_id = :p "
                                 "ORDER BY id"), {"p": result.project_id}).all()
    target = next(r for r in snapshot if r.rule_code == "AREA_INFLATED")
    conn.execute(text("UPDATE alert SET state = 'confirmed' WHERE id = :i"), {"i": target.id})
    second = models.run_all(conn, result.project_code)
    assert first == second
    again = conn.execute(text("SELECT id, rule_code, subject_key, evidence FROM alert WHERE project_id = :p "
                              "ORDER BY id"), {"p": result.project_id}).all()
    assert again == snapshot
    # the claimed area is corrected: the rule stops firing, the alert and its disposition stay
    parcel, bno = target.subject_key.split("/")
    conn.execute(text("UPDATE building SET claimed_floor_area_m2 = outline_area_m2 * storeys "
                      "WHERE project_id = :p AND parcel_code = :c AND building_no = :b"),
                 {"p": result.project_id, "c": parcel, "b": bno})
    models.run_all(conn, result.project_code)
    row = conn.execute(text("SELECT state, firing FROM alert WHERE id = :i"), {"i": target.id}).one()
    assert tuple(row) == ("confirmed", False)


def test_alerts_export_csv_and_json(conn, district_dir, tmp_path):
    pkg = district_dir(3)
    result, _ = import_package(conn, pkg)
    res = CliRunner().invoke(cli, ["check", "--project", result.project_code])
    assert res.exit_code == 0, res.output
    out = tmp_path / "alerts.csv"
    res = CliRunner().invoke(cli, ["alerts", "export", "--project", result.project_code, "--format", "csv",
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0].keys()) == ["rule_code", "severity", "project_code", "subject_type", "subject_key", "message",
                                    "evidence"]
    area = [r for r in rows if r["rule_code"] in AREA_RULES]
    assert {(r["rule_code"], r["subject_type"], r["subject_key"]) for r in area} == truth_of(pkg, AREA_RULES)
    for r in area:
        assert r["severity"] in ("prompt", "internal", "report") and r["project_code"] == result.project_code
        evidence = json.loads(r["evidence"])
        if r["subject_type"] == "building":
            for key in ("baseline_area_m2", "baseline_coverage", "storeys_claimed", "expected_floor_area_m2",
                        "tolerance_m2", "discrepancy_m2", "discrepancy_pct", "after_coverage", "storeys_source",
                        "baseline_source"):
                assert key in evidence, (r["rule_code"], key)
        else:
            assert 0 <= evidence["inside_scope_fraction"] < 0.5
        assert r["message"] and not r["message"].isascii()          # Chinese for the inspectors
    inflated = next(r for r in area if r["rule_code"] == "AREA_INFLATED")
    ev = json.loads(inflated["evidence"])
    assert ev["claimed_floor_area_m2"] > ev["expected_floor_area_m2"] + ev["tolerance_m2"]
    res = CliRunner().invoke(cli, ["alerts", "export", "--project", result.project_code, "--format", "csv",
                                   "-o", str(out)])
    assert res.exit_code == 2                                        # no overwrite without --overwrite
    jout = tmp_path / "alerts.json"
    CliRunner().invoke(cli, ["alerts", "export", "--project", result.project_code, "--format", "json", "-o", str(jout)])
    data = json.loads(jout.read_text(encoding="utf-8"))
    assert len(data) == len(rows) and isinstance(data[0]["evidence"], dict)
    res = CliRunner().invoke(cli, ["check", "--project", "NO-SUCH"])
    assert res.exit_code == 2 and "NO-SUCH" in res.output


def test_real_buildings_through_the_import_path_agree_with_geodesic_areas(conn, tmp_path, real_data):
    raw = gpd.read_file(real_data / "elev_alexandria_buildings.geojson")
    geod = pyproj.Geod(ellps="WGS84")
    geodesic = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in raw.geometry])
    utm = raw.to_crs("EPSG:26918")
    extent = box(*utm.total_bounds).buffer(20)
    parcel = "510000000001JC00001"
    tables = package_tables()
    tables = {"villages": tables["villages"], "households": tables["households"].iloc[:1],
              "claims": tables["claims"].iloc[:1].assign(parcel_code=parcel, building_no="")}
    tables["households"] = tables["households"].copy()
    tables["villages"] = tables["villages"].copy()
    layers = {
        "scope": gpd.GeoDataFrame(geometry=[extent], crs="EPSG:26918"),
        "parcels": gpd.GeoDataFrame({"parcel_code": [parcel], "village_code": ["210112101201"],
                                     "land_class": ["homestead"], "household_no": [""], "certificate_no": [""]},
                                    geometry=[extent.buffer(-5)], crs="EPSG:26918"),
        "buildings": raw.assign(parcel_code=parcel, building_no=[str(i + 1) for i in range(len(raw))],
                                structure_type="brick_concrete", storeys=1,
                                claimed_floor_area_m2=raw["SQMETERS"].fillna(0).round(2))[
            ["parcel_code", "building_no", "structure_type", "storeys", "claimed_floor_area_m2", "geometry"]],
        "footprints_baseline": raw.assign(footprint_id=[f"F{i}" for i in range(len(raw))], height_m=raw["HEIGHT"])[
            ["footprint_id", "height_m", "geometry"]],
    }
    toml = ('code = "ALX"\nname = "Alexandria real footprints"\ncounty_code = "510000"\ncrs = "EPSG:26918"\n'
            'pre_announcement_date = 2025-03-01\n')
    pkg = write_package(tmp_path / "alx", tables=tables, layers=layers, project_toml=toml)   # GeoJSON in CRS84
    result, _ = import_package(conn, pkg)
    rows = conn.execute(text("SELECT building_no, baseline_area_m2, outline_area_m2 FROM "
                             "expro_building_area_metrics(:p, 0.08, 0.006, 1.5) ORDER BY building_no::int"),
                        {"p": result.project_id}).all()
    assert len(rows) == len(raw)
    measured = np.array([r.baseline_area_m2 for r in rows])
    assert (np.abs(measured - geodesic) / geodesic).max() < 5e-4
