"""Tests for imagery.synthetic: synthetic village orthophotos rendered with real rasterio."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.features import geometry_mask
from rasterio.transform import from_origin
from shapely import affinity
from shapely.geometry import LineString, Point, box

from imagery.synthetic import (
    CROP_COLOUR,
    GROUND_COLOURS,
    LANE_COLOUR,
    ROOF_COLOURS,
    RUBBLE_COLOURS,
    SHADOW_FACTOR,
    TILLED_COLOURS,
    TREE_COLOUR,
    render_orthophoto,
)

CRS = "EPSG:4550"
RES = 0.15
X0, Y0 = 545980.0, 4616980.0
WIDTH, HEIGHT = 400, 320  # 60 m x 48 m
BOUNDS = (X0, Y0, X0 + WIDTH * RES, Y0 + HEIGHT * RES)
TRANSFORM = from_origin(X0, BOUNDS[3], RES, RES)
KINDS = ["tile", "steel", "concrete", "tan", "tile"]


def _scene() -> dict:
    def roof(cx: float, cy: float, angle: float = 0.0):
        return affinity.rotate(box(cx - 5, cy - 4, cx + 5, cy + 4), angle)

    roofs = gpd.GeoDataFrame(
        {"roof": KINDS, "height_m": [3.0, 6.0, 4.0, 9.0, 5.0]},
        geometry=[roof(X0 + 9.03, Y0 + 38.02), roof(X0 + 24.04, Y0 + 37.01, 17.0), roof(X0 + 40.02, Y0 + 38.03),
                  roof(X0 + 10.01, Y0 + 14.04, -32.0), roof(X0 + 27.02, Y0 + 13.03)],
        crs=CRS,
    )
    lanes = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0 + 26.0), (X0 + 60, Y0 + 26.0)]).buffer(1.6)], crs=CRS)
    fields = gpd.GeoDataFrame({"crop": ["green", "soil"]},
                              geometry=[box(X0 + 50.1, Y0 + 28.1, X0 + 59.9, Y0 + 47.9),
                                        box(X0 + 50.1, Y0 + 0.1, X0 + 59.9, Y0 + 23.9)], crs=CRS)
    # One free-standing tree and one 1.5 m from the east wall of the last roof (must be clipped away from it).
    trees = gpd.GeoDataFrame(geometry=[Point(X0 + 44.0, Y0 + 8.0), Point(X0 + 33.52, Y0 + 13.03)], crs=CRS)
    bare = gpd.GeoDataFrame(geometry=[box(X0 + 36.1, Y0 + 18.1, X0 + 47.9, Y0 + 23.4)], crs=CRS)
    return {"roofs": roofs, "lanes": lanes, "fields": fields, "trees": trees, "bare": bare}


def _render(path: Path, **kwargs) -> tuple[dict, np.ndarray]:
    params = dict(bounds=BOUNDS, resolution_m=RES, crs=CRS, seed=7, **_scene())
    params.update(kwargs)
    info = render_orthophoto(path, **params)
    with rasterio.open(path) as ds:
        return info, ds.read()


def _mask(geom) -> np.ndarray:
    """Boolean mask of pixels whose centre is inside `geom`."""
    return geometry_mask([geom], out_shape=(HEIGHT, WIDTH), transform=TRANSFORM, invert=True)


def _all_geoms(scene: dict) -> list:
    return [g for layer in ("roofs", "lanes", "fields", "trees", "bare") for g in scene[layer].geometry]


def _exg(pixels: np.ndarray) -> np.ndarray:
    r, g, b = pixels.astype(np.int32)
    return 2 * g - r - b


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, np.ndarray, Path]:
    path = tmp_path_factory.mktemp("synthetic") / "ortho.tif"
    info, arr = _render(path)
    return info, arr, path


def test_georeferencing_and_layout(rendered) -> None:
    info, arr, path = rendered
    assert info == {"path": str(path), "width": WIDTH, "height": HEIGHT, "resolution_m": RES, "crs": CRS,
                    "bounds": BOUNDS, "bands": 3}
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4550
        assert ds.transform.almost_equals(TRANSFORM)
        assert ds.bounds == pytest.approx(BOUNDS)
        assert (ds.width, ds.height, ds.count) == (WIDTH, HEIGHT, 3)
        assert ds.dtypes == ("uint8",) * 3
        assert ds.profile["tiled"] is True
        assert ds.block_shapes == [(512, 512)] * 3
        assert ds.compression.value == "DEFLATE"
        assert ds.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    assert arr.dtype == np.uint8 and arr.shape == (3, HEIGHT, WIDTH)


def test_rgba_alpha_outside_polygon(tmp_path: Path) -> None:
    area = Point(X0 + 30, Y0 + 24).buffer(20.0)
    info, arr = _render(tmp_path / "rgba.tif", nodata_outside=gpd.GeoSeries([area], crs=CRS))
    assert info["bands"] == 4 and arr.shape == (4, HEIGHT, WIDTH)
    with rasterio.open(tmp_path / "rgba.tif") as ds:
        assert ds.colorinterp[3] == ColorInterp.alpha
        assert ds.block_shapes == [(512, 512)] * 4
    inside = _mask(area)
    assert np.all(arr[3][inside] == 255) and np.all(arr[3][~inside] == 0)
    assert np.all(arr[:3, ~inside] == 0)
    assert arr[:3, inside].mean() > 60


def test_roof_colours_differ_from_ground_and_lane(rendered) -> None:
    _, arr, _ = rendered
    scene = _scene()
    occupied = gpd.GeoSeries(_all_geoms(scene)).buffer(2.0).union_all()
    ground = ~_mask(occupied)
    lane = _mask(scene["lanes"].geometry.iloc[0].buffer(-0.3))
    ground_mean, lane_mean = arr[:, ground].mean(axis=1), arr[:, lane].mean(axis=1)
    assert np.linalg.norm(ground_mean - lane_mean) > 25
    for geom, kind in zip(scene["roofs"].geometry, KINDS):
        roof_mean = arr[:, _mask(geom.buffer(-0.3))].mean(axis=1)
        assert np.linalg.norm(roof_mean - ground_mean) > 35, kind
        assert np.linalg.norm(roof_mean - lane_mean) > 35, kind


def test_roofs_not_green_trees_green(rendered) -> None:
    _, arr, _ = rendered
    scene = _scene()
    for geom in scene["roofs"].geometry:
        exg = _exg(arr[:, _mask(geom.buffer(-2 * RES))])
        assert np.quantile(exg, 0.999) < 35 and exg.mean() < 15
    crown = _mask(scene["trees"].geometry.iloc[0].buffer(1.0))
    exg = _exg(arr[:, crown])
    assert np.mean(exg > 35) > 0.9 and exg.mean() > 50
    # The tree next to the last roof is clipped 1 m away from it: no green in that 1 m ring.
    last_roof = scene["roofs"].geometry.iloc[-1]
    ring = _mask(last_roof.buffer(0.85).difference(last_roof.buffer(0.15)))
    assert np.mean(_exg(arr[:, ring]) > 30) < 0.01
    assert np.mean(_exg(arr[:, _mask(scene["trees"].geometry.iloc[1].buffer(1.4))]) > 30) > 0.2


def test_deterministic_per_seed(tmp_path: Path, rendered) -> None:
    _, arr, _ = rendered
    _, again = _render(tmp_path / "again.tif")
    _, other = _render(tmp_path / "other.tif", seed=8)
    assert again.tobytes() == arr.tobytes()
    assert other.tobytes() != arr.tobytes()
    assert np.mean(other != arr) > 0.3


@pytest.mark.parametrize("tile_rows", [64, 100, 1])
def test_strip_size_does_not_change_pixels(tmp_path: Path, rendered, tile_rows: int) -> None:
    _, arr, _ = rendered
    _, strips = _render(tmp_path / f"strips{tile_rows}.tif", tile_rows=tile_rows)
    assert np.array_equal(strips, arr)


def test_strip_size_with_alpha(tmp_path: Path) -> None:
    area = gpd.GeoSeries([box(X0 + 3.07, Y0 + 2.02, X0 + 55.04, Y0 + 45.01)], crs=CRS)
    _, full = _render(tmp_path / "a.tif", nodata_outside=area)
    _, strips = _render(tmp_path / "b.tif", nodata_outside=area, tile_rows=37)
    assert np.array_equal(full, strips)


def test_palette_segmentation_recovers_roofs(rendered) -> None:
    _, arr, _ = rendered
    roof_palette = [np.array(c) * f for c in ROOF_COLOURS.values() for f in (0.88, 0.95, 1.0, 1.04, 1.1)]
    background = [np.array(c) * f for c in (*GROUND_COLOURS, LANE_COLOUR, *RUBBLE_COLOURS, *TILLED_COLOURS)
                  for f in (SHADOW_FACTOR, 0.6, 0.8, 0.94, 1.0, 1.06)]
    background += [np.array(c) * f for c in (TREE_COLOUR, CROP_COLOUR) for f in (0.7, 1.0, 1.2)]
    palette = np.array(roof_palette + background, dtype=float)
    pixels = arr.reshape(3, -1).T.astype(float)
    nearest = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
    is_roof = (nearest < len(roof_palette)).reshape(HEIGHT, WIDTH)
    for geom, kind in zip(_scene()["roofs"].geometry, KINDS):
        truth = _mask(geom)
        window = _mask(geom.buffer(3.0))
        pred = is_roof & window
        iou = (pred & truth).sum() / (pred | truth).sum()
        assert iou >= 0.9, (kind, iou)


def test_roof_class_defaults_are_seeded(tmp_path: Path) -> None:
    roofs = _scene()["roofs"].drop(columns=["roof", "height_m"])
    _, a = _render(tmp_path / "a.tif", roofs=roofs, lanes=None, fields=None, trees=None, bare=None)
    _, b = _render(tmp_path / "b.tif", roofs=roofs, lanes=None, fields=None, trees=None, bare=None)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resolution_m": 0.0}, "resolution_m"),
        ({"resolution_m": -0.15}, "resolution_m"),
        ({"bounds": (X0, Y0, X0, Y0 + 10)}, "bounds"),
        ({"bounds": (X0 + 10, Y0, X0, Y0 + 10)}, "bounds"),
        ({"crs": "EPSG:4326"}, "projected"),
        ({"tile_rows": 0}, "tile_rows"),
        ({"seed": -1}, "seed"),
        ({"lanes": gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 9, Y0)])], crs=CRS)}, "lanes"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _render(tmp_path / "bad.tif", **kwargs)


def test_unknown_roof_class_rejected(tmp_path: Path) -> None:
    roofs = _scene()["roofs"].assign(roof=["tile", "thatch", "steel", "tan", "tile"])
    with pytest.raises(ValueError, match="thatch"):
        _render(tmp_path / "bad.tif", roofs=roofs)
