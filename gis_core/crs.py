"""CRS discipline: areas and overlays only in one projected, metre-based CRS."""

from __future__ import annotations

import geopandas as gpd
import pyproj

from gis_core.errors import CRSMismatchError, GeographicCRSError


def require_projected(*frames: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """The common projected CRS of ``frames``; raise if any is missing, geographic or different."""
    crs: pyproj.CRS | None = None
    for i, frame in enumerate(frames):
        if frame is None:
            continue
        this = frame.crs
        if this is None:
            raise GeographicCRSError(f"input {i} has no CRS; areas need a projected CRS such as EPSG:4550")
        this = pyproj.CRS.from_user_input(this)
        if not this.is_projected:
            raise GeographicCRSError(f"input {i} is in the geographic CRS {this.to_string()}: "
                                     "reproject to a projected CRS (EPSG:4550 for Shenyang) before computing areas")
        unit = this.axis_info[0].unit_name if this.axis_info else ""
        if unit not in ("metre", "meter"):
            raise GeographicCRSError(f"input {i} is in {this.to_string()} whose unit is {unit!r}, not metres")
        if crs is None:
            crs = this
        elif not crs.equals(this):
            raise CRSMismatchError(f"inputs are in different CRSs: {crs.to_string()} and {this.to_string()}")
    if crs is None:
        raise GeographicCRSError("no input with a CRS")
    return crs
