"""The committed roof U-Net: held-out rendered styles, a real drone set it never saw, tiles, confidence, storage.

The tests load committed weights and never train. ``imagery/models/footprints_unet.onnx`` saw every real drone
set; the real-imagery test uses the committed leave-one-set-out network that never saw Kampala.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.windows import Window
from sqlalchemy import text

from imagery.cnn import MODEL_PATH, RoofSegmenter
from imagery.footprints import best_iou, extract_footprints, measure_orthophoto
from imagery.ingest import ingest_orthophoto
from imagery.render import HELD_OUT, HELD_OUT_SEEDS, render_scene
from tests.imagery.conftest import CAPTURED

WITHOUT_KAMPALA = MODEL_PATH.parent / "folds" / "unet_without_kampala.onnx"


@pytest.fixture(scope="module")
def held_out_scene(tmp_path_factory):
    """A small district in a held-out style (snow or wet ground), 0.15 m."""
    return render_scene(tmp_path_factory.mktemp("held") / "held.tif", seed=HELD_OUT_SEEDS + 500, split=HELD_OUT,
                        resolution_m=0.15, extent_m=70)


def _scores(found, truth):
    measured = np.array([f.geometry for f in found], dtype=object)
    recall_iou = best_iou(truth, measured)
    precision = float(np.mean(best_iou(measured, truth) >= 0.5)) if len(measured) else 0.0
    return float(np.mean(recall_iou >= 0.5)), float(np.median(recall_iou)), precision


def test_committed_model_segments_a_held_out_style(held_out_scene):
    found = extract_footprints(rgb_path=held_out_scene.path, method="model")
    truth = held_out_scene.footprints.geometry.to_numpy()
    recall, median_iou, precision = _scores(found, truth)
    print(f"\nheld-out style ({held_out_scene.style.summary()}): {len(truth)} buildings, {len(found)} found; "
          f"recall {recall:.2f}, median IoU {median_iou:.2f}, precision {precision:.2f}")
    # floors well under the goal (recall 0.95, IoU 0.85): the committed network is under-trained; the figures
    # per held-out style are in benchmarks/footprints/README.md
    assert recall >= 0.5 and median_iou >= 0.6 and precision >= 0.4
    assert all(0 < f.confidence <= 1 and f.source == "model:footprints_unet" for f in found)
    assert all(f.geometry.is_valid and f.geometry.area >= 5 for f in found)


def test_tiles_do_not_change_the_outlines(held_out_scene):
    """Windowed inference: small tiles (bounded memory) give the footprints of one large tile."""
    model = RoofSegmenter()
    whole = model.extract(held_out_scene.path, tile_px=2048)
    tiled = model.extract(held_out_scene.path, tile_px=96)
    a = np.array([f.geometry for f in whole], dtype=object)
    b = np.array([f.geometry for f in tiled], dtype=object)
    assert abs(len(a) - len(b)) <= max(2, len(a) // 10)
    assert np.median(best_iou(a, b)) > 0.9


def test_never_seen_real_drone_crop(real_data, tmp_path):
    """A 120 m crop of Kampala (7.5 cm, OSM outlines), by the network trained without Kampala: far better than
    round 1's classical extractor on the same crop (see benchmarks/footprints/README.md for the whole set)."""
    src_path = real_data / "drone_kampala_rgb.tif"
    crop = tmp_path / "kampala_crop.tif"
    with rasterio.open(src_path) as src:
        win = Window(1200, 400, 1600, 1600)
        profile = dict(driver="GTiff", width=1600, height=1600, count=3, dtype="uint8", crs=src.crs,
                       transform=src.window_transform(win), nodata=0, compress="deflate")
        with rasterio.open(crop, "w", **profile) as dst:
            dst.write(src.read(window=win))
        area = shapely.box(*rasterio.windows.bounds(win, src.transform))
        labels = gpd.read_file(real_data / "drone_kampala_buildings.geojson").to_crs(src.crs)
    truth = labels.geometry[labels.geometry.centroid.within(area.buffer(-3))].to_numpy()
    inner = area.buffer(-3)
    found = [f for f in RoofSegmenter(WITHOUT_KAMPALA).extract(crop) if inner.contains(f.geometry.centroid)]
    classical = [f for f in extract_footprints(rgb_path=crop) if inner.contains(f.geometry.centroid)]
    recall, median_iou, precision = _scores(found, truth)
    old_recall, old_iou, old_precision = _scores(classical, truth)
    print(f"\nKampala crop, never seen: {len(truth)} OSM buildings, {len(found)} found; recall {recall:.2f}, "
          f"median IoU {median_iou:.2f}, precision {precision:.2f} (round 1: {old_recall:.2f}, {old_iou:.2f}, "
          f"{old_precision:.2f})")
    assert len(truth) >= 20
    assert recall >= 0.25 and median_iou >= 0.2 and precision >= 0.25
    assert recall > old_recall and median_iou > old_iou


def test_measured_footprints_are_stored_with_confidence_and_extractor(conn, district_project, district40, store):
    oid = ingest_orthophoto(conn, district40 / "imagery" / "baseline.tif", project_id=district_project,
                            phase="baseline", captured_on=CAPTURED, store_dir=store)
    count = measure_orthophoto(conn, oid, method="model")
    rows = conn.execute(text("SELECT confidence, extractor, ST_SRID(geom) AS srid FROM footprint "
                             "WHERE orthophoto_id = :o"), {"o": oid}).all()
    assert len(rows) == count > 0
    assert {(r.extractor, r.srid) for r in rows} == {("model:footprints_unet", 4550)}
    assert all(0 < r.confidence <= 1 for r in rows)
    with pytest.raises(ValueError):
        measure_orthophoto(conn, oid, method="guess")


def test_model_file_is_small():
    assert MODEL_PATH.stat().st_size < 10 * 2**20 and Path(WITHOUT_KAMPALA).exists()


def test_test_time_flips_make_the_maps_mirror_equivariant(held_out_scene):
    from imagery.cnn import read_rgb, work_grid

    rgb, valid = read_rgb(held_out_scene.path, work_grid(held_out_scene.path))
    rgb, valid = rgb[:, :160, :144], valid[:160, :144]
    seg = RoofSegmenter()
    roof, edge = seg.probabilities(rgb, valid, flips=True)
    mirrored, _ = seg.probabilities(rgb[:, :, ::-1].copy(), valid[:, ::-1].copy(), flips=True)
    assert np.allclose(mirrored[:, ::-1], roof, atol=1e-4)
    plain, _ = seg.probabilities(rgb, valid)
    plain_mirrored, _ = seg.probabilities(rgb[:, :, ::-1].copy(), valid[:, ::-1].copy())
    assert not np.allclose(plain_mirrored[:, ::-1], plain, atol=1e-4)   # the network alone is not
    assert roof.shape == edge.shape == valid.shape and 0 <= roof.min() and roof.max() <= 1
