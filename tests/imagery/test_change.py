"""Change between flights: the synthetic district's demolitions, the real NAIP 2009/2020 pair."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image
from sqlalchemy import text

from imagery.change import ChangeParams, change_mask, changed_fraction_summary, compare_orthophotos, quicklook
from imagery.errors import ChangeInputError
from imagery.ingest import ingest_orthophoto
from tests.imagery.conftest import CAPTURED, raster_project


def test_change_mask_sees_a_new_roof_not_noise():
    rng = np.random.default_rng(0)
    base = np.full((3, 64, 64), 150, np.float32) + rng.normal(0, 3, (3, 64, 64)).astype(np.float32)
    after = base + rng.normal(0, 3, (3, 64, 64)).astype(np.float32)
    assert not change_mask(base, after).any()
    after[:, 20:40, 20:40] = [[[170]], [[80]], [[60]]]
    changed = change_mask(base, after)
    assert changed[24:36, 24:36].all() and not changed[:10].any()


def test_synthetic_demolitions_are_found_per_building(conn, district_project, district40, store, tmp_path):
    ids = {phase: ingest_orthophoto(conn, district40 / "imagery" / f"{phase}.tif", project_id=district_project,
                                    phase=phase, captured_on=CAPTURED + dt.timedelta(days=300 * (phase == "after")),
                                    store_dir=store) for phase in ("baseline", "after")}
    with pytest.raises(ChangeInputError):
        compare_orthophotos(conn, ids["baseline"], ids["baseline"])
    summary = compare_orthophotos(conn, ids["baseline"], ids["after"], map_path=tmp_path / "change.tif")
    assert all(g == pytest.approx(1, abs=0.1) for g in summary.gains)  # same camera: near-identity normalisation
    rows = conn.execute(text("""
        SELECT c.subject_key, c.changed_fraction, c.observed_fraction, ST_AsBinary(b.geom) AS g
        FROM change_fraction c JOIN building b ON b.project_id = c.project_id
             AND b.parcel_code || '/' || b.building_no = c.subject_key
        WHERE c.subject_type = 'building' AND c.baseline_ortho_id = :b AND c.after_ortho_id = :a"""),
        {"b": ids["baseline"], "a": ids["after"]}).all()
    parcels = conn.execute(text("SELECT count(*) FROM change_fraction WHERE subject_type = 'parcel' "
                                "AND baseline_ortho_id = :b"), {"b": ids["baseline"]}).scalar_one()
    assert len(rows) == 87 and parcels == 83
    standing = gpd.read_file(district40 / "footprints_after.gpkg").geometry.to_numpy()
    outlines = np.array([shapely.from_wkb(bytes(r.g)) for r in rows], dtype=object)
    demolished = ~np.isin(np.arange(len(rows)), shapely.STRtree(standing).query(outlines,
                                                                                 predicate="intersects")[0])
    flagged = np.array([r.changed_fraction > 0.5 for r in rows])
    print(f"\nsynthetic change: {demolished.sum()} demolished, {flagged.sum()} flagged "
          f"({(flagged & demolished).sum()} right, {(flagged & ~demolished).sum()} false), "
          f"changed share of the observed area {summary.changed_share:.3f}")
    assert all(r.observed_fraction > 0.95 for r in rows)
    assert (flagged & demolished).sum() >= 0.95 * demolished.sum()
    assert (flagged & ~demolished).sum() <= 1
    png = quicklook(conn.execute(text("SELECT cog_path FROM orthophoto WHERE id = :i"),
                                 {"i": ids["baseline"]}).scalar_one(),
                    conn.execute(text("SELECT cog_path FROM orthophoto WHERE id = :i"),
                                 {"i": ids["after"]}).scalar_one(), tmp_path / "change.tif", tmp_path / "change.png")
    assert Image.open(png).size[0] > 300
    # the change between the flights is evidence of the area rules (here on the surveyed footprints)
    from supervision.models import not_demolished
    from supervision.projects import get_project

    not_demolished.MODEL.run(conn, get_project(conn, "HN-S1-IMAGERY"))
    evidence = conn.execute(text("SELECT subject_key, evidence FROM alert WHERE project_id = :p "
                                 "AND rule_code = 'NOT_DEMOLISHED'"), {"p": district_project}).all()
    assert evidence
    by_key = {r.subject_key: r.changed_fraction for r in rows}
    for key, ev in evidence:
        change = ev["change_between_flights"]
        assert (change["baseline_ortho_id"], change["after_ortho_id"]) == (ids["baseline"], ids["after"])
        assert change["changed_fraction"] == pytest.approx(by_key[key], abs=1e-4)
        assert change["changed_fraction"] < 0.5          # still standing: the roof did not change


def test_naip_2009_2020_change_map(conn, real_data, store, tmp_path):
    """A real before/after pair (5 m, 4 bands RGB + near-infrared, nodata 0) ingests and gives a change map."""
    pid = raster_project(conn, real_data / "naip_nd_2009.tif", "NAIP-ND")
    ids = [ingest_orthophoto(conn, real_data / f"naip_nd_{year}.tif", project_id=pid, phase=phase,
                             captured_on=dt.date(year, 8, 18), store_dir=store)
           for year, phase in ((2009, "baseline"), (2020, "after"))]
    summary = compare_orthophotos(conn, *ids, params=ChangeParams(smooth_px=3), map_path=tmp_path / "naip.tif")
    with rasterio.open(tmp_path / "naip.tif") as m:
        change = m.read(1)
    observed = change != 255
    print(f"\nNAIP 2009 -> 2020: {summary.grid.width}x{summary.grid.height} px at {summary.grid.resolution_m:g} m, "
          f"observed {observed.mean():.3f} of the grid, changed {summary.changed_share:.3f} of the observed area "
          f"({summary.changed_px * 25 / 1e4:.1f} ha); gains {np.round(summary.gains, 3).tolist()}, "
          f"offsets {np.round(summary.offsets, 1).tolist()}")
    assert observed.mean() > 0.9
    assert 0.01 < summary.changed_share < 0.6  # something changed in eleven years, not everything
    assert changed_fraction_summary(summary, "building")["subjects"] == 0  # a bare project: no subjects
