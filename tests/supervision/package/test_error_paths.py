"""Errors shown to users name the package's own files, never a server path (issue 9, point 8)."""

from __future__ import annotations

import re
import tempfile
import zipfile

import pytest
from click.testing import CliRunner

from expro.cli import cli
from supervision.errors import PackageError
from supervision.package.service import import_package
from tests.common import write_package

#: What a server path looks like in a message: the temporary folder, the zip extraction prefix, GDAL's /vsizip/.
SERVER_PATH = re.compile("|".join(map(re.escape, [tempfile.gettempdir(), "expro-pkg-", "/vsizip/", "/tmp/"])))


def _zipped(pkg, archive):
    with zipfile.ZipFile(archive, "w") as zf:
        for f in pkg.rglob("*"):
            if f.is_file():
                zf.write(f, f"T-001/{f.relative_to(pkg)}")
    return archive


def _corrupt(pkg):
    (pkg / "parcels.geojson").unlink()
    (pkg / "parcels.gpkg").write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)     # a GeoPackage header, then junk
    (pkg / "buildings.geojson").write_text('{"type": "FeatureCollection", "features": [ {"type": ', encoding="utf-8")
    (pkg / "imagery").mkdir()
    (pkg / "imagery" / "baseline.tif").write_bytes(b"II*\x00" + b"\x00" * 600)        # a TIFF header, then nothing
    (pkg / "orthophotos.csv").write_text("file,phase,captured_on\nimagery/baseline.tif,baseline,2025-02-20\n",
                                         encoding="utf-8")
    return pkg


def test_corrupt_files_in_a_zipped_package_are_named_without_server_paths(conn, tmp_path):
    archive = _zipped(_corrupt(write_package(tmp_path / "pkg")), tmp_path / "pkg.zip")
    with pytest.raises(PackageError) as info:
        import_package(conn, archive, store_dir=tmp_path / "store")
    issues = info.value.issues
    by_file = {i.file: i for i in issues}
    assert {"parcels.gpkg", "buildings.geojson", "orthophotos.csv"} <= by_file.keys(), info.value.report()
    ortho = by_file["orthophotos.csv"]
    assert (ortho.row, ortho.column) == (2, "file") and "imagery/baseline.tif" in ortho.message_en
    for issue in issues:
        for message in (issue.render(), issue.message_en, issue.message_zh, issue.file):
            assert not SERVER_PATH.search(message), message
    res = CliRunner().invoke(cli, ["import", str(archive), "--errors-csv", str(tmp_path / "errors.csv")])
    assert res.exit_code == 2
    for shown in (res.output, (tmp_path / "errors.csv").read_text(encoding="utf-8-sig")):
        assert "parcels.gpkg" in shown and not SERVER_PATH.search(shown.replace(str(tmp_path), "")), shown
