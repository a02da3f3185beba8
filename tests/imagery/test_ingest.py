"""Orthophoto ingest: every refusal on a real bad file, 16-bit and RGBA inputs, valid COGs, the catalogue row."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio
from PIL import Image
from rio_cogeo.cogeo import cog_validate

from imagery.catalogue import get_orthophoto, list_orthophotos
from imagery.errors import (CorruptGeoTIFFError, ImageryError, NoGeoreferenceError, NoOverlapError,
                            NotGeoTIFFError, ResolutionError, UnsupportedBandsError, UnsupportedDtypeError)
from imagery.ingest import ingest_orthophoto
from tests.imagery.conftest import CAPTURED


def _ingest(conn, path, project_id, store, phase="baseline"):
    return ingest_orthophoto(conn, path, project_id=project_id, phase=phase, captured_on=CAPTURED,
                             store_dir=store)


def _assert_cog(path) -> None:
    valid, errors, _ = cog_validate(str(path), quiet=True)
    assert valid, errors
    with rasterio.open(path) as src:
        assert src.profile["tiled"] and src.overviews(1) or max(src.width, src.height) <= 512


def test_png_renamed_tif_is_refused(conn, canonical_project, store, tmp_path):
    path = tmp_path / "photo.tif"
    Image.new("RGB", (64, 64), (120, 90, 60)).save(path, format="PNG")
    with pytest.raises(NotGeoTIFFError, match="PNG"):
        _ingest(conn, path, canonical_project, store)


def test_truncated_tiff_is_refused(conn, canonical_project, store, make_tif, tmp_path):
    good = make_tif("good.tif", width=1024, height=1024, tiled=True)
    data = good.read_bytes()
    bad = tmp_path / "truncated.tif"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptGeoTIFFError):
        _ingest(conn, bad, canonical_project, store)
    header_only = tmp_path / "header_only.tif"
    header_only.write_bytes(data[:16])
    with pytest.raises(CorruptGeoTIFFError):
        _ingest(conn, header_only, canonical_project, store)


def test_missing_crs_or_transform_is_refused(conn, canonical_project, store, make_tif):
    with pytest.raises(NoGeoreferenceError, match="coordinate reference system"):
        _ingest(conn, make_tif("nocrs.tif", crs=None), canonical_project, store)
    with pytest.raises(NoGeoreferenceError, match="geotransform"):
        _ingest(conn, make_tif("notransform.tif", georeferenced=False), canonical_project, store)


def test_far_from_scope_is_refused(conn, canonical_project, store, make_tif):
    far = make_tif("far.tif", origin=(500_000.0, 4_500_000.0))
    with pytest.raises(NoOverlapError, match="km away"):
        _ingest(conn, far, canonical_project, store)


def test_implausible_resolution_is_refused(conn, canonical_project, store, make_tif):
    with pytest.raises(ResolutionError, match="1e-05 m"):
        _ingest(conn, make_tif("tiny.tif", res=0.00001), canonical_project, store)
    with pytest.raises(ResolutionError, match="50 m"):
        _ingest(conn, make_tif("coarse.tif", res=50.0, width=8, height=8), canonical_project, store)


def test_unsupported_dtype_and_bands_are_refused(conn, canonical_project, store, make_tif):
    with pytest.raises(UnsupportedDtypeError, match="float32"):
        _ingest(conn, make_tif("float.tif", dtype="float32"), canonical_project, store)
    two = np.full((2, 300, 400), 100, np.uint8)
    with pytest.raises(UnsupportedBandsError, match="2 band"):
        _ingest(conn, make_tif("two.tif", count=2, data=two), canonical_project, store)
    # every refusal is an ImageryError and a ValueError, so the API answers 4xx
    assert issubclass(UnsupportedBandsError, ImageryError) and issubclass(UnsupportedBandsError, ValueError)


def test_rgb_uint8_ingests_to_valid_cog_with_catalogue_row(conn, canonical_project, store, make_tif):
    src = make_tif("rgb.tif", width=1200, height=900)
    oid = _ingest(conn, src, canonical_project, store)
    row = get_orthophoto(conn, oid, ingested=True)
    _assert_cog(row["cog_path"])
    assert row["status"] == "ingested" and not row["from_package"]
    assert row["crs"] == "EPSG:4550" and row["resolution_m"] == pytest.approx(0.1)
    assert (row["width_px"], row["height_px"], row["band_count"], row["dtype"]) == (1200, 900, 3, "uint8")
    assert len(row["cog_sha256"]) == 64 and row["cog_sha256"] != row["sha256"]
    assert row["footprint"].area == pytest.approx(120 * 90, rel=1e-6)  # every pixel valid
    with rasterio.open(row["cog_path"]) as cog:
        assert cog.compression.name.upper() == "JPEG" and cog.overviews(1)
    # the same file again: the same row, nothing re-written
    assert _ingest(conn, src, canonical_project, store) == oid
    assert [r["id"] for r in list_orthophotos(conn, row["project_code"])] == [oid]


def test_uint16_is_stretched_to_uint8(conn, canonical_project, store, make_tif):
    data = np.zeros((3, 300, 400), np.uint16)
    data[:] = np.linspace(1000, 4000, 400, dtype=np.uint16)[None, None, :]  # 12-bit data in 16 bits
    oid = _ingest(conn, make_tif("u16.tif", dtype="uint16", data=data), canonical_project, store)
    row = get_orthophoto(conn, oid)
    _assert_cog(row["cog_path"])
    assert row["dtype"] == "uint16" and row["ingest"]["uint16_stretch"][0] == pytest.approx(1000, abs=30)
    with rasterio.open(row["cog_path"]) as cog:
        assert cog.dtypes[0] == "uint8"
        band = cog.read(1)
    assert band[:, :20].mean() < 15 and band[:, -20:].mean() > 240  # the full 8-bit range is used


def test_rgba_alpha_is_honoured(conn, canonical_project, store, make_tif):
    data = _rgba(400, 300)
    oid = _ingest(conn, make_tif("rgba.tif", count=4, alpha=True, data=data), canonical_project, store)
    row = get_orthophoto(conn, oid)
    _assert_cog(row["cog_path"])
    assert row["ingest"]["layout"] == "RGBA" and row["ingest"]["mask_source"] == "alpha"
    assert row["footprint"].area == pytest.approx(20 * 30, rel=0.02)  # only the opaque left half
    with rasterio.open(row["cog_path"]) as cog:
        mask = cog.dataset_mask()
    assert mask[:, :190].all() and not mask[:, 210:].any()


def test_nodata_is_honoured(conn, canonical_project, store, make_tif):
    data = _rgba(400, 300)[:3]
    data[:, :, 200:] = 0
    oid = _ingest(conn, make_tif("nodata.tif", nodata=0, data=data), canonical_project, store)
    row = get_orthophoto(conn, oid)
    assert row["ingest"]["mask_source"] == "nodata"
    assert row["footprint"].area == pytest.approx(20 * 30, rel=0.02)


def test_rgb_nir_drops_the_fourth_band(conn, canonical_project, store, make_tif):
    oid = _ingest(conn, make_tif("rgbn.tif", count=4, nir=True), canonical_project, store)
    row = get_orthophoto(conn, oid)
    assert row["ingest"]["layout"] == "RGB+NIR" and row["ingest"]["dropped_bands"] == [4]
    _assert_cog(row["cog_path"])


def test_package_row_is_completed_in_place(conn, district_project, district40, store, tmp_path):
    """The package importer catalogues orthophotos without COG; ingesting the same file completes that row."""
    from sqlalchemy import text

    src = tmp_path / "baseline.tif"
    shutil.copy(district40 / "imagery" / "baseline.tif", src)
    before = conn.execute(text("SELECT id FROM orthophoto WHERE project_id = :p AND phase = 'baseline'"),
                          {"p": district_project}).scalar_one()
    oid = _ingest(conn, src, district_project, store)
    row = get_orthophoto(conn, oid)
    assert oid == before and row["from_package"] and row["status"] == "ingested"
    _assert_cog(row["cog_path"])


def _rgba(w: int, h: int) -> np.ndarray:
    data = np.zeros((4, h, w), np.uint8)
    data[0], data[1], data[2] = 150, 120, 90
    data[:3, 50:100, 50:100] = 40
    data[3, :, : w // 2] = 255
    return data
