"""Package import against real PostGIS: formats, encodings, header languages, CRSs, errors, atomicity."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from supervision.errors import PackageError
from supervision.package.service import import_package
from tests.common import BUILDINGS, HOUSEHOLDS, PARCELS, PROJECT_TOML, expected_counts, package_layers, package_tables, write_package

COUNT_SQL = {
    "villages": "SELECT count(*) FROM admin_unit WHERE level = 'village' AND project_id = :p",
    "parcels": "SELECT count(*) FROM parcel WHERE project_id = :p",
    "buildings": "SELECT count(*) FROM building WHERE project_id = :p",
    "footprints_baseline": "SELECT count(*) FROM footprint WHERE phase = 'baseline' AND project_id = :p",
    "footprints_after": "SELECT count(*) FROM footprint WHERE phase = 'after' AND project_id = :p",
    "households": "SELECT count(*) FROM household WHERE project_id = :p",
    "claims": "SELECT count(*) FROM claim WHERE project_id = :p",
    "payments": "SELECT count(*) FROM payment WHERE project_id = :p",
    "registry": "SELECT count(*) FROM registry_person r JOIN registry_extract e ON e.id = r.extract_id WHERE e.project_id = :p",
    "homestead_approvals": "SELECT count(*) FROM homestead_approval WHERE project_id = :p",
    "staff": "SELECT count(*) FROM project_staff WHERE project_id = :p",
    "assignments": "SELECT count(*) FROM assignment WHERE project_id = :p",
    "field_photos": "SELECT count(*) FROM field_photo WHERE project_id = :p",
    "scope": "SELECT count(*) FROM project_scope WHERE project_id = :p",
}
ALL_TABLES = ["project", "parcel", "building", "footprint", "household", "claim", "payment", "registry_person",
              "homestead_approval", "app_user", "assignment", "field_photo", "admin_unit", "audit_event"]


def db_counts(conn, project_id: int) -> dict[str, int]:
    """Rows per package file as stored in the database."""
    return {k: conn.execute(text(sql), {"p": project_id}).scalar_one() for k, sql in COUNT_SQL.items()}


def table_counts(conn) -> dict[str, int]:
    """Rows in every table an import writes."""
    return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ALL_TABLES}


def assert_canonical_content(conn, project_id: int) -> None:
    """Every column of every file landed with the canonical values."""
    p = {"p": project_id}
    proj = conn.execute(text("SELECT code, name, county_code, srid, pre_announcement_date, announcement_date, "
                             "tolerance FROM project WHERE id = :p"), p).one()
    assert proj == ("T-001", "测试项目", "210112", 4550, dt.date(2025, 3, 1), dt.date(2025, 6, 1), {"preset": "class3"})
    village = conn.execute(text("SELECT v.code, v.name, t.name, t.code FROM admin_unit v JOIN admin_unit t "
                                "ON t.id = v.parent_id WHERE v.project_id = :p AND v.level = 'village'"), p).one()
    assert village == ("210112101201", "王家村", "祝家街道", "210112101")
    parcels = conn.execute(text("SELECT parcel_code, village_code, land_class, household_no, certificate_no, "
                                "area_m2 FROM parcel WHERE project_id = :p ORDER BY parcel_code"), p).all()
    layers = package_layers()
    src = layers["parcels"].set_index("parcel_code")
    assert [r.parcel_code for r in parcels] == sorted(PARCELS)
    for r in parcels:
        assert r.village_code == "210112101201"
        assert r.land_class == src.loc[r.parcel_code, "land_class"]
        assert r.household_no == src.loc[r.parcel_code, "household_no"]
        assert (r.certificate_no or "") == src.loc[r.parcel_code, "certificate_no"]
        assert r.area_m2 == pytest.approx(PARCELS[r.parcel_code].area, rel=1e-4)
    buildings = conn.execute(text("SELECT parcel_code, building_no, structure_type, storeys, claimed_floor_area_m2, "
                                  "outline_area_m2 FROM building WHERE project_id = :p"), p).all()
    bsrc = layers["buildings"].set_index(["parcel_code", "building_no"])
    assert len(buildings) == len(BUILDINGS)
    for r in buildings:
        key = (r.parcel_code, r.building_no)
        assert r.structure_type == bsrc.loc[key, "structure_type"]
        assert r.storeys == bsrc.loc[key, "storeys"]
        assert float(r.claimed_floor_area_m2) == pytest.approx(bsrc.loc[key, "claimed_floor_area_m2"])
        assert r.outline_area_m2 == pytest.approx(BUILDINGS[key].area, rel=1e-4)
    fps = conn.execute(text("SELECT phase, footprint_id, height_m, source FROM footprint WHERE project_id = :p "
                            "ORDER BY phase, footprint_id"), p).all()
    assert [(f.phase, f.footprint_id, f.height_m, f.source) for f in fps] == (
        [("after", "A1", 3.3, "survey")] + [("baseline", f"F{i}", h, "survey") for i, h in enumerate([6.5, 3.2, 3.4, 3.3])])
    hh = conn.execute(text("SELECT household_no, village_code, head_id_number, head_name FROM household "
                           "WHERE project_id = :p ORDER BY household_no"), p).all()
    assert [tuple(r) for r in hh] == [(h, "210112101201", i, n) for h, i, n in HOUSEHOLDS]
    tables = package_tables()
    claims = conn.execute(text("SELECT claim_id, household_no, claimant_id_number, claimant_name, parcel_code, "
                               "building_no, item_kind, quantity, unit, unit_price_yuan, amount_yuan, registered_on, "
                               "case_type, building_id IS NOT NULL AS linked FROM claim WHERE project_id = :p "
                               "ORDER BY claim_id"), p).all()
    for r, (_, s) in zip(claims, tables["claims"].iterrows(), strict=True):
        assert (r.claim_id, r.household_no, r.claimant_id_number, r.claimant_name, r.parcel_code) == (
            s.claim_id, s.household_no, s.claimant_id_number, s.claimant_name, s.parcel_code)
        assert (r.building_no or "") == s.building_no and r.linked == (s.building_no != "")
        assert (r.item_kind, r.unit, r.case_type) == (s.item_kind, s.unit, s.case_type)
        assert r.quantity == Decimal(s.quantity) and r.unit_price_yuan == Decimal(s.unit_price_yuan)
        assert r.amount_yuan == Decimal(s.amount_yuan)
    assert [r.registered_on for r in claims] == [dt.date(2025, 3, 20), dt.date(2025, 3, 20), dt.date(2025, 3, 21),
                                                 dt.date(2025, 3, 22)]
    pays = conn.execute(text("SELECT payment_id, household_no, payee_id_number, payee_name, amount_yuan, paid_on, "
                             "agreement_no FROM payment WHERE project_id = :p ORDER BY payment_id"), p).all()
    for r, (_, s) in zip(pays, tables["payments"].iterrows(), strict=True):
        assert (r.payment_id, r.household_no, r.payee_id_number, r.payee_name, r.agreement_no) == (
            s.payment_id, s.household_no, s.payee_id_number, s.payee_name, s.agreement_no)
        assert r.amount_yuan == Decimal(s.amount_yuan) and r.paid_on == dt.date.fromisoformat(s.paid_on)
    reg = conn.execute(text("SELECT r.* FROM registry_person r JOIN registry_extract e ON e.id = r.extract_id "
                            "WHERE e.project_id = :p ORDER BY id_number"), p).mappings().all()
    for r, (_, s) in zip(reg, tables["registry"].sort_values("id_number").iterrows(), strict=True):
        assert (r["id_number"], r["name"], r["gender"], r["household_no"], r["relation_to_head"], r["village_code"],
                r["status"]) == (s.id_number, s["name"], s.gender, s.household_no, s.relation_to_head, s.village_code,
                                 s.status)
        assert r["birth_date"] == dt.date.fromisoformat(s.birth_date)
        assert r["status_date"] is None and r["moved_in_on"] is None and r["split_on"] is None
        assert r["split_from_household_no"] is None
    appr = conn.execute(text("SELECT approval_no, household_no, parcel_code, approved_on FROM homestead_approval "
                             "WHERE project_id = :p"), p).one()
    assert tuple(appr) == ("SP-1998-001", HOUSEHOLDS[0][0], "210112101201JC00001", dt.date(1998, 5, 4))
    staff = conn.execute(text("SELECT u.username, u.name, u.id_number, u.role, s.username AS sup FROM project_staff ps "
                              "JOIN app_user u ON u.id = ps.user_id LEFT JOIN app_user s ON s.id = ps.supervisor_user_id "
                              "WHERE ps.project_id = :p ORDER BY u.username"), p).all()
    assert [tuple(r) for r in staff] == [
        ("S001", "赵敏", "210106198203040029", "field_crew", "S002"),
        ("S002", "周强", "210106197501020013", "supervisor", None),
        ("S003", "吴刚", "210106197001010011", "inspector", None)]
    assign = conn.execute(text("SELECT h.household_no, a.stage, u.username FROM assignment a JOIN household h "
                               "ON h.id = a.household_id JOIN app_user u ON u.id = a.user_id WHERE a.project_id = :p "
                               "ORDER BY 1"), p).all()
    assert [tuple(r) for r in assign] == [(h, "入户调查登记", "S001") for h, _, _ in HOUSEHOLDS]
    photo = conn.execute(text("SELECT photo_id, stage, taken_at, lon, lat, ST_SRID(geom) AS srid, "
                              "ST_X(ST_Transform(geom, 4490)) AS x FROM field_photo WHERE project_id = :p"), p).one()
    assert (photo.photo_id, photo.stage, photo.lon, photo.lat, photo.srid) == ("P1", "入户调查登记", 123.552789, 41.704966, 4550)
    assert photo.taken_at == dt.datetime(2025, 3, 20, 2, 15, tzinfo=dt.timezone.utc)
    assert photo.x == pytest.approx(123.552789, abs=1e-7)


def _import(conn, path: Path, **kw):
    result, _ = import_package(conn, path, **kw)
    return result


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_column_in_both_header_languages(conn, tmp_path, language):
    pkg = write_package(tmp_path / "pkg", language=language)
    result = _import(conn, pkg)
    assert db_counts(conn, result.project_id) == expected_counts()
    assert_canonical_content(conn, result.project_id)


@pytest.mark.parametrize("options", [
    {"encoding": "gb18030", "language": "zh"},
    {"encoding": "utf-8-sig"},
    {"table_format": "xlsx", "language": "zh"},
    {"table_format": "xlsx"},
    {"vector_format": "gpkg"},
    {"vector_format": "shpzip"},
], ids=["gb18030-zh", "utf8-bom", "xlsx-zh", "xlsx-en", "gpkg", "shapefile-zip"])
def test_formats_and_encodings(conn, tmp_path, options):
    pkg = write_package(tmp_path / "pkg", **options)
    if options.get("encoding") == "gb18030":
        raw = (pkg / "households.csv").read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    result = _import(conn, pkg)
    assert db_counts(conn, result.project_id) == expected_counts()
    assert_canonical_content(conn, result.project_id)


def test_zipped_package_folder(conn, tmp_path):
    pkg = write_package(tmp_path / "pkg", vector_format="gpkg")
    archive = tmp_path / "pkg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in pkg.iterdir():
            zf.write(f, f"T-001/{f.name}")
    result = _import(conn, archive)
    assert db_counts(conn, result.project_id) == expected_counts()


@pytest.mark.parametrize("source_crs", ["OGC:CRS84", "EPSG:32651"], ids=["crs84", "utm51n"])
def test_reprojection_preserves_area(conn, tmp_path, source_crs):
    pkg = write_package(tmp_path / "pkg", vector_crs=source_crs)
    if source_crs == "OGC:CRS84":      # GeoJSON without a crs member is CRS84 by definition
        text_ = (pkg / "parcels.geojson").read_text(encoding="utf-8")
        assert '"crs"' not in text_ or "CRS84" in text_
    result = _import(conn, pkg)
    rows = conn.execute(text("SELECT parcel_code, ST_Area(geom) AS a, ST_SRID(geom) AS s FROM parcel "
                             "WHERE project_id = :p"), {"p": result.project_id}).all()
    assert len(rows) == len(PARCELS)
    for r in rows:
        assert r.s == 4550
        assert abs(r.a - PARCELS[r.parcel_code].area) / PARCELS[r.parcel_code].area < 1e-4
    b = conn.execute(text("SELECT sum(ST_Area(geom)) FROM building WHERE project_id = :p"),
                     {"p": result.project_id}).scalar_one()
    assert abs(b - sum(g.area for g in BUILDINGS.values())) / b < 1e-4


def _bad_package(root: Path) -> Path:
    tables = package_tables()
    layers = package_layers()
    claims = tables["claims"]
    claims.loc[0, "amount_yuan"] = "abc"                          # 1 not a number
    claims.loc[1, "registered_on"] = "2025-13-45"                  # 2 not a date
    claims.loc[2, "household_no"] = "9999999999999999"             # 3 unknown household
    claims.loc[3, "item_kind"] = "house"                           # 4 bad enum
    claims.loc[3, "claim_id"] = "C1"                               # 5 duplicate key
    tables["households"].loc[2, "village_code"] = "210112999999"   # 6 unknown village
    tables["households"].loc[1, "head_name"] = ""                  # 7 empty required value
    tables["payments"] = tables["payments"].drop(columns=["paid_on"])   # 8 missing column
    tables["field_photos"].loc[0, "lat"] = "95"                    # 9 out of range
    del tables["villages"]                                         # 10 missing required file
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    layers["buildings"].loc[0, "geometry"] = shapely.affinity.translate(bowtie, 546005, 4619015)  # 11 invalid
    layers["buildings"].loc[1, "storeys"] = 0                       # 12 out of range
    layers["parcels"].loc[3, "geometry"] = shapely.affinity.translate(PARCELS["210112101201JA00001"], 250_000, 0)  # 13 far
    layers["footprints_baseline"].loc[1, "geometry"] = shapely.LineString([(546000, 4619000), (546010, 4619010)])  # 14
    return write_package(root, tables=tables, layers=layers)


def test_bad_package_reports_every_error_and_writes_nothing(conn, tmp_path):
    good = write_package(tmp_path / "good")
    _import(conn, good)                                # an existing project must survive a bad re-import
    before = table_counts(conn)
    bad = _bad_package(tmp_path / "bad")
    with pytest.raises(PackageError) as info:
        _import(conn, bad)
    report = info.value.report()
    issues = info.value.issues
    expected = [
        ("claims.csv", 2, "amount_yuan", "not a number"),
        ("claims.csv", 3, "registered_on", "not a date"),
        ("claims.csv", 4, "household_no", "not found in households"),
        ("claims.csv", 5, "item_kind", "not one of"),
        ("claims.csv", 5, "claim_id", "duplicate key 'C1' (also at row 2)"),
        ("households.csv", 4, "village_code", "not found in villages"),
        ("households.csv", 3, "head_name", "empty value"),
        ("payments.csv", None, "paid_on", "required column paid_on"),
        ("field_photos.csv", 2, "lat", "must be at most 90"),
        ("villages.*", None, None, "required table"),
        ("buildings.geojson", 1, None, "invalid geometry: Self-intersection"),
        ("buildings.geojson", 2, "storeys", "must be at least 1"),
        ("parcels.geojson", 4, None, "km from the project scope"),
        ("footprints_baseline.geojson", 2, None, "a polygon is expected"),
    ]
    for file, row, column, fragment in expected:
        hits = [i for i in issues if i.file == file and i.row == row and i.column == column and fragment in i.message_en]
        assert hits, f"missing issue {file} {row} {column} {fragment!r} in:\n{report}"
    assert len({(i.file, i.row, i.column) for i in issues}) >= 10
    assert table_counts(conn) == before


def test_bad_package_cli_exit_status_and_chinese_report(conn, tmp_path):
    pkg = write_package(tmp_path / "pkg", language="zh")
    claims = (pkg / "claims.csv").read_text(encoding="utf-8").replace("296000.00", "二十九万")
    (pkg / "claims.csv").write_text(claims, encoding="utf-8")
    before = table_counts(conn)
    errors_csv = tmp_path / "errors.csv"
    res = CliRunner().invoke(cli, ["import", str(pkg), "--errors-csv", str(errors_csv)])
    assert res.exit_code == 2, res.output
    assert "claims.csv 第2行 「金额」: 不是数字: '二十九万'" in res.output
    assert "二十九万" in errors_csv.read_text(encoding="utf-8-sig")
    assert table_counts(conn) == before


def test_cli_import_and_reimport_replaces_project(conn, tmp_path):
    toml = PROJECT_TOML.replace('code = "T-001"', 'code = "T-REIMPORT"')
    pkg = write_package(tmp_path / "pkg", project_toml=toml)
    res = CliRunner().invoke(cli, ["import", str(pkg)])
    assert res.exit_code == 0, res.output
    assert "imported project T-REIMPORT" in res.output
    pid = conn.execute(text("SELECT id FROM project WHERE code = 'T-REIMPORT'")).scalar_one()
    # re-import with one household fewer: the project is replaced, same id, counts follow the files
    tables = package_tables()
    tables["claims"] = tables["claims"][tables["claims"].household_no != HOUSEHOLDS[2][0]]
    tables["households"] = tables["households"][tables["households"].household_no != HOUSEHOLDS[2][0]]
    tables["assignments"] = tables["assignments"][tables["assignments"].household_no != HOUSEHOLDS[2][0]]
    layers = package_layers()
    layers["parcels"].loc[layers["parcels"].household_no == HOUSEHOLDS[2][0], "household_no"] = ""
    pkg2 = write_package(tmp_path / "pkg2", tables=tables, layers=layers, project_toml=toml)
    res = CliRunner().invoke(cli, ["import", str(pkg2)])
    assert res.exit_code == 0, res.output
    assert "replaced project T-REIMPORT" in res.output
    assert conn.execute(text("SELECT id FROM project WHERE code = 'T-REIMPORT'")).scalar_one() == pid
    counts = db_counts(conn, pid)
    assert counts["households"] == 2 and counts["claims"] == 3 and counts["assignments"] == 2
    events = conn.execute(text("SELECT action, object_key FROM audit_event WHERE object_key = 'T-REIMPORT' "
                               "ORDER BY seq")).all()
    assert [tuple(e) for e in events] == [("package.import", "T-REIMPORT"), ("package.import", "T-REIMPORT")]


def test_repair_fixes_invalid_geometry_and_reports_it(conn, tmp_path):
    layers = package_layers()
    x, y = 546000 + 5, 4619000 + 15
    layers["buildings"].loc[0, "geometry"] = shapely.Polygon([(x, y), (x + 10, y + 8), (x + 10, y), (x, y + 8)])
    pkg = write_package(tmp_path / "pkg", layers=layers)
    with pytest.raises(PackageError):
        _import(conn, pkg)
    result, validated = import_package(conn, pkg, repair=True)
    assert any("Self-intersection" in note and "buildings.geojson feature 1" in note for note in validated.repairs)
    valid = conn.execute(text("SELECT bool_and(ST_IsValid(geom)) FROM building WHERE project_id = :p"),
                         {"p": result.project_id}).scalar_one()
    assert valid


def test_vector_without_crs_is_refused(conn, tmp_path):
    pkg = write_package(tmp_path / "pkg", vector_format="shpzip")
    archive = pkg / "parcels.zip"
    with zipfile.ZipFile(archive) as zf:
        parts = {n: zf.read(n) for n in zf.namelist() if not n.endswith(".prj")}
    with zipfile.ZipFile(archive, "w") as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    with pytest.raises(PackageError) as info:
        _import(conn, pkg)
    assert any(i.file == "parcels.zip" and "declares no CRS" in i.message_en for i in info.value.issues)


def test_content_not_extension_decides(conn, tmp_path):
    pkg = write_package(tmp_path / "pkg", table_format="xlsx")
    (pkg / "staff.xlsx").write_bytes(b"staff_id,name\nS1,x\n")   # a CSV renamed to .xlsx
    with pytest.raises(PackageError) as info:
        _import(conn, pkg)
    assert any(i.file == "staff.xlsx" and "not an XLSX" in i.message_en for i in info.value.issues)
