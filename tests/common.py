"""Canonical parcels, buildings and a small valid project package, defined once for every test."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import Point, box

from supervision.package.spec import FILES

CRS = "EPSG:4550"
X0, Y0 = 546_000.0, 4_619_000.0      # near Hunnan, Shenyang, in CGCS2000 / 3-degree GK CM 123E
FREEZE = "2025-03-01"
VILLAGE = "210112101201"

#: Canonical homestead parcels (20 x 30 m) and buildings (10 x 8 m houses and a 4 x 5 m shed).
PARCELS = {
    "210112101201JC00001": box(X0, Y0, X0 + 20, Y0 + 30),
    "210112101201JC00002": box(X0 + 25, Y0, X0 + 45, Y0 + 30),
    "210112101201JC00003": box(X0 + 50, Y0, X0 + 70, Y0 + 30),
    "210112101201JA00001": box(X0, Y0 + 40, X0 + 20, Y0 + 240),
}
BUILDINGS = {
    ("210112101201JC00001", "1"): box(X0 + 5, Y0 + 15, X0 + 15, Y0 + 23),
    ("210112101201JC00001", "2"): box(X0 + 2, Y0 + 3, X0 + 6, Y0 + 8),
    ("210112101201JC00002", "1"): box(X0 + 30, Y0 + 15, X0 + 40, Y0 + 23),
    ("210112101201JC00003", "1"): box(X0 + 55, Y0 + 15, X0 + 65, Y0 + 23),
}
SCOPE = box(X0 - 30, Y0 - 30, X0 + 100, Y0 + 270)

HOUSEHOLDS = [
    ("2101121012010001", "210112195503120016", "王建国"),
    ("2101121012010002", "210112196011080024", "李秀英"),
    ("2101121012010003", "210112197807150037", "张伟"),
]


def _rows(table: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(table)


def package_tables() -> dict[str, pd.DataFrame]:
    """The canonical package's tables (English headers and values)."""
    hh = HOUSEHOLDS
    return {
        "villages": _rows([{"village_code": VILLAGE, "village_name": "王家村", "township_name": "祝家街道"}]),
        "households": _rows([{"household_no": h, "village_code": VILLAGE, "head_id_number": i, "head_name": n}
                             for h, i, n in hh]),
        "claims": _rows([
            dict(claim_id="C1", household_no=hh[0][0], claimant_id_number=hh[0][1], claimant_name=hh[0][2],
                 parcel_code="210112101201JC00001", building_no="1", item_kind="building", quantity="160.00",
                 unit="m2", unit_price_yuan="1850.00", amount_yuan="296000.00", registered_on="2025-03-20",
                 case_type="residential"),
            dict(claim_id="C2", household_no=hh[0][0], claimant_id_number=hh[0][1], claimant_name=hh[0][2],
                 parcel_code="210112101201JA00001", building_no="", item_kind="crop", quantity="6.00",
                 unit="mu", unit_price_yuan="1800.00", amount_yuan="10800.00", registered_on="2025-03-20",
                 case_type="farmland"),
            dict(claim_id="C3", household_no=hh[1][0], claimant_id_number=hh[1][1], claimant_name=hh[1][2],
                 parcel_code="210112101201JC00002", building_no="1", item_kind="building", quantity="80.00",
                 unit="m2", unit_price_yuan="1600.00", amount_yuan="128000.00", registered_on="2025/3/21",
                 case_type="residential"),
            dict(claim_id="C4", household_no=hh[2][0], claimant_id_number=hh[2][1], claimant_name=hh[2][2],
                 parcel_code="210112101201JC00003", building_no="1", item_kind="building", quantity="80.00",
                 unit="m2", unit_price_yuan="1600.00", amount_yuan="128000.00", registered_on="2025年3月22日",
                 case_type="residential"),
        ]),
        "payments": _rows([
            dict(payment_id="PAY1", household_no=hh[0][0], payee_id_number=hh[0][1], payee_name=hh[0][2],
                 amount_yuan="306800.00", paid_on="2025-07-01", agreement_no="XY-2025-0001"),
            dict(payment_id="PAY2", household_no=hh[1][0], payee_id_number=hh[1][1], payee_name=hh[1][2],
                 amount_yuan="128000.00", paid_on="2025-07-02", agreement_no="XY-2025-0002"),
        ]),
        "registry": _rows([
            dict(id_number=i, name=n, gender="M" if int(i[16]) % 2 else "F", birth_date=f"{i[6:10]}-{i[10:12]}-{i[12:14]}",
                 household_no=h, relation_to_head="户主", village_code=VILLAGE, status="active", status_date="",
                 moved_in_on="", split_from_household_no="", split_on="") for h, i, n in hh]),
        "homestead_approvals": _rows([dict(approval_no="SP-1998-001", household_no=hh[0][0],
                                           parcel_code="210112101201JC00001", approved_on="1998-05-04")]),
        "staff": _rows([
            dict(staff_id="S001", name="赵敏", id_number="210106198203040029", role="field_crew",
                 supervisor_staff_id="S002"),
            dict(staff_id="S002", name="周强", id_number="210106197501020013", role="supervisor",
                 supervisor_staff_id=""),
            dict(staff_id="S003", name="吴刚", id_number="210106197001010011", role="inspector",
                 supervisor_staff_id=""),
        ]),
        "assignments": _rows([dict(household_no=h, stage="入户调查登记", staff_id="S001") for h, _, _ in hh]),
        "field_photos": _rows([dict(photo_id="P1", household_no=hh[0][0], stage="入户调查登记",
                                    taken_at="2025-03-20T10:15:00+08:00", lon="123.552789", lat="41.704966")]),
    }


