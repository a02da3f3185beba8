"""Child process: the four area rules in plain geopandas; prints one JSON line, writes the alert sets.

Usage: python benchmarks/area_check/peer_side.py PROJECT_CODE ALERTS_JSON

Reads the project's tables with ``geopandas.read_postgis`` / ``pandas.read_sql`` (load time), then
computes, with the definitions of DATA_FORMATS §4 and schema_0002_area.sql:

* covered area = area(outline ∩ union(footprints of the phase that intersect the outline)):
  ``overlay(buildings, footprints, how="intersection")``, then per building the piece's area when the
  building has one piece, and ``dissolve`` only for buildings with several pieces (dissolving a
  million one-row groups would only add a Python-level union per building);
* NOT_AT_BASELINE: coverage < 0.20; AREA_INFLATED: coverage ≥ 0.20 and claimed > M + a√M + bM,
  M = covered × storeys, class 3 (a = 0.08, b = 0.006; survey footprints, so no pixel term);
* NOT_DEMOLISHED: building claims merged with payments (paid), survey after-footprints exist, after
  coverage ≥ 0.50;
* OUTSIDE_SCOPE: claimed parcels with area(parcel ∩ scope) / area(parcel) < 0.50; parcels the scope
  covers (``sjoin`` predicate ``covered_by``) count as 1, the others go through ``overlay``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sqlalchemy import text  # noqa: E402

from expro import db  # noqa: E402
from gis_core.tolerance import Tolerance  # noqa: E402
from memwatch import peak_rss_mb  # noqa: E402

MIN_BASELINE_COVERAGE = 0.20
MIN_AFTER_COVERAGE = 0.50
MIN_INSIDE_FRACTION = 0.50


def covered_area(buildings: gpd.GeoDataFrame, footprints: gpd.GeoDataFrame) -> pd.Series:
    """Area of each building outline covered by the union of the footprints (0 where none), by building id."""
    if footprints.empty:
        return pd.Series(0.0, index=buildings["bid"])
    pieces = gpd.overlay(buildings[["bid", "geometry"]], footprints[["geometry"]], how="intersection",
                         keep_geom_type=True)
    n = pieces.groupby("bid").size()
    single = pieces[pieces["bid"].isin(n.index[n == 1])]
    area = pd.Series(single.geometry.area.to_numpy(), index=single["bid"].to_numpy())
    multi = pieces[pieces["bid"].isin(n.index[n > 1])]
    if len(multi):
        merged = multi.dissolve(by="bid")
        area = pd.concat([area, merged.geometry.area])
    return area.reindex(buildings["bid"].to_numpy(), fill_value=0.0)


def main() -> None:
    """Load, compute, compare-ready output."""
    code, alerts_path = sys.argv[1], Path(sys.argv[2])
    engine = db.get_engine()
    t0 = time.perf_counter()
    with engine.connect() as conn:
        project = conn.execute(text("SELECT id, tolerance FROM project WHERE code = :c"), {"c": code}).one()
        p = {"p": project.id}
        buildings = gpd.read_postgis(text(
            "SELECT id AS bid, parcel_code, building_no, storeys, claimed_floor_area_m2::float8 AS claimed_m2, geom "
            "FROM building WHERE project_id = :p"), conn, geom_col="geom", params=p)
        footprints = gpd.read_postgis(text(
            "SELECT phase, source, geom FROM footprint WHERE project_id = :p"), conn, geom_col="geom", params=p)
        parcels = gpd.read_postgis(text("SELECT id AS parcel_id, parcel_code, geom FROM parcel WHERE project_id = :p"),
                                   conn, geom_col="geom", params=p)
        scope = gpd.read_postgis(text("SELECT geom FROM project_scope WHERE project_id = :p"), conn,
                                 geom_col="geom", params=p)
        claims = pd.read_sql(text("SELECT household_id, parcel_id, building_id, item_kind FROM claim "
                                  "WHERE project_id = :p"), conn, params=p)
        payments = pd.read_sql(text("SELECT household_id, amount_yuan::float8 AS amount_yuan FROM payment "
                                    "WHERE project_id = :p"), conn, params=p)
    load_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    tol = Tolerance.from_config(project.tolerance)
    for frame in (buildings, footprints, parcels, scope):
        frame.rename_geometry("geometry", inplace=True)
    sources = {}
    for phase in ("baseline", "after"):
        has_survey = ((footprints["phase"] == phase) & (footprints["source"] == "survey")).any()
        sources[phase] = "survey" if has_survey else "imagery"
    if sources["baseline"] != "survey" or sources["after"] != "survey":
        raise SystemExit("the peer handles survey footprints only (no pixel term, no orthophoto catalogue)")
    outline_area = buildings.geometry.area.to_numpy()
    base = covered_area(buildings, footprints[(footprints["phase"] == "baseline") & (footprints["source"] == "survey")])
    after = covered_area(buildings, footprints[(footprints["phase"] == "after") & (footprints["source"] == "survey")])
    with np.errstate(divide="ignore", invalid="ignore"):
        base_cov = np.where(outline_area > 0, base.to_numpy() / outline_area, 0.0)
        after_cov = np.where(outline_area > 0, after.to_numpy() / outline_area, 0.0)
    expected = base.to_numpy() * buildings["storeys"].to_numpy()
    limit = tol.limit_m2(expected)
    key = (buildings["parcel_code"] + "/" + buildings["building_no"]).to_numpy()
    claimed = buildings["claimed_m2"].to_numpy()
    alerts = {
        "NOT_AT_BASELINE": key[base_cov < MIN_BASELINE_COVERAGE],
        "AREA_INFLATED": key[(base_cov >= MIN_BASELINE_COVERAGE) & (claimed > expected + limit)],
    }
    bclaims = claims[(claims["item_kind"] == "building") & claims["building_id"].notna()]
    paid = bclaims.merge(payments, on="household_id")["building_id"].astype("int64").unique()
    survey_after = ((footprints["phase"] == "after") & (footprints["source"] == "survey")).any()
    is_paid = buildings["bid"].isin(paid).to_numpy()
    alerts["NOT_DEMOLISHED"] = key[is_paid & survey_after & (after_cov >= MIN_AFTER_COVERAGE)]

    claimed_parcels = parcels[parcels["parcel_id"].isin(claims["parcel_id"].unique())]
    covered = gpd.sjoin(claimed_parcels, scope, predicate="covered_by", how="inner")["parcel_id"].unique()
    rest = claimed_parcels[~claimed_parcels["parcel_id"].isin(covered)]
    inside = gpd.overlay(rest[["parcel_id", "geometry"]], scope[["geometry"]], how="intersection",
                         keep_geom_type=True)
    inside_area = inside.assign(a=inside.geometry.area).groupby("parcel_id")["a"].sum()
    rest_area = rest.geometry.area.to_numpy()
    frac = np.where(rest_area > 0, inside_area.reindex(rest["parcel_id"].to_numpy(), fill_value=0.0).to_numpy()
                    / np.where(rest_area > 0, rest_area, 1), 0.0)
    alerts["OUTSIDE_SCOPE"] = rest["parcel_code"].to_numpy()[frac < MIN_INSIDE_FRACTION]
    compute_seconds = time.perf_counter() - t1

    sets = {rule: sorted(set(map(str, keys))) for rule, keys in alerts.items()}
    alerts_path.write_text(json.dumps(sets), encoding="utf-8")
    print(json.dumps({"load_seconds": load_seconds, "compute_seconds": compute_seconds,
                      "seconds": load_seconds + compute_seconds, "hits": {r: len(v) for r, v in sets.items()},
                      "rows": {"buildings": len(buildings), "footprints": len(footprints), "parcels": len(parcels),
                               "claims": len(claims), "payments": len(payments)},
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
