"""Validation of a project package before anything is written: every problem found is collected."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
from pyproj.exceptions import CRSError

from gis_core.files import sha256_file
from supervision.casetypes import CaseTypeError
from supervision.errors import Issue, PackageError
from supervision.package import reader
from supervision.package.spec import FILES, REFERENCES, Column, FileSpec

DEFAULT_CRS = "EPSG:4550"
DEFAULT_MAX_DISTANCE_FROM_SCOPE_M = 5000.0
GEOMETRY_FILES = ("parcels", "buildings", "footprints_baseline", "footprints_after")


@dataclass(frozen=True)
class ProjectConfig:
    """The contents of ``project.toml``."""

    code: str
    name: str
    county_code: str
    crs: str
    srid: int
    pre_announcement_date: dt.date
    announcement_date: dt.date | None
    tolerance: dict
    rules: dict
    #: [cases] and [casetypes] (supervision.cases.validate_case_config)
    case_config: dict = field(default_factory=dict)


@dataclass
class OrthophotoInfo:
    """A package orthophoto checked with rasterio."""

    file: str
    path: Path
    phase: str
    captured_on: dt.date
    sha256: str
    size_bytes: int
    width_px: int
    height_px: int
    band_count: int
    dtype: str
    crs: str
    resolution_m: float
    footprint_wkb: bytes          # bounds polygon in the project CRS


@dataclass
class ValidatedPackage:
    """A package that passed validation: typed tables, geometries in the project CRS, notes."""

    root: Path
    project: ProjectConfig
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    geometries: dict[str, gpd.GeoSeries] = field(default_factory=dict)
    orthophotos: list[OrthophotoInfo] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    sources: dict[str, reader.RawFile] = field(default_factory=dict)   # where each row was (no cells kept)

    def issue(self, base: str, row_pos: int | None, column: str | None, en: str, zh: str) -> Issue:
        """An issue at positional row ``row_pos`` of file ``base``, named as the user wrote it."""
        return self.sources[base].issue(row_pos, column, en, zh)

    def row_counts(self) -> dict[str, int]:
        """Rows (or features) per file base name."""
        counts = {name: len(frame) for name, frame in self.tables.items()}
        counts["scope"] = len(self.geometries.get("scope", []))
        return counts


# ---------------------------------------------------------------------------------------------
def per_distinct(values: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``fn(values)``, computed once per distinct value (date and code columns repeat a lot)."""
    head = values.iloc[:1000]
    if len(values) > 2 * len(head) and 2 * head.nunique(dropna=False) > len(head):
        return fn(values)                  # mostly distinct (ID numbers, keys): not worth factorising
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    if 2 * len(uniques) > len(values):
        return fn(values)
    out = fn(pd.Series(uniques, dtype=values.dtype)).iloc[codes]
    out.index = values.index
    return out


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse ISO, ``2025/3/1`` and ``2025年3月1日`` dates (NaT where invalid or empty)."""
    return per_distinct(values, _parse_dates)


def _parse_dates(values: pd.Series) -> pd.Series:
    norm = (values.str.strip().str.replace("年", "-", regex=False).str.replace("月", "-", regex=False)
            .str.replace("日", "", regex=False).str.replace("/", "-", regex=False)
            .str.replace(".", "-", regex=False))
    norm = norm.str.replace(r"[ T]00:00(:00)?$", "", regex=True)
    return pd.to_datetime(norm, format="%Y-%m-%d", errors="coerce")


def parse_datetimes(values: pd.Series) -> pd.Series:
    """Parse ISO date-times (also with ``/`` or Chinese date parts); naive times are Beijing time."""
    return per_distinct(values, _parse_datetimes)


def _parse_datetimes(values: pd.Series) -> pd.Series:
    norm = (values.str.strip().str.replace("年", "-", regex=False).str.replace("月", "-", regex=False)
            .str.replace("日", " ", regex=False).str.replace("/", "-", regex=False).str.strip())
    parsed = pd.to_datetime(norm, format="ISO8601", errors="coerce", utc=False)
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize("Asia/Shanghai")
    return parsed.dt.tz_convert("UTC")


def nfc(values: pd.Series) -> pd.Series:
    """``values`` in Unicode NFC; pyarrow's kernel for arrow-backed strings (ten times pandas' per-value loop)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        out = pc.utf8_normalize(pa.array(values.array), form="NFC").to_pandas()
        out.index = values.index
        return out.astype(values.dtype)
    return values.str.normalize("NFC")


