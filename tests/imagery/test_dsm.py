"""Surface models kept with a flight (``expro ortho ingest --dsm``) and fused into footprint extraction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from sqlalchemy import text

from expro.cli import cli
from imagery.cnn import RoofSegmenter
from imagery.dsm import height_above_ground, ingest_surface_model, surface_model_of
from imagery.errors import NoGeoreferenceError, NoOverlapError, NotGeoTIFFError, UnsupportedBandsError
from imagery.footprints import best_iou, measure_orthophoto
from imagery.ingest import ingest_orthophoto
from imagery.render import TRAIN, render_scene, render_surface_model
from tests.imagery.conftest import raster_project

CAPTURED = dt.date(2025, 2, 20)


def _picture_of(surface_path, out):
    """An RGB "orthophoto" over the same ground as a surface model (its shaded heights), to link the DSM to."""
    with rasterio.open(surface_path) as src:
        z = src.read(1, masked=True).filled(np.nan)
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=3, dtype="uint8", crs=src.crs,
                       transform=src.transform, tiled=True, blockxsize=128, blockysize=128)
    lo, hi = np.nanpercentile(z, [2, 98])
    grey = (np.clip((np.nan_to_num(z, nan=lo) - lo) / (hi - lo), 0, 1) * 200 + 30).astype(np.uint8)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.stack([grey, grey, grey]))
    return out


def test_real_surface_model_is_kept_as_cog_and_used_by_extraction(conn, real_data, store, tmp_path):
    dsm = real_data / "elev_alexandria_dsm.tif"
    pid = raster_project(conn, dsm, "ALEX-DSM")
    oid = ingest_orthophoto(conn, _picture_of(dsm, tmp_path / "alex_rgb.tif"), project_id=pid, phase="baseline",
                            captured_on=CAPTURED, store_dir=store)
    sid = ingest_surface_model(conn, dsm, ortho_id=oid, store_dir=store)
    kept = surface_model_of(conn, oid)
    assert kept["id"] == sid and kept["crs"] == "EPSG:26918" and kept["resolution_m"] == pytest.approx(2.0)
    assert kept["overlap_fraction"] == pytest.approx(1.0, abs=0.01) and kept["z_max_m"] > kept["z_min_m"]
    with rasterio.open(kept["cog_path"]) as cog, rasterio.open(dsm) as src:
        assert cog.count == 1 and cog.crs == src.crs and cog.nodata == src.nodata
        assert cog.profile.get("tiled") and cog.overviews(1)
        assert np.array_equal(cog.read(1), src.read(1))          # lossless
    # re-ingesting replaces the flight's surface model
    assert ingest_surface_model(conn, dsm, ortho_id=oid, store_dir=store) == sid
    count = measure_orthophoto(conn, oid)
    heights = conn.execute(text("SELECT height_m FROM footprint WHERE orthophoto_id = :o"), {"o": oid}).scalars().all()
    measured = [h for h in heights if h is not None]      # an outline smaller than a 2 m pixel may have none
    assert count == len(heights) > 10 and len(measured) >= 0.9 * count
    assert np.median(measured) > 2.5                       # the footprints stand above the ground around them
    used = conn.execute(text("SELECT ingest->'footprints_surface_model', ingest->>'footprints_extractor' "
                             "FROM orthophoto WHERE id = :o"), {"o": oid}).one()
    assert used[0]["surface_model_id"] == sid and used[1] == "classical+dsm"


def test_a_bad_surface_model_is_refused(conn, real_data, store, tmp_path, make_tif):
    dsm = real_data / "elev_alexandria_dsm.tif"
    pid = raster_project(conn, dsm, "ALEX-DSM")
    oid = ingest_orthophoto(conn, _picture_of(dsm, tmp_path / "alex_rgb.tif"), project_id=pid, phase="baseline",
                            captured_on=CAPTURED, store_dir=store)
    with rasterio.open(dsm) as src:
        z, profile = src.read(1), src.profile
    text_file = tmp_path / "dsm.tif"
    text_file.write_text("not a raster")
    with pytest.raises(NotGeoTIFFError):
        ingest_surface_model(conn, text_file, ortho_id=oid, store_dir=store)
    three = tmp_path / "three.tif"
    with rasterio.open(three, "w", **{**profile, "count": 3}) as dst:
        dst.write(np.stack([z, z, z]))
    with pytest.raises(UnsupportedBandsError):
        ingest_surface_model(conn, three, ortho_id=oid, store_dir=store)
    no_crs = tmp_path / "no_crs.tif"
    with rasterio.open(no_crs, "w", **{k: v for k, v in profile.items() if k != "crs"}) as dst:
        dst.write(z, 1)
    with pytest.raises(NoGeoreferenceError):
        ingest_surface_model(conn, no_crs, ortho_id=oid, store_dir=store)
    away = tmp_path / "away.tif"
    t = profile["transform"]
    with rasterio.open(away, "w", **{**profile, "transform": from_origin(t.c + 5000, t.f, 2.0, 2.0)}) as dst:
        dst.write(z, 1)
    with pytest.raises(NoOverlapError):
        ingest_surface_model(conn, away, ortho_id=oid, store_dir=store)
    assert surface_model_of(conn, oid) is None


def test_height_above_ground_on_a_slope():
    res = 0.25
    yy, xx = np.mgrid[0:400, 0:400] * res
    ground = 100 + 0.05 * xx + 0.03 * yy
    surface = ground + np.random.default_rng(1).normal(0, 0.1, ground.shape)
    house = (slice(150, 210), slice(100, 180))                  # 15 m × 20 m, 6 m high
    surface[house] += 6.0
    surface[:20, :20] = np.nan
    above = height_above_ground(surface, res)
    assert np.isnan(above[:20, :20]).all()
    assert abs(float(np.median(above[house])) - 6.0) < 0.5
    outside = np.ones(surface.shape, bool)
    outside[140:220, 90:190] = False
    outside[:20, :20] = False
    assert abs(float(np.median(above[outside]))) < 0.4


def test_rendered_pair_surface_model_helps_the_segmenter(tmp_path):
    seed = 4321                                             # a training-split scene, not a held-out style
    scene = render_scene(tmp_path / "scene.tif", seed=seed, split=TRAIN, resolution_m=0.15, extent_m=70.0)
    dsm = render_surface_model(scene, tmp_path / "dsm.tif", seed=seed)
    truth = scene.footprints.geometry.to_numpy()
    unet = RoofSegmenter()
    scores = {}
    for name, found in (("image", unet.extract(scene.path)), ("fused", unet.extract(scene.path, height_path=dsm))):
        measured = np.array([f.geometry for f in found], dtype=object)
        recall = float(np.mean(best_iou(truth, measured) >= 0.5))
        precision = float(np.mean(best_iou(measured, truth) >= 0.5)) if len(measured) else 0.0
        scores[name] = (precision, recall, found)
    (p0, r0, _), (p1, r1, fused) = scores["image"], scores["fused"]
    print(f"\nrendered pair: image only P {p0:.2f} R {r0:.2f}; with the surface model P {p1:.2f} R {r1:.2f}")
    assert r1 + p1 > r0 + p0 and r1 >= 0.5 and p1 >= 0.5
    assert {f.source for f in fused} == {unet.source + "+dsm"}
    storeys = dict(zip(range(len(truth)), scene.footprints["storeys"]))
    tree = shapely.STRtree(truth)
    errors = []
    for f in fused:
        hits = tree.query(f.geometry, predicate="intersects")
        if len(hits) == 1 and f.height_m is not None:
            errors.append(f.height_m - storeys[int(hits[0])] * 3.0)
    # storeys × 3 m, plus half a gable's 1.5 m ridge on some, plus the ground taken at 1 m cells' lowest noise
    assert errors and 0.0 <= float(np.median(errors)) < 1.5


def test_ortho_ingest_keeps_the_surface_model(runner, conn, real_data, tmp_path):
    dsm = real_data / "elev_alexandria_dsm.tif"
    raster_project(conn, dsm, "ALEX-DSM")
    rgb = _picture_of(dsm, tmp_path / "alex_rgb.tif")
    res = runner.invoke(cli, ["ortho", "ingest", str(rgb), "--project", "ALEX-DSM", "--phase", "baseline",
                              "--captured-on", "2025-02-20", "--dsm", str(dsm)])
    assert res.exit_code == 0, res.output
    oid = int(res.output.split()[1].rstrip(":"))
    assert "surface model" in res.output and surface_model_of(conn, oid)["sha256"]
    bad = tmp_path / "bad_dsm.tif"
    bad.write_text("nope")
    res = runner.invoke(cli, ["ortho", "ingest", str(rgb), "--project", "ALEX-DSM", "--phase", "baseline",
                              "--captured-on", "2025-02-20", "--dsm", str(bad)])
    assert res.exit_code == 2 and "not a GeoTIFF" in res.output
