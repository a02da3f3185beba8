"""The Dask engine on a LocalCluster against the local (PostGIS) engine on the synthetic district: the same area
figures, the same registry matches, the same alert set with the same evidence, dispositions kept."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from supervision import area_metrics, models, registry_scope
from supervision.engines import EngineError, run_check
from supervision.engines.dask_engine import DaskTimings, compute_inputs
from supervision.package.service import import_package
from supervision.projects import get_project


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster of two small in-process workers (quick to start), its address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _alerts(conn, code: str) -> dict[tuple[str, str, str], dict]:
    rows = conn.execute(text("""
        SELECT a.rule_code, a.subject_type, a.subject_key, a.severity, a.message, a.evidence, a.firing, a.state,
               a.assignee_user_id
        FROM alert a JOIN project p ON p.id = a.project_id WHERE p.code = :c"""), {"c": code}).mappings().all()
    return {(r["rule_code"], r["subject_type"], r["subject_key"]): dict(r) for r in rows}


def _table(conn, name: str, key: str) -> pd.DataFrame:
    frame = pd.DataFrame([dict(r) for r in conn.execute(text(f"SELECT * FROM pg_temp.{name}")).mappings().all()])
    return frame.sort_values(key).reset_index(drop=True)


def _same_frames(local: pd.DataFrame, dask: pd.DataFrame) -> None:
    assert list(local.columns) == list(dask.columns)
    assert len(local) == len(dask) > 0
    for col in local.columns:
        a, b = local[col], dask[col]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            x, y = pd.to_numeric(a).to_numpy(float), pd.to_numeric(b).to_numpy(float)
            assert np.array_equal(np.isnan(x), np.isnan(y)), col
            assert np.allclose(x[~np.isnan(x)], y[~np.isnan(y)], rtol=1e-9, atol=1e-7), col
        else:
            assert a.astype(object).where(a.notna(), None).tolist() == b.astype(object).where(b.notna(), None).tolist(), col


def _figures_both_ways(conn, code: str, scheduler: str) -> None:
    from distributed import Client

    project = get_project(conn, code)
    area_metrics.ensure(conn, project)
    registry_scope.ensure(conn, project)
    local_m, local_r = _table(conn, "expro_area_metrics", "building_id"), _table(conn, "expro_reg", "id_number")
    area_metrics.drop(conn)
    registry_scope.drop(conn)
    timings = DaskTimings()
    with Client(scheduler, set_as_default=False) as client:
        compute_inputs(conn, project, client, __import__("pathlib").Path(__import__("tempfile").mkdtemp()), timings)
    dask_m, dask_r = _table(conn, "expro_area_metrics", "building_id"), _table(conn, "expro_reg", "id_number")
    area_metrics.drop(conn)
    registry_scope.drop(conn)
    _same_frames(local_m, dask_m)
    _same_frames(local_r, dask_r)
    assert set(timings.seconds) == {"export", "area_metrics", "registry", "load"}


def test_dask_engine_gives_the_local_engines_figures_and_alerts(conn, district_dir, scheduler):
    result, _ = import_package(conn, district_dir(1))
    code = result.project_code
    _figures_both_ways(conn, code, scheduler)
    local = run_check(conn, code, engine="local")
    local_alerts = _alerts(conn, code)
    assert sum(local.hits.values()) > 20 and local.hits["AREA_INFLATED"] > 0
    # a disposition taken between the two checks is kept
    some = next(k for k in local_alerts if k[0] == "NOT_AT_BASELINE")
    conn.execute(text("UPDATE alert SET state = 'assigned' WHERE project_id = :p AND rule_code = :r "
                      "AND subject_key = :k"), {"p": result.project_id, "r": some[0], "k": some[2]})
    # a clean slate for the Dask check: every alert marked not firing, evidence blanked
    conn.execute(text("UPDATE alert SET firing = false, evidence = '{}'::jsonb, message = '' WHERE project_id = :p"),
                 {"p": result.project_id})
    dask = run_check(conn, code, engine="dask", scheduler=scheduler)
    assert dask.hits == local.hits and dask.not_measurable == local.not_measurable
    dask_alerts = _alerts(conn, code)
    assert dask_alerts.keys() == local_alerts.keys()
    for key, row in local_alerts.items():
        other = dask_alerts[key]
        for col in ("severity", "message", "firing"):
            assert other[col] == row[col], (key, col)
        assert json.dumps(other["evidence"], sort_keys=True) == json.dumps(row["evidence"], sort_keys=True), key
    assert dask_alerts[some]["state"] == "assigned"


def test_dask_engine_with_imagery_footprints_measured_flights_and_confidence(conn, district_dir, scheduler):
    """Baseline footprints from imagery (pixel term, confidence), a measured flight covering part of the project:
    coverage and confidence per building come out the same on the cluster."""
    result, _ = import_package(conn, district_dir(2))
    p = result.project_id
    conn.execute(text("""UPDATE footprint SET source = 'imagery', pixel_size_m = 0.15,
                                confidence = 0.4 + (id % 7) / 10.0 WHERE project_id = :p AND phase = 'baseline'"""),
                 {"p": p})
    conn.execute(text("""
        INSERT INTO orthophoto (project_id, phase, captured_on, source_path, cog_path, sha256, size_bytes, width_px,
                                height_px, band_count, dtype, crs, resolution_m, footprint, status, ingest)
        SELECT :p, 'baseline', DATE '2025-02-01', 'x.tif', 'x.cog.tif', repeat('a', 64), 1, 1, 1, 3, 'uint8', 'EPSG:4550', 0.15,
               ST_Multi(ST_MakeEnvelope(ST_XMin(e), ST_YMin(e), (ST_XMin(e) + ST_XMax(e)) / 2, ST_YMax(e),
                                        ST_SRID(e))), 'ingested', '{"footprints_measured_at": "2025-02-02"}'::jsonb
        FROM (SELECT ST_SetSRID(ST_Extent(geom)::geometry, min(ST_SRID(geom))) AS e FROM building
              WHERE project_id = :p) x"""), {"p": p})
    _figures_both_ways(conn, result.project_code, scheduler)
    local = run_check(conn, result.project_code, engine="local")
    local_alerts = _alerts(conn, result.project_code)
    assert local.not_measurable.get("AREA_INFLATED", 0) > 0
    dask = run_check(conn, result.project_code, engine="dask", scheduler=scheduler)
    assert dask.hits == local.hits and dask.not_measurable == local.not_measurable
    assert {k: (v["message"], json.dumps(v["evidence"], sort_keys=True)) for k, v in
            _alerts(conn, result.project_code).items()} == {
        k: (v["message"], json.dumps(v["evidence"], sort_keys=True)) for k, v in local_alerts.items()}


def test_dask_engine_refuses_bad_arguments(conn, district_dir, monkeypatch):
    monkeypatch.setenv("EXPRO_DASK_TIMEOUT", "2s")
    result, _ = import_package(conn, district_dir(1))
    with pytest.raises(EngineError, match="scheduler"):
        run_check(conn, result.project_code, engine="dask")
    with pytest.raises(EngineError, match="unknown engine"):
        run_check(conn, result.project_code, engine="spark")
    with pytest.raises(EngineError, match="cannot reach"):
        run_check(conn, result.project_code, engine="dask", scheduler="tcp://127.0.0.1:9")


def test_cli_check_and_report_on_the_cluster(conn, runner, district_dir, scheduler, tmp_path):
    from expro.cli import cli

    result, _ = import_package(conn, district_dir(1))
    code = result.project_code
    res = runner.invoke(cli, ["check", "--project", code, "--engine", "dask", "--scheduler", scheduler])
    assert res.exit_code == 0, res.output
    dask_alerts = _alerts(conn, code)
    res = runner.invoke(cli, ["report", "--project", code, "-o", str(tmp_path / "d"), "--period", "2026-10",
                              "--engine", "dask", "--scheduler", scheduler, "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "engine=dask" in res.output
    dask_run = conn.execute(text("SELECT engine, figures, alert_set_sha256 FROM report_run WHERE project_id = :p"),
                            {"p": result.project_id}).mappings().one()
    conn.execute(text("DELETE FROM report_run WHERE project_id = :p"), {"p": result.project_id})
    res = runner.invoke(cli, ["report", "--project", code, "-o", str(tmp_path / "l"), "--period", "2026-10",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    local_run = conn.execute(text("SELECT engine, figures, alert_set_sha256 FROM report_run WHERE project_id = :p"),
                             {"p": result.project_id}).mappings().one()
    assert (dask_run["engine"], local_run["engine"]) == ("dask", "local")
    assert dask_run["figures"] == local_run["figures"]
    assert dask_run["alert_set_sha256"] == local_run["alert_set_sha256"]
    assert _alerts(conn, code) == dask_alerts
    res = runner.invoke(cli, ["check", "--project", code, "--engine", "dask"])
    assert res.exit_code == 2 and "--scheduler" in res.output