def clean_numbers(values: pd.Series) -> pd.Series:
    """Numbers as text: NFKC (full-width digits), no spaces or thousands separators."""
    return values.str.normalize("NFKC").str.strip().str.replace(",", "", regex=False)


class PackageChecker:
    """Collects issues while parsing one package."""

    def __init__(self, root: Path, *, repair: bool, max_distance_m: float):
        self.root = root
        self.repair = repair
        self.max_distance_m = max_distance_m
        self.issues: list[Issue] = []
        self.raw: dict[str, reader.RawFile] = {}
        self.out = ValidatedPackage(root=root, project=None)  # type: ignore[arg-type]

    # -- project.toml -----------------------------------------------------------------------------
    def project(self) -> ProjectConfig | None:
        path = self.root / "project.toml"
        def bad(key: str | None, en: str, zh: str) -> None:
            self.issues.append(Issue("project.toml", None, key, en, zh, "en"))
        if not path.exists():
            bad(None, "required file project.toml is missing (缺少 project.toml)", "缺少必需文件 project.toml")
            return None
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            bad(None, f"not valid TOML: {exc}", f"不是有效的 TOML: {exc}")
            return None
        for key in ("code", "name", "county_code", "pre_announcement_date"):
            if not str(data.get(key, "")).strip():
                bad(key, "required key is missing or empty", "缺少必需项或为空")
        code = str(data.get("code", "")).strip()
        county = str(data.get("county_code", "")).strip()
        if county and not (len(county) == 6 and county.isdigit()):
            bad("county_code", f"must be 6 digits, got {county!r}", f"应为6位数字, 实际为 {county!r}")
        crs_text = str(data.get("crs", DEFAULT_CRS))
        srid = 0
        try:
            crs = pyproj.CRS.from_user_input(crs_text)
            if not crs.is_projected:
                bad("crs", f"{crs_text} is geographic; areas need a projected CRS such as EPSG:4550",
                    f"{crs_text} 是地理坐标系, 面积计算需要投影坐标系(如 EPSG:4550)")
            srid = crs.to_epsg() or 0
            if not srid:
                bad("crs", f"{crs_text} has no EPSG code", f"{crs_text} 没有 EPSG 代码")
        except CRSError:
            bad("crs", f"unknown CRS {crs_text!r}", f"无法识别的坐标系 {crs_text!r}")
        dates: dict[str, dt.date | None] = {}
        for key in ("pre_announcement_date", "announcement_date"):
            value = data.get(key)
            if value in (None, ""):
                dates[key] = None
                continue
            if isinstance(value, dt.date):
                dates[key] = value
                continue
            parsed = parse_dates(pd.Series([str(value)], dtype=str)).iloc[0]
            if pd.isna(parsed):
                bad(key, f"not a date: {value!r}", f"不是有效日期: {value!r}")
                dates[key] = None
            else:
                dates[key] = parsed.date()
        for key in ("tolerance", "rules"):
            if key in data and not isinstance(data[key], dict):
                bad(key, f"[{key}] must be a table", f"[{key}] 必须是表")
        case_config: dict = {}
        try:
            from supervision.cases import validate_case_config

            case_config = validate_case_config(data.get("cases"), data.get("casetypes"), data.get("disclosure"))
        except CaseTypeError as exc:
            key = next((k for k in ("cases", "disclosure") if f"[{k}]" in str(exc)), "casetypes")
            bad(key, str(exc), str(exc))
        freeze = dates["pre_announcement_date"]
        if self.issues or freeze is None:          # a missing freeze date was reported above
            return None
        return ProjectConfig(code=code, name=str(data["name"]).strip(), county_code=county, crs=f"EPSG:{srid}",
                             srid=srid, pre_announcement_date=freeze,
                             announcement_date=dates["announcement_date"],
                             tolerance=dict(data.get("tolerance", {})), rules=dict(data.get("rules", {})),
                             case_config=case_config)

    # -- reading ----------------------------------------------------------------------------------
    def read(self, spec: FileSpec) -> reader.RawFile | None:
        paths, _ = reader.find_file(self.root, spec)
        if not paths:
            if spec.required:
                kind = "vector (GeoJSON, GeoPackage or zipped Shapefile)" if spec.vector else "table (CSV or XLSX)"
                self.issues.append(Issue(f"{spec.base}.*", None, None,
                                         f"required {kind} file is missing (缺少必需文件)",
                                         f"缺少必需文件 {spec.base}.*", "en"))
            return None
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            self.issues.append(Issue(paths[0].name, None, None, f"several files for {spec.base}: {names}; keep one",
                                     f"{spec.base} 有多个文件: {names}; 请只保留一个", "en"))
            return None
        path = paths[0]
        self.out.files[spec.base] = path.name
        try:
            if spec.vector:
                return self._read_vector(spec, path)
            return self._read_table(spec, path)
        except ValueError as exc:
            shown = reader.public_text(str(exc), self.root)
            self.issues.append(Issue(path.name, None, None, shown, f"无法读取: {shown}", "en"))
            return None

    def _read_table(self, spec: FileSpec, path: Path) -> reader.RawFile | None:
        cells = reader.read_table_cells(path)
        mapping, language = reader.map_headers(spec, [str(c) for c in cells.columns])
        raw = reader.RawFile(spec, path.name, language, mapping, pd.DataFrame(index=cells.index),
                             np.arange(len(cells)) + 2)
        return self._columns(raw, cells)

    def _read_vector(self, spec: FileSpec, path: Path) -> reader.RawFile | None:
        gdf = reader.read_vector(path)
        attrs = pd.DataFrame({c: gdf[c].map(reader._cell_to_str) if gdf[c].dtype == object
                              else gdf[c].astype(object).map(reader._cell_to_str)
                              for c in gdf.columns if c != gdf.geometry.name})
        shapefile = ".shp" in path.name.lower() or path.name.lower().endswith(".zip")
        mapping, language = reader.map_headers(spec, list(attrs.columns), shapefile=shapefile)
        raw = reader.RawFile(spec, path.name, language, mapping, pd.DataFrame(index=attrs.index),
                             np.arange(len(gdf)) + 1, row_kind="feature", geometry=gdf.geometry)
        if gdf.crs is None:
            self.issues.append(raw.issue(None, None, "the file declares no CRS (add a .prj or a crs member)",
                                         "文件未声明坐标系(请提供 .prj 或 crs)"))
            return None
        return self._columns(raw, attrs)

    def _columns(self, raw: reader.RawFile, cells: pd.DataFrame) -> reader.RawFile | None:
        missing = [c for c in raw.spec.columns if c.required and c.name not in raw.headers]
        for col in missing:
            self.issues.append(Issue(raw.name, None, col.zh if raw.language == "zh" else col.name,
                                     f"required column {col.name} ({col.zh}) is missing",
                                     f"缺少必需列「{col.zh}」({col.name})", raw.language, raw.row_kind))
        if missing:
            return None
        for col in raw.spec.columns:
            if col.name in raw.headers:
                raw.frame[col.name] = cells[raw.headers[col.name]].astype(str).fillna("")
            else:
                raw.frame[col.name] = pd.Series("", index=cells.index, dtype=str)
        self.raw[raw.spec.base] = raw
        return raw

    # -- cell values ------------------------------------------------------------------------------
    def cells(self, raw: reader.RawFile) -> pd.DataFrame:
        """Typed values of every column; issues for every bad cell."""
        out = pd.DataFrame(index=raw.frame.index)
        for col in raw.spec.columns:
            out[col.name] = self._cell_column(raw, col)
        return out

    def _flag(self, raw: reader.RawFile, mask: np.ndarray | pd.Series, col: Column, en: str, zh: str,
              values: pd.Series | None = None) -> None:
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        for pos in positions:
            shown = "" if values is None else f": {values.iloc[pos]!r}"
            self.issues.append(raw.issue(int(pos), col.name, en + shown, zh + shown))

    def _cell_column(self, raw: reader.RawFile, col: Column) -> pd.Series:
        def stripped(values: pd.Series) -> pd.Series:
            text = values.astype(str).str.strip()
            return text.where(~text.str.lower().isin(["nan", "none", "null"]) | (col.kind == "text"), "")

        text = per_distinct(raw.frame[col.name], stripped)
        empty = text == ""
        if col.nonempty:
            self._flag(raw, empty, col, "empty value", "值为空")
        present = ~empty
        if col.kind == "text" and col.name.endswith("id_number"):
            # GB 11643 writes the check character X in capitals: a lowercase x is the same number
            return per_distinct(text, lambda values: values.str.upper())
        if col.kind == "text":
            return per_distinct(text, nfc)
        if col.kind == "enum":
            mapped = text.map(col.choices)
            bad = present & mapped.isna()
            allowed = ", ".join(sorted({v for v in col.choices.values()}))
            allowed_zh = "、".join(k for k, v in col.choices.items() if k != v)
            self._flag(raw, bad, col, f"not one of {allowed}", f"不是允许的值({allowed_zh})", text)
            return mapped.fillna("")
        if col.kind == "date":
            parsed = parse_dates(text)
            self._flag(raw, present & parsed.isna(), col, "not a date (use 2025-03-01)",
                       "不是有效日期(应为 2025-03-01)", text)
            return parsed
        if col.kind == "datetime":
            parsed = parse_datetimes(text)
            self._flag(raw, present & parsed.isna(), col, "not a date-time (use 2025-03-01 09:30)",
                       "不是有效时间(应为 2025-03-01 09:30)", text)
            return parsed
        cleaned = clean_numbers(text)
        numbers = pd.to_numeric(cleaned.where(present, None), errors="coerce")
        self._flag(raw, present & numbers.isna(), col, "not a number", "不是数字", text)
        ok = present & numbers.notna()
        if col.kind == "int":
            self._flag(raw, ok & (numbers != np.round(numbers)), col, "not a whole number", "不是整数", text)
        if col.min_value is not None:
            self._flag(raw, ok & (numbers < col.min_value), col, f"must be at least {col.min_value:g}",
                       f"不能小于 {col.min_value:g}", text)
        if col.max_value is not None:
            self._flag(raw, ok & (numbers > col.max_value), col, f"must be at most {col.max_value:g}",
                       f"不能大于 {col.max_value:g}", text)
        if col.kind == "decimal":
            return cleaned.where(ok, "")      # exact decimal text for numeric columns
        return numbers

    def duplicates(self, raw: reader.RawFile, frame: pd.DataFrame) -> None:
        """Flag rows whose key repeats an earlier row."""
        key = list(raw.spec.key)
        if not key:
            return
        keyed = frame[key].astype(str)
        dup = keyed.duplicated(keep="first").to_numpy()
        if not dup.any():
            return
        first = keyed.reset_index(drop=True).groupby(key, sort=False).ngroup()
        first_row = pd.Series(np.arange(len(keyed))).groupby(first.to_numpy()).transform("min").to_numpy()
        for pos in np.flatnonzero(dup):
            other = int(raw.row_numbers[first_row[pos]])
            value = "/".join(keyed.iloc[pos])
            self.issues.append(raw.issue(int(pos), key[-1], f"duplicate key {value!r} (also at {raw.row_kind} {other})",
                                         f"重复的编号 {value!r}(与第{other}{'行' if raw.row_kind == 'row' else '个要素'}重复)"))

    def registry_ids(self, frame: pd.DataFrame) -> None:
        """Registry ID numbers must pass GB 11643 (the registry is the reference the checks trust)."""
        from supervision.registry_import import id_problems

        raw = self.raw["registry"]
        problems = id_problems(frame["id_number"])
        for pos in np.flatnonzero(problems.notna().to_numpy()):
            value = frame["id_number"].iloc[pos]
            self.issues.append(raw.issue(int(pos), "id_number", f"invalid ID number ({problems.iloc[pos]}): {value!r}",
                                         f"身份证号无效({problems.iloc[pos]}): {value!r}"))

    # -- geometries -------------------------------------------------------------------------------
    def geometries(self, raw: reader.RawFile, project: ProjectConfig) -> gpd.GeoSeries | None:
        """Check and reproject a layer's polygons into the project CRS; issues for bad ones."""
        geoms = raw.geometry
        if geoms is None:
            return None
        values = np.asarray(geoms.values, dtype=object)
        missing = shapely.is_missing(values) | shapely.is_empty(values)
        for pos in np.flatnonzero(missing):
            self.issues.append(raw.issue(int(pos), None, "empty or missing geometry", "几何为空"))
        types = shapely.get_type_id(values)
        polygonal = np.isin(types, [3, 6])  # Polygon, MultiPolygon
        for pos in np.flatnonzero(~missing & ~polygonal):
            kind = shapely.geometry.base.GEOMETRY_TYPES[types[pos]] if types[pos] >= 0 else "unknown"
            self.issues.append(raw.issue(int(pos), None, f"geometry is a {kind}, a polygon is expected",
                                         f"几何类型为 {kind}, 应为面(Polygon)"))
        check = ~missing & polygonal
        valid = np.ones(len(values), dtype=bool)
        valid[check] = shapely.is_valid(values[check])
        for pos in np.flatnonzero(~valid):
            reason = shapely.is_valid_reason(values[pos])
            if self.repair:
                before = shapely.area(values[pos])
                fixed = shapely.make_valid(values[pos])
                parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6)]
                fixed = shapely.union_all(parts) if parts else shapely.Polygon()
                values[pos] = fixed
                self.out.repairs.append(
                    f"{raw.name} {raw.row_kind} {int(raw.row_numbers[pos])}: {reason}; repaired with make_valid "
                    f"(area {before:.6g} -> {shapely.area(fixed):.6g} in the file's units)")
                if shapely.is_empty(fixed):
                    self.issues.append(raw.issue(int(pos), None, f"invalid geometry ({reason}) cannot be repaired",
                                                 f"几何无效({reason}), 无法修复"))
            else:
                self.issues.append(raw.issue(int(pos), None, f"invalid geometry: {reason} (use --repair to fix)",
                                             f"几何无效: {reason}(可用 --repair 修复)"))
        series = gpd.GeoSeries(values, crs=geoms.crs, index=geoms.index)
        ok = ~missing & polygonal
        if not ok.any():
            return series
        try:
            projected = series.to_crs(project.crs)
        except (CRSError, ValueError) as exc:
            self.issues.append(raw.issue(None, None, f"cannot reproject from {geoms.crs}: {exc}",
                                         f"无法从 {geoms.crs} 转换坐标: {exc}"))
            return None
        finite = np.isfinite(shapely.get_coordinates(projected.values[ok])).all() if ok.any() else True
        if not finite:
            self.issues.append(raw.issue(None, None, f"coordinates cannot be reprojected from {geoms.crs}",
                                         f"坐标无法从 {geoms.crs} 转换"))
            return None
        return projected

    def far_from_scope(self, raw: reader.RawFile, geoms: gpd.GeoSeries, scope: shapely.Geometry) -> None:
        """Flag geometries farther than ``max_distance_m`` from the scope (wrong CRS, typos in coordinates)."""
        values = np.asarray(geoms.values, dtype=object)
        usable = ~(shapely.is_missing(values) | shapely.is_empty(values))
        shapely.prepare(scope)
        near = np.ones(len(values), dtype=bool)
        near[usable] = shapely.dwithin(values[usable], scope, self.max_distance_m)
        for pos in np.flatnonzero(~near):
            dist = shapely.distance(values[pos], scope)
            self.issues.append(raw.issue(int(pos), None,
                                         f"geometry is {dist / 1000:.1f} km from the project scope (wrong CRS?)",
                                         f"几何距征收范围 {dist / 1000:.1f} 公里(坐标系是否有误?)"))

    # -- references -------------------------------------------------------------------------------
    def references(self, tables: dict[str, pd.DataFrame]) -> None:
        """Every cross-reference of DATA_FORMATS.md §1 must resolve."""
        for src, col, dst, dst_col in REFERENCES:
            if src not in tables or src not in self.raw:
                continue
            raw = self.raw[src]
            values = tables[src][col].astype(str)
            known = set(tables[dst][dst_col].astype(str)) if dst in tables else set()
            bad = (values != "") & ~values.isin(known)
            target = f"{dst}.*"
            self._flag(raw, bad.to_numpy(), raw.spec.column(col), f"not found in {target}",
                       f"在 {target} 中不存在", values)

    def orthophotos(self, table: pd.DataFrame, project: ProjectConfig) -> None:
        """Each listed orthophoto exists in the package and opens as a georeferenced raster."""
        import rasterio
        from rasterio.errors import RasterioIOError
        from rasterio.warp import transform_bounds

        raw = self.raw["orthophotos"]
        col = raw.spec.column("file")
        for pos, row in enumerate(table.itertuples(index=False)):
            rel = str(row.file)
            path = (self.root / rel).resolve()
            if not str(path).startswith(str(self.root.resolve())) or not path.is_file():
                self._flag(raw, np.arange(len(table)) == pos, col, "file not found in the package",
                           "包内找不到该文件", pd.Series([rel] * len(table)))
                continue
            try:
                with rasterio.open(path) as ds:
                    if ds.driver != "GTiff":
                        raise RasterioIOError(f"{ds.driver} is not a GeoTIFF")
                    if ds.crs is None:
                        raise RasterioIOError("no CRS")
                    bounds = transform_bounds(ds.crs, project.crs, *ds.bounds, densify_pts=21)
                    res = float(abs(ds.res[0])) if ds.crs.is_projected else float("nan")
                    info = (ds.width, ds.height, ds.count, ds.dtypes[0], ds.crs.to_string(), res)
            except RasterioIOError as exc:
                shown = reader.public_text(str(exc), self.root)
                self._flag(raw, np.arange(len(table)) == pos, col, f"not a georeferenced GeoTIFF ({shown})",
                           f"不是带坐标的 GeoTIFF({shown})", pd.Series([rel] * len(table)))
                continue
            self.out.orthophotos.append(OrthophotoInfo(
                file=rel, path=path, phase=row.phase, captured_on=row.captured_on.date(),
                sha256=sha256_file(path), size_bytes=path.stat().st_size, width_px=info[0], height_px=info[1],
                band_count=info[2], dtype=info[3], crs=info[4], resolution_m=info[5],
                footprint_wkb=shapely.to_wkb(shapely.box(*bounds))))