def package_layers() -> dict[str, gpd.GeoDataFrame]:
    """The canonical package's vector layers, in EPSG:4550."""
    hh_of = {"210112101201JC00001": HOUSEHOLDS[0][0], "210112101201JC00002": HOUSEHOLDS[1][0],
             "210112101201JC00003": HOUSEHOLDS[2][0], "210112101201JA00001": HOUSEHOLDS[0][0]}
    parcels = gpd.GeoDataFrame({
        "parcel_code": list(PARCELS), "village_code": VILLAGE,
        "land_class": ["homestead", "homestead", "homestead", "farmland"],
        "household_no": [hh_of[c] for c in PARCELS], "certificate_no": ["", "辽(2010)沈阳市不动产权第0001号", "", ""],
    }, geometry=list(PARCELS.values()), crs=CRS)
    buildings = gpd.GeoDataFrame({
        "parcel_code": [k[0] for k in BUILDINGS], "building_no": [k[1] for k in BUILDINGS],
        "structure_type": ["brick_concrete", "simple", "brick_wood", "brick_wood"], "storeys": [2, 1, 1, 1],
        "claimed_floor_area_m2": [160.0, 20.0, 80.0, 80.0],
    }, geometry=list(BUILDINGS.values()), crs=CRS)
    fp = [g.buffer(0.3, join_style="mitre") for g in BUILDINGS.values()]
    baseline = gpd.GeoDataFrame({"footprint_id": [f"F{i}" for i in range(len(fp))],
                                 "height_m": [6.5, 3.2, 3.4, 3.3]}, geometry=fp, crs=CRS)
    after = gpd.GeoDataFrame({"footprint_id": ["A1"], "height_m": [3.3]}, geometry=[fp[3]], crs=CRS)
    scope = gpd.GeoDataFrame({"name": ["征收范围"]}, geometry=[SCOPE], crs=CRS)
    return {"scope": scope, "parcels": parcels, "buildings": buildings, "footprints_baseline": baseline,
            "footprints_after": after}


PROJECT_TOML = f'''code = "T-001"
name = "测试项目"
county_code = "210112"
crs = "EPSG:4550"
pre_announcement_date = {FREEZE}
announcement_date = "2025-06-01"

[tolerance]
preset = "class3"
'''


def _zh_headers(base: str, frame: pd.DataFrame) -> pd.DataFrame:
    spec = FILES[base]
    names = {c.name: c.zh for c in spec.columns}
    return frame.rename(columns=names)


def _zh_values(base: str, frame: pd.DataFrame) -> pd.DataFrame:
    spec = FILES[base]
    out = frame.copy()
    for col in spec.columns:
        if col.kind == "enum" and col.name in out:
            back = {en: zh for zh, en in col.choices.items() if zh != en and not zh.isascii()}
            out[col.name] = out[col.name].map(lambda v: back.get(v, v))
    return out


def write_package(root: Path, *, language: str = "en", table_format: str = "csv", encoding: str = "utf-8",
                  vector_format: str = "geojson", vector_crs: str = CRS, tables: dict | None = None,
                  layers: dict | None = None, project_toml: str = PROJECT_TOML) -> Path:
    """Write the canonical package (or the given tables/layers) in the requested formats; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "project.toml").write_text(project_toml, encoding="utf-8")
    for base, frame in (tables if tables is not None else package_tables()).items():
        if language == "zh":
            frame = _zh_headers(base, _zh_values(base, frame))
        if table_format == "xlsx":
            frame.to_excel(root / f"{base}.xlsx", index=False, engine="openpyxl")
        else:
            data = frame.to_csv(index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
            if encoding == "utf-8-sig":
                (root / f"{base}.csv").write_bytes(b"\xef\xbb\xbf" + data.encode("utf-8"))
            else:
                (root / f"{base}.csv").write_bytes(data.encode(encoding))
    for base, gdf in (layers if layers is not None else package_layers()).items():
        gdf = gdf.to_crs(vector_crs)
        if language == "zh" and base in FILES and FILES[base].columns:
            gdf = _zh_headers(base, _zh_values(base, gdf))
        if vector_format == "gpkg":
            gdf.to_file(root / f"{base}.gpkg", driver="GPKG", engine="pyogrio")
        elif vector_format == "shpzip":
            shp_dir = root / f"_{base}_shp"
            shp_dir.mkdir()
            gdf.to_file(shp_dir / f"{base}.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
            with zipfile.ZipFile(root / f"{base}.zip", "w") as zf:
                for part in sorted(shp_dir.iterdir()):
                    zf.write(part, part.name)
            for part in shp_dir.iterdir():
                part.unlink()
            shp_dir.rmdir()
        else:
            gdf.to_file(root / f"{base}.geojson", driver="GeoJSON", engine="pyogrio")
    return root


def expected_counts() -> dict[str, int]:
    """Rows per file of the canonical package."""
    counts = {k: len(v) for k, v in package_tables().items()}
    counts.update({k: len(v) for k, v in package_layers().items()})
    return counts


def photo_point() -> Point:
    """The canonical field photo location (WGS84)."""
    return shapely.Point(123.552789, 41.704966)
