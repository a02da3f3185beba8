"""Area figures in gis_core: coverage, expected floor area, CRS discipline, geodesic agreement."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import box

from gis_core.areas import building_area_metrics, inside_fraction
from gis_core.errors import CRSMismatchError, GeographicCRSError
from gis_core.tolerance import Tolerance
from tests.common import BUILDINGS, CRS, SCOPE, X0, Y0


def _buildings(claimed: list[float], storeys: list[int]) -> gpd.GeoDataFrame:
    geoms = list(BUILDINGS.values())[: len(claimed)]
    return gpd.GeoDataFrame({"storeys": storeys, "claimed_floor_area_m2": claimed}, geometry=geoms, crs=CRS)


def test_metrics_of_canonical_buildings():
    house = list(BUILDINGS.values())[0]                       # 10 x 8 m
    baseline = gpd.GeoDataFrame({"height_m": [6.4, 3.1]}, geometry=[
        house.buffer(0.3, join_style="mitre"),                 # eaves: covers the whole outline
        box(X0 + 2, Y0 + 3, X0 + 4, Y0 + 8),                   # covers half of the 4 x 5 m shed
    ], crs=CRS)
    after = gpd.GeoDataFrame(geometry=[box(X0 + 5, Y0 + 15, X0 + 10, Y0 + 23)], crs=CRS)
    m = building_area_metrics(_buildings([170.0, 20.0], [2, 1]), baseline, after)
    assert m["outline_area_m2"].tolist() == pytest.approx([80.0, 20.0])
    assert m["baseline_area_m2"].tolist() == pytest.approx([80.0, 10.0])
    assert m["baseline_coverage"].tolist() == pytest.approx([1.0, 0.5])
    assert m["expected_floor_area_m2"].tolist() == pytest.approx([160.0, 10.0])
    tol = Tolerance.from_preset("class3")
    assert m["tolerance_m2"].tolist() == pytest.approx(tol.limit_m2(np.array([160.0, 10.0])).tolist())
    assert m["discrepancy_m2"].tolist() == pytest.approx([10.0, 10.0])
    assert m["discrepancy_pct"].tolist() == pytest.approx([6.25, 100.0])
    assert m["storeys_from_height"].tolist() == [2, 1]
    assert m["after_coverage"].tolist() == pytest.approx([0.5, 0.0])


def test_overlapping_footprints_are_not_counted_twice():
    house = list(BUILDINGS.values())[0]
    baseline = gpd.GeoDataFrame(geometry=[house, house.buffer(0.5), box(X0 + 5, Y0 + 15, X0 + 8, Y0 + 18)], crs=CRS)
    m = building_area_metrics(_buildings([80.0], [1]), baseline)
    assert m["baseline_area_m2"].iloc[0] == pytest.approx(80.0)
    assert m["baseline_footprints"].iloc[0] == 3


def test_imagery_footprints_add_the_resolution_term():
    house = list(BUILDINGS.values())[0]
    survey = gpd.GeoDataFrame(geometry=[house], crs=CRS)
    imagery = gpd.GeoDataFrame({"pixel_size_m": [0.15]}, geometry=[house], crs=CRS)
    a = building_area_metrics(_buildings([160.0], [2]), survey)["tolerance_m2"].iloc[0]
    b = building_area_metrics(_buildings([160.0], [2]), imagery)["tolerance_m2"].iloc[0]
    assert b - a == pytest.approx(1.5 * 36.0 * 2 * 0.15)


def test_geographic_and_mismatched_crs_are_refused():
    b = _buildings([80.0], [1])
    with pytest.raises(GeographicCRSError, match="geographic"):
        building_area_metrics(b.to_crs("EPSG:4490"), b.to_crs("EPSG:4490"))
    with pytest.raises(CRSMismatchError):
        building_area_metrics(b, b.to_crs("EPSG:4549"))
    with pytest.raises(GeographicCRSError):
        inside_fraction(b.set_crs(None, allow_override=True), gpd.GeoSeries([SCOPE], crs=CRS))


def test_inside_fraction():
    parcels = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 10, Y0 + 10), box(X0 - 35, Y0, X0 - 25, Y0 + 10)], crs=CRS)
    frac = inside_fraction(parcels, gpd.GeoSeries([SCOPE], crs=CRS))
    assert frac.tolist() == pytest.approx([1.0, 0.5])


def test_real_buildings_in_crs84_agree_with_geodesic_areas(real_data):
    """Alexandria footprints (CRS84) through the projected path agree with pyproj.Geod within 0.05%."""
    raw = gpd.read_file(real_data / "elev_alexandria_buildings.geojson")
    assert raw.crs.is_geographic
    geod = pyproj.Geod(ellps="WGS84")
    geodesic = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in raw.geometry])
    projected = raw.to_crs("EPSG:26918")                    # the CRS of the DSM of the same area
    buildings = projected.assign(storeys=1, claimed_floor_area_m2=raw["SQMETERS"])
    m = building_area_metrics(buildings, projected[["geometry"]])
    rel = np.abs(m["baseline_area_m2"].to_numpy() - geodesic) / geodesic
    assert rel.max() < 5e-4
    # SQMETERS as a claimed area: the discrepancy table against independently computed values
    # (some records have no SQMETERS: their discrepancy is unknown, not zero)
    expected_discrepancy = raw["SQMETERS"].to_numpy(dtype=float) - geodesic
    got = m["discrepancy_m2"].to_numpy()
    assert (np.isnan(got) == np.isnan(expected_discrepancy)).all() and np.isnan(got).sum() < len(got) // 2
    ok = ~np.isnan(got)
    assert np.allclose(got[ok], expected_discrepancy[ok], rtol=0, atol=(5e-4 * geodesic + 0.01)[ok])
    assert (np.abs(got[ok]) > 1.0).sum() > 10          # the recorded areas often disagree, as documented
    # computing in degrees would be nonsense: the refusal protects against it
    with pytest.raises(GeographicCRSError):
        building_area_metrics(raw.assign(storeys=1, claimed_floor_area_m2=raw["SQMETERS"]), raw)
    # Web Mercator overstates areas here by far more than the tolerance
    merc = shapely.area(np.asarray(raw.to_crs("EPSG:3857").geometry.values))
    assert (merc / geodesic).min() > 1.5