def validate_package(root: Path, *, repair: bool = False,
                     max_distance_m: float = DEFAULT_MAX_DISTANCE_FROM_SCOPE_M) -> ValidatedPackage:
    """Read and check every file of the package in ``root``; raise PackageError listing every problem."""
    chk = PackageChecker(Path(root), repair=repair, max_distance_m=max_distance_m)
    project = chk.project()
    raws = {base: chk.read(spec) for base, spec in FILES.items()}
    tables: dict[str, pd.DataFrame] = {}
    for base, raw in raws.items():
        if raw is not None and raw.spec.columns:
            tables[base] = chk.cells(raw)
            chk.duplicates(raw, tables[base])
    if "registry" in tables:
        chk.registry_ids(tables["registry"])
    if project is not None:
        geoms = {base: chk.geometries(raw, project) for base in ("scope",) + GEOMETRY_FILES
                 if (raw := raws.get(base)) is not None}
        scope_geoms = geoms.get("scope")
        if scope_geoms is not None:
            usable = scope_geoms[~(scope_geoms.is_empty | scope_geoms.isna())]
            scope = shapely.union_all(usable.values) if len(usable) else None
            if scope is None or scope.is_empty:
                chk.issues.append(Issue(chk.out.files.get("scope", "scope.*"), None, None,
                                        "the scope has no usable polygon", "征收范围没有有效的面", "en"))
            else:
                for base in GEOMETRY_FILES:
                    layer, raw = geoms.get(base), raws.get(base)
                    if layer is not None and raw is not None:
                        chk.far_from_scope(raw, layer, scope)
        chk.out.geometries = {k: v for k, v in geoms.items() if v is not None}
        if "orthophotos" in tables:
            chk.orthophotos(tables["orthophotos"], project)
    chk.references(tables)
    if chk.issues or project is None:              # no project: its problems are among the issues
        raise PackageError(chk.issues)
    chk.out.project = project
    chk.out.tables = tables
    chk.out.sources = {base: dataclasses.replace(raw, frame=pd.DataFrame(), geometry=None)
                       for base, raw in chk.raw.items()}
    if "field_photos" in tables:
        photos = tables["field_photos"]
        pts = gpd.GeoSeries(gpd.points_from_xy(photos["lon"], photos["lat"]), crs="OGC:CRS84", index=photos.index)
        chk.out.geometries["field_photos"] = pts.to_crs(project.crs)
    return chk.out
