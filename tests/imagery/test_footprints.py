"""Footprint extraction: the synthetic district against the generator's footprints, Alexandria against its labels."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from sqlalchemy import text

from gis_core.crs import require_projected
from imagery.catalogue import get_orthophoto
from imagery.footprints import extract_footprints, measure_orthophoto, store_footprints
from imagery.ingest import ingest_orthophoto
from imagery.segment import SegmentParams, regularise
from tests.imagery.conftest import CAPTURED


def best_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each geometry of ``a``, its best intersection-over-union with any geometry of ``b``."""
    out = np.zeros(len(a))
    if len(a) == 0 or len(b) == 0:
        return out
    ia, ib = shapely.STRtree(b).query(a, predicate="intersects")
    iou = shapely.area(shapely.intersection(a[ia], b[ib])) / shapely.area(shapely.union(a[ia], b[ib]))
    np.maximum.at(out, ia, iou)
    return out


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
    recall_iou, precision_iou = best_iou(truth, measured), best_iou(measured, truth)
    t_px = rasterize(truth, out_shape=shape, transform=transform) > 0
    m_px = rasterize(measured, out_shape=shape, transform=transform) > 0 if len(measured) else np.zeros(shape, bool)
    inter = (t_px & m_px).sum()
    pixel = {"precision": inter / max(m_px.sum(), 1), "recall": inter / t_px.sum(), "iou": inter / (t_px | m_px).sum()}
    print(f"\nAlexandria (84 labels, 2 m DSM-DTM): {len(measured)} footprints in the labelled area; "
          f"building-level recall {np.mean(recall_iou >= 0.5):.3f}, precision {np.mean(precision_iou >= 0.5):.3f}, "
          f"median IoU {np.median(recall_iou):.3f}; pixel-level precision {pixel['precision']:.3f}, "
          f"recall {pixel['recall']:.3f}, IoU {pixel['iou']:.3f}")
    assert len(found) > 0 and all(f.height_m is not None and f.height_m > 2 for f in found)
    # far better than chance (buildings cover a fifth of the labelled area); see the printed figures
    assert pixel["precision"] > 0.4 and pixel["recall"] > 0.25
