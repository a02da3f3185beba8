"""Coverage-weighted zonal statistics (exactextract through rasterio) against figures worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from imagery.zonal import zonal_stats


@pytest.fixture
def raster(tmp_path):
    """10 x 10 pixels of 1 m: value = column index; the last column is nodata (255)."""
    values = np.tile(np.arange(10, dtype=np.uint8), (10, 1))
    values[:, 9] = 255
    path = tmp_path / "r.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8", crs="EPSG:4550",
                       transform=from_origin(500_000, 4_600_010, 1, 1), nodata=255) as dst:
        dst.write(values, 1)
    return path


def test_coverage_weighted_counts_sums_and_means(raster):
    x0, y0 = 500_000, 4_600_000
    geoms = np.array([
        shapely.box(x0 + 2, y0 + 2, x0 + 4, y0 + 5),        # 2 x 3 whole pixels of columns 2 and 3
        shapely.box(x0 + 2.5, y0, x0 + 3, y0 + 1),          # half a pixel of column 2
        shapely.box(x0 + 8, y0, x0 + 12, y0 + 1),           # column 8, nodata column 9, then outside
        shapely.Polygon(),                                  # empty
        shapely.box(x0 + 50, y0 + 50, x0 + 51, y0 + 51),    # far outside
    ], dtype=object)
    stats = zonal_stats(raster, geoms, "EPSG:4550", ops=("count", "sum", "mean"))
    np.testing.assert_allclose(stats["count"], [6, 0.5, 1, 0, 0])
    np.testing.assert_allclose(stats["sum"], [15, 1, 8, 0, 0])
    np.testing.assert_allclose(stats["mean"][:3], [2.5, 2, 8])
    assert np.isnan(stats["mean"][3]) and np.isnan(stats["mean"][4])


def test_unknown_operation_and_band_are_refused(raster):
    with pytest.raises(ValueError, match="unknown zonal operations"):
        zonal_stats(raster, np.array([shapely.box(0, 0, 1, 1)]), "EPSG:4550", ops=("median_of_means",))
    with pytest.raises(ValueError, match="no band 2"):
        zonal_stats(raster, np.array([shapely.box(0, 0, 1, 1)]), "EPSG:4550", band=2)
