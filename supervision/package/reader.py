"""Reading a project package: folder or zip, CSV (UTF-8/BOM/GB18030), XLSX, GeoJSON/GPKG/zipped Shapefile."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from supervision.errors import Issue
from supervision.package.spec import FileSpec

MAX_ZIP_UNCOMPRESSED_BYTES = 200 * 1024**3
ZIP_MAGIC = b"PK\x03\x04"
#: An absolute path in a library's message (GDAL, pyogrio, rasterio): shown to users as its last part only.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"/:()]+/)+[^\s'\":()]*")


def public_text(message: str, root: Path) -> str:
    """``message`` with the server paths of package files replaced by their path inside the package.

    Library errors (pyogrio, GDAL, rasterio) name the file they failed on by its absolute path, which for
    a zipped package is a temporary folder of the server; users see only the package's own names.
    """
    out = message.replace("/vsizip/", "")
    for base in sorted({str(root), str(Path(root).resolve())}, key=len, reverse=True):
        out = out.replace(base + os.sep, "").replace(base, ".")
    return _ABSOLUTE_PATH.sub(lambda m: Path(m.group(0)).name or "?", out)


@dataclass
class RawFile:
    """A file's cells as strings under canonical column names, with its geometries if it is a vector."""

    spec: FileSpec
    name: str                      # display name (relative to the package)
    language: str                  # "zh" or "en": the headers used
    headers: dict[str, str]        # canonical name -> header as written
    frame: pd.DataFrame            # canonical columns, all str
    row_numbers: np.ndarray        # spreadsheet row (header = 1) or feature number
    row_kind: str = "row"
    geometry: gpd.GeoSeries | None = None

    def header(self, name: str) -> str:
        """The header as the user wrote it (or the canonical name in the file's language)."""
        if name in self.headers:
            return self.headers[name]
        return self.spec.column(name).zh if self.language == "zh" else name

    def issue(self, row_pos: int | None, column: str | None, en: str, zh: str) -> Issue:
        """An issue at positional row ``row_pos`` (None: whole file) and canonical column ``column``."""
        row = None if row_pos is None else int(self.row_numbers[row_pos])
        return Issue(self.name, row, self.header(column) if column else None, en, zh, self.language,
                     self.row_kind)


@contextlib.contextmanager
def open_package(path: Path) -> Iterator[Path]:
    """Yield the package folder (a zip is extracted to a temporary folder, safely)."""
    path = Path(path)
    if path.is_dir():
        yield _package_root(path)
        return
    if not path.exists():
        raise FileNotFoundError(f"package not found: {path.name}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != ZIP_MAGIC:
        raise ValueError(f"{path.name}: not a folder or a zip file")
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(prefix="expro-pkg-") as tmp:
        total = sum(info.file_size for info in zf.infolist())
        if total > MAX_ZIP_UNCOMPRESSED_BYTES:
            raise ValueError(f"{path.name}: uncompressed size {total} bytes exceeds the limit")
        root = Path(tmp).resolve()
        for info in zf.infolist():
            target = (root / info.filename).resolve()
            if not str(target).startswith(str(root)):
                raise ValueError(f"{path.name}: unsafe path in zip: {info.filename}")
        zf.extractall(root)
        yield _package_root(root)


def _package_root(folder: Path) -> Path:
    if (folder / "project.toml").exists():
        return folder
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    if len(subdirs) == 1 and (subdirs[0] / "project.toml").exists():
        return subdirs[0]
    return folder


def find_file(root: Path, spec: FileSpec) -> tuple[list[Path], str]:
    """The candidate files for ``spec`` in ``root`` and the chosen format ('' when none)."""
    exts = (".geojson", ".json", ".gpkg", ".shp.zip", ".zip", ".shp") if spec.vector else (".csv", ".xlsx")
    found = []
    by_lower = {p.name.lower(): p for p in root.iterdir() if p.is_file()}
    for ext in exts:
        hit = by_lower.get(spec.base + ext)
        if hit is not None and hit not in found:
            found.append(hit)
    # "parcels.shp.zip" also ends with ".zip" but its base is "parcels.shp": keep one
    return found, (found[0].suffix.lower() if found else "")


def _decode_csv(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("gb18030"), "gb18030"


def _cell_to_str(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def read_table_cells(path: Path) -> pd.DataFrame:
    """All cells of a CSV or XLSX file as strings, with the header row as columns."""
    data = path.read_bytes()
    if path.suffix.lower() == ".xlsx":
        if not data.startswith(ZIP_MAGIC):
            raise ValueError("not an XLSX workbook (the content is not a zip/OOXML file)")
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            rows = [[_cell_to_str(v) for v in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
        while rows and not any(c.strip() for c in rows[-1]):
            rows.pop()
        if not rows:
            return pd.DataFrame()
        header, body = rows[0], rows[1:]
        width = len(header)
        body = [(r + [""] * width)[:width] for r in body]
        return pd.DataFrame(body, columns=header, dtype=object).astype(str)
    if b"\x00" in data[:4096]:
        raise ValueError("not a text CSV file (binary content)")
    try:
        text, _ = _decode_csv(data)
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot be read as UTF-8 or GB18030 text (byte {exc.start})") from exc
    if not text.strip():
        return pd.DataFrame()
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                        skip_blank_lines=True)
    return frame


def map_headers(spec: FileSpec, headers: list[str], *, shapefile: bool = False) -> tuple[dict[str, str], str]:
    """Map written headers to canonical names; returns (canonical -> written, language)."""
    mapping: dict[str, str] = {}
    zh_hits = en_hits = 0
    for written in headers:
        clean = str(written).strip().lstrip("\ufeff")
        low = clean.lower()
        for col in spec.columns:
            if col.name in mapping:
                continue
            if low == col.name or (shapefile and len(clean) >= 10 and col.name[:10] == low):
                mapping[col.name] = written
                en_hits += 1
                break
            if clean == col.zh or (shapefile and clean and col.zh.startswith(clean) and len(clean) >= 3):
                mapping[col.name] = written
                zh_hits += 1
                break
    return mapping, ("zh" if zh_hits > en_hits else "en")


def vector_source(path: Path) -> str:
    """The path pyogrio should open (zipped shapefiles through GDAL's /vsizip/)."""
    if path.name.lower().endswith(".zip"):
        return f"/vsizip/{path}"
    return str(path)


def read_vector(path: Path) -> gpd.GeoDataFrame:
    """A vector layer as a GeoDataFrame (first layer), with its declared CRS (None if undeclared)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    suffix = path.name.lower()
    if suffix.endswith(".zip") and not head.startswith(ZIP_MAGIC):
        raise ValueError("not a zip file (a zipped Shapefile was expected)")
    if suffix.endswith(".gpkg") and not head.startswith(b"SQLite format 3"):
        raise ValueError("not a GeoPackage (SQLite) file")
    if suffix.endswith((".geojson", ".json")) and head.lstrip()[:1] not in (b"{", b"["):
        raise ValueError("not a GeoJSON text file")
    try:
        return pyogrio.read_dataframe(vector_source(path), use_arrow=False)
    except pyogrio.errors.DataSourceError as exc:
        raise ValueError(f"cannot be read as a vector layer: {exc}") from exc
    except pyogrio.errors.DataLayerError as exc:
        raise ValueError(f"cannot be read as a vector layer: {exc}") from exc
