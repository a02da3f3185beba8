"""Footprint extraction: the synthetic district against the generator's footprints, Alexandria against its labels."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from sqlalchemy import text

from gis_core.crs import require_projected
from imagery.catalogue import get_orthophoto
from imagery.footprints import best_iou, extract_footprints, measure_orthophoto, score_footprints, store_footprints
from imagery.ingest import ingest_orthophoto
from imagery.segment import SegmentParams, regularise
from tests.imagery.conftest import CAPTURED


def test_rectangular_region_becomes_its_area_preserving_rectangle():
    staircase = shapely.Polygon([(0, 0), (10, 0), (10, 8), (0, 8)]).union(shapely.box(9.9, 3, 10.1, 4))
    poly, rectangularity = regularise(staircase, 0.15)
    assert rectangularity > 0.95 and poly.area == pytest.approx(staircase.area, rel=1e-6)
    assert len(shapely.get_coordinates(poly)) == 5
    assert regularise(shapely.box(0, 0, 100, 2), 0.15) is None  # a lane: too elongated
    assert regularise(shapely.box(0, 0, 2, 2), 0.15) is None  # below the minimum area


def test_synthetic_district_footprints_match_the_generator(conn, district_project, district40, store):
    oid = ingest_orthophoto(conn, district40 / "imagery" / "baseline.tif", project_id=district_project,
                            phase="baseline", captured_on=CAPTURED, store_dir=store)
    count = measure_orthophoto(conn, oid)
    rows = conn.execute(text("""
        SELECT footprint_id, phase, pixel_size_m, orthophoto_id, ST_AsBinary(geom) AS g, ST_SRID(geom) AS srid
        FROM footprint WHERE project_id = :p AND source = 'imagery'"""), {"p": district_project}).all()
    assert len(rows) == count > 0
    assert {(r.phase, r.orthophoto_id, r.srid) for r in rows} == {("baseline", oid, 4550)}
    assert all(r.pixel_size_m == pytest.approx(0.15) for r in rows)
    measured = np.array([shapely.from_wkb(bytes(r.g)) for r in rows], dtype=object)
    truth_frame = gpd.read_file(district40 / "footprints_baseline.gpkg")
    require_projected(truth_frame)
    truth = truth_frame.geometry.to_numpy()
    iou = best_iou(truth, measured)
    precision = (best_iou(measured, truth) >= 0.5).mean()
    print(f"\nsynthetic district: {len(truth)} generator footprints, {len(measured)} measured; "
          f"median IoU {np.median(iou):.3f}, recall {np.mean(iou >= 0.5):.3f}, precision {precision:.3f}")
    assert np.median(iou) >= 0.9
    assert np.mean(iou >= 0.5) >= 0.95
    assert precision >= 0.9
    # storing again replaces the orthophoto's footprints, never adds to them
    store_footprints(conn, get_orthophoto(conn, oid), [])
    assert conn.execute(text("SELECT count(*) FROM footprint WHERE orthophoto_id = :o"), {"o": oid}).scalar() == 0


def test_alexandria_height_above_ground_against_labelled_buildings(real_data):
    """Real surface model (2 m, wooded suburb): footprints from height alone, scored where labels exist."""
    hag = real_data / "elev_alexandria_hag.tif"
    # 2 m pixels blur corners: regions are kept down to a rectangularity of 0.5
    found = extract_footprints(height_path=hag, params=SegmentParams(min_area_m2=20.0, min_rectangularity=0.5))
    with rasterio.open(hag) as src:
        labels = gpd.read_file(real_data / "elev_alexandria_buildings.geojson").to_crs(src.crs)
        shape, transform = (src.height, src.width), src.transform
    require_projected(labels)
    truth = labels.geometry.to_numpy()
    labelled_area = shapely.convex_hull(shapely.union_all(truth))
    measured = np.array([f.geometry for f in found if labelled_area.contains(f.geometry.centroid)], dtype=object)
    score = score_footprints(measured, truth, shape=shape, transform=transform)
    print(f"\nAlexandria (84 labels, 2 m DSM-DTM): {len(measured)} footprints in the labelled area; "
          f"building-level recall {score['recall']:.3f}, precision {score['precision']:.3f}, "
          f"median IoU {score['median_iou']:.3f}; pixel-level precision {score['pixel_precision']:.3f}, "
          f"recall {score['pixel_recall']:.3f}, IoU {score['pixel_iou']:.3f}")
    assert len(found) > 0 and all(f.height_m is not None and f.height_m > 2 for f in found)
    # far better than chance (buildings cover a fifth of the labelled area); see the printed figures
    assert score["pixel_precision"] > 0.4 and score["pixel_recall"] > 0.25


def test_score_footprints_by_hand():
    truth = np.array([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)], dtype=object)
    measured = np.array([shapely.box(0, 0, 10, 10), shapely.box(25, 0, 35, 10), shapely.box(50, 50, 52, 52)],
                        dtype=object)
    score = score_footprints(measured, truth, shape=(60, 60), transform=rasterio.transform.from_origin(0, 60, 1, 1))
    # second pair: intersection 50, union 150 -> IoU 1/3 (not a match); the 2 x 2 box matches nothing
    assert score["recall"] == 0.5 and score["precision"] == pytest.approx(1 / 3)
    assert score["median_iou"] == pytest.approx((1 + 1 / 3) / 2)
    assert score["pixel_precision"] == pytest.approx(150 / 204) and score["pixel_recall"] == pytest.approx(150 / 200)
    assert score["pixel_iou"] == pytest.approx(150 / 254)
