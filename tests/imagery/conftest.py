"""Imagery fixtures: the canonical project, a factory of small GeoTIFFs, real-data projects, the synthetic district."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin
from sqlalchemy import text

from tests.common import X0, Y0, write_package

#: Where the canonical project's scope is (EPSG:4550): the test rasters are placed there.
ORIGIN = (X0 - 10.0, Y0 + 60.0)


@pytest.fixture
def canonical_project(conn, tmp_path) -> int:
    """The canonical package imported; returns the project id (scope around X0, Y0 in EPSG:4550)."""
    from supervision.package.service import import_package

    result, _ = import_package(conn, write_package(tmp_path / "pkg"))
    return result.project_id


@pytest.fixture
def store(tmp_path) -> Path:
    """An empty orthophoto store."""
    path = tmp_path / "store"
    path.mkdir()
    return path


def _pattern(count: int, h: int, w: int, dtype: str) -> np.ndarray:
    """Smooth colour gradients with a darker square: not blank, compresses well."""
    yy, xx = np.mgrid[0:h, 0:w]
    top = np.iinfo(dtype).max if dtype.startswith("uint") else 1.0
    base = np.stack([(xx / w), (yy / h), ((xx + yy) / (w + h))] + [np.ones((h, w))] * (count - 3))[:count]
    base[:, h // 4:h // 2, w // 4:w // 2] *= 0.5
    return (base * top * 0.8).astype(dtype)


@pytest.fixture
def make_tif(tmp_path) -> Callable[..., Path]:
    """Factory writing a small GeoTIFF in ``tmp_path`` (RGB uint8 over the canonical scope by default)."""
    def make(name: str = "ortho.tif", *, count: int = 3, dtype: str = "uint8", crs: str | None = "EPSG:4550",
             res: float = 0.1, origin: tuple[float, float] = ORIGIN, width: int = 400, height: int = 300,
             georeferenced: bool = True, alpha: bool = False, nodata: float | None = None,
             data: np.ndarray | None = None, tiled: bool = True, nir: bool = False) -> Path:
        path = tmp_path / name
        profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype)
        if tiled:
            profile.update(tiled=True, blockxsize=128, blockysize=128, compress="deflate")
        if crs is not None:
            profile["crs"] = crs
        if georeferenced:
            profile["transform"] = from_origin(origin[0], origin[1], res, res)
        if nodata is not None:
            profile["nodata"] = nodata
        if alpha:
            profile.update(photometric="RGB", alpha="YES")
        if nir:  # like NAIP: red, green, blue, near-infrared, no alpha
            profile.update(photometric="MINISBLACK")
        arr = _pattern(count, height, width, dtype) if data is None else data
        with rasterio.Env(), rasterio.open(path, "w", **profile) as dst:
            if alpha:
                dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
            if nir:
                dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
            dst.write(arr)
        return path
    return make


def add_project(conn, code: str, srid: int, scope: shapely.Geometry) -> int:
    """A bare project with only a scope (for real imagery outside China, in its own projected CRS)."""
    pid = conn.execute(text("""
        INSERT INTO project (code, name, county_code, srid, pre_announcement_date)
        VALUES (:c, :c, '210112', :s, DATE '2020-01-01') RETURNING id"""), {"c": code, "s": srid}).scalar_one()
    conn.execute(text("INSERT INTO project_scope (project_id, geom) "
                      "VALUES (:p, ST_Multi(ST_SetSRID(ST_GeomFromWKB(:g), :s)))"),
                 {"p": pid, "g": shapely.to_wkb(scope), "s": srid})
    return pid


def raster_project(conn, path: Path, code: str) -> int:
    """A project whose scope is the extent of the raster at ``path``, in the raster's CRS."""
    with rasterio.open(path) as src:
        return add_project(conn, code, src.crs.to_epsg(), shapely.box(*src.bounds))


@pytest.fixture(scope="session")
def district40(district_dir, tmp_path_factory) -> Path:
    """The synthetic district (40 households, seed 1) with its orthophotos, under a project code of its own.

    A code no other test or demo uses, so that importing it never has to replace an existing project.
    """
    source = district_dir(1, 40, True)
    target = tmp_path_factory.mktemp("district40_imagery") / "pkg"
    shutil.copytree(source, target, copy_function=os.link)
    toml = target / "project.toml"
    text_ = toml.read_text(encoding="utf-8")
    toml.unlink()  # a hard link: write a new file instead of changing the shared one
    toml.write_text(re.sub(r'(?m)^code = ".*"$', 'code = "HN-S1-IMAGERY"', text_), encoding="utf-8")
    return target


@pytest.fixture
def district_project(conn, district40) -> int:
    """The synthetic district's package imported; returns the project id."""
    from supervision.package.service import import_package

    result, _ = import_package(conn, district40)
    return result.project_id


CAPTURED = dt.date(2025, 2, 20)
