"""Loading a validated package into PostGIS: one transaction, COPY into staging, set-based inserts."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text
from tqdm import tqdm

from supervision import audit, cases
from supervision.accounts import ROLE_NAMES_ZH
from supervision.errors import Issue, PackageError
from supervision.package.validate import ValidatedPackage

#: Child tables of a project that hold only package data, deleted (in this order) when the project is
#: re-imported. Re-importing replaces what came from a package and keeps the rest (``PACKAGE_ROWS_SQL``).
PROJECT_DATA_TABLES = ("claim", "payment", "homestead_approval", "assignment", "field_photo", "household",
                       "building", "parcel", "admin_unit", "project_scope", "project_staff")

#: The package's rows of tables that also hold other data, deleted on re-import: its survey footprints
#: (imagery footprints measured on flights are kept), its registry extract (extracts loaded with
#: ``expro registry import --project`` are kept). Orthophotos: see ``reconcile_orthophotos``.
PACKAGE_ROWS_SQL = ("DELETE FROM footprint WHERE project_id = :p AND source = 'survey'",
                    "DELETE FROM registry_extract WHERE project_id = :p AND from_package")

#: Tables whose statistics are refreshed at the end of an import; parcel, building and household are
#: analysed as soon as they are filled, because the later inserts join them (the project registry is
#: a small part of ``registry_person``, looked up by index: left to autoanalyze).
ANALYZED_TABLES = ("project_scope", "admin_unit", "footprint", "claim", "payment", "household_member",
                   "homestead_approval", "project_staff", "assignment", "field_photo")


@dataclass
class LoadResult:
    """What an import wrote."""

    project_id: int
    project_code: str
    replaced: bool
    row_counts: dict[str, int]
    #: files of catalogue rows this import removed: delete them once the transaction has committed
    #: (``service.remove_unreferenced``), never before
    obsolete_files: list[str] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)     # what a re-import kept that the package did not bring


def multipolygon_ewkb(values: np.ndarray, srid: int) -> np.ndarray:
    """Polygons or multipolygons as MultiPolygon hex EWKB with ``srid`` (vectorised)."""
    parts, index = shapely.get_parts(values, return_index=True)
    multis = np.empty(len(values), dtype=object)
    multis[:] = shapely.multipolygons(parts, indices=index, out=None) if len(parts) else []
    return shapely.to_wkb(shapely.set_srid(multis, srid), hex=True, include_srid=True)


def point_ewkb(values: np.ndarray, srid: int) -> np.ndarray:
    """Points as hex EWKB with ``srid``."""
    return shapely.to_wkb(shapely.set_srid(values, srid), hex=True, include_srid=True)


def _as_text(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            out = series.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        else:
            out = series.dt.strftime("%Y-%m-%d")
        return out.where(series.notna(), None)
    if pd.api.types.is_float_dtype(series):
        return series.map(lambda v: None if pd.isna(v) else repr(float(v)))
    return series.astype(object).where(series.astype(str) != "", None)


def csv_buffer(frame: pd.DataFrame) -> io.StringIO:
    """``frame`` as the CSV text ``copy_csv`` sends (no header, NULL as ``\\N``), rewound."""
    out = pd.DataFrame({c: _as_text(frame[c]) for c in frame.columns})
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False, na_rep="\\N")
    buf.seek(0)
    return buf


def copy_csv(conn: Connection, table: str, columns: list[str], buf: io.StringIO) -> None:
    """COPY the CSV text of ``csv_buffer`` into ``columns`` of ``table``."""
    cols = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the connection is closed")
    cursor = raw.cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
    finally:
        cursor.close()


def copy_frame(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` (columns named as in the table) into ``table``; returns rows copied."""
    if frame.empty:
        return 0
    copy_csv(conn, table, list(frame.columns), csv_buffer(frame))
    return len(frame)


def stage(conn: Connection, name: str, frame: pd.DataFrame) -> str:
    """A temporary all-text table ``stg_<name>`` holding ``frame``; returns its name."""
    table = f"stg_{name}"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    cols = ", ".join(f'"{c}" text' for c in frame.columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {table} ({cols})")
    copy_frame(conn, table, frame)
    conn.exec_driver_sql(f"ANALYZE {table}")
    return table


def _drop_staging(conn: Connection, names: list[str]) -> None:
    for name in names:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def staff_conflicts(conn: Connection, pkg: ValidatedPackage) -> list[Issue]:
    """Staff rows that name an existing account with another role or another ID number.

    An import never changes an account's role, password or identity: such a row is an error of the
    package (its file, row and column), found before anything is written.
    """
    staff = pkg.tables.get("staff")
    if staff is None or staff.empty:
        return []
    rows = conn.execute(text("SELECT username, role, id_number FROM app_user WHERE username = ANY(:u)"),
                        {"u": list(staff["staff_id"])}).all()
    accounts = {r.username: r for r in rows}
    issues = []
    for pos, (staff_id, role, id_number) in enumerate(zip(staff["staff_id"], staff["role"], staff["id_number"])):
        account = accounts.get(staff_id)
        if account is None:
            continue
        if role != account.role:
            issues.append(pkg.issue(
                "staff", pos, "role",
                f"{staff_id} is an existing account with role {account.role}; an import cannot change it to {role} "
                "(an admin changes roles with expro user add)",
                f"{staff_id} 是已有账号, 角色为{ROLE_NAMES_ZH[account.role]}({account.role}), 导入不能改为"
                f"{ROLE_NAMES_ZH.get(role, role)}({role}); 角色只能由管理员修改"))
        given = str(id_number).strip().upper()
        if given and account.id_number and given != account.id_number.strip().upper():
            issues.append(pkg.issue(
                "staff", pos, "id_number",
                f"{staff_id} is an existing account of another person (another ID number); an import cannot "
                "change an account's identity",
                f"{staff_id} 是已有账号, 身份证号不同(另一人); 导入不能更改账号身份"))
    return issues


def load_package(conn: Connection, pkg: ValidatedPackage, *, actor: str = "system",
                 progress: bool | None = None) -> LoadResult:
    """Write ``pkg`` on ``conn`` (the caller owns the transaction); replaces a project of the same code."""
    p = pkg.project
    t = pkg.tables
    g = pkg.geometries
    srid = p.srid
    total = sum(pkg.row_counts().values())
    bar = tqdm(total=total, desc=f"import {p.code}", unit="row", disable=(not progress) if progress is not None
               else (total < 50_000 or None))
    staged: list[str] = []

    def done(n: int) -> None:
        bar.update(n)

    existing = conn.execute(text("SELECT id FROM project WHERE code = :c"), {"c": p.code}).scalar()
    conflicts = staff_conflicts(conn, pkg) + orthophoto_conflicts(conn, pkg, existing)
    if conflicts:
        raise PackageError(conflicts)
    if existing is not None:
        for table in PROJECT_DATA_TABLES:
            conn.execute(text(f"DELETE FROM {table} WHERE project_id = :p"), {"p": existing})
        for sql in PACKAGE_ROWS_SQL:
            conn.execute(text(sql), {"p": existing})
    project_id = conn.execute(text("""
        INSERT INTO project (code, name, county_code, srid, pre_announcement_date, announcement_date,
                             tolerance, rules, case_config, imported_at)
        VALUES (:code, :name, :county, :srid, :freeze, :ann, CAST(:tol AS jsonb), CAST(:rules AS jsonb),
                CAST(:cases AS jsonb), now())
        ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, county_code = EXCLUDED.county_code,
            srid = EXCLUDED.srid, pre_announcement_date = EXCLUDED.pre_announcement_date,
            announcement_date = EXCLUDED.announcement_date, tolerance = EXCLUDED.tolerance,
            rules = EXCLUDED.rules, case_config = EXCLUDED.case_config, imported_at = now()
        RETURNING id"""), {"code": p.code, "name": p.name, "county": p.county_code, "srid": srid,
                           "freeze": p.pre_announcement_date, "ann": p.announcement_date,
                           "tol": json.dumps(p.tolerance), "rules": json.dumps(p.rules),
                           "cases": json.dumps(p.case_config, default=str)}).scalar_one()
    params = {"p": project_id}

    scope = shapely.union_all(np.asarray(g["scope"].values))
    conn.execute(text("INSERT INTO project_scope (project_id, geom) VALUES (:p, ST_Multi(CAST(:g AS geometry)))"),
                 {"p": project_id, "g": multipolygon_ewkb(np.array([scope], dtype=object), srid)[0]})
    done(len(g["scope"]))

    # administrative units: county > townships > villages
    villages = t["villages"].copy()
    villages["township_code"] = np.where(villages["village_code"].str.fullmatch(r"\d{12}"),
                                         villages["village_code"].str[:9], villages["township_name"])
    staged.append(stage(conn, "village", villages))
    conn.execute(text("""
        WITH county AS (
            INSERT INTO admin_unit (project_id, level, code, name) VALUES (:p, 'county', :county, :county)
            RETURNING id),
        town AS (
            INSERT INTO admin_unit (project_id, level, code, name, parent_id)
            SELECT DISTINCT ON (township_code) :p, 'township', township_code, township_name, (SELECT id FROM county)
            FROM stg_village ORDER BY township_code
            RETURNING id, code)
        INSERT INTO admin_unit (project_id, level, code, name, parent_id)
        SELECT :p, 'village', v.village_code, v.village_name, town.id
        FROM stg_village v JOIN town ON town.code = v.township_code"""), {**params, "county": p.county_code})
    done(len(villages))

    parcels = t["parcels"].assign(project_id=project_id, geom=multipolygon_ewkb(g["parcels"].values, srid))
    for col in ("household_no", "certificate_no"):
        parcels[col] = parcels[col].where(parcels[col] != "", None)
    done(copy_frame(conn, "parcel", parcels[["project_id", "parcel_code", "village_code", "land_class",
                                             "household_no", "certificate_no", "geom"]]))
    conn.exec_driver_sql("ANALYZE parcel")      # joined below: plan for its new rows, not its old contents

    if "buildings" in t:
        b = t["buildings"].assign(geom=multipolygon_ewkb(g["buildings"].values, srid))
        staged.append(stage(conn, "building", b))
        conn.execute(text("""
            INSERT INTO building (project_id, parcel_id, parcel_code, building_no, structure_type, storeys,
                                  claimed_floor_area_m2, geom)
            SELECT :p, pa.id, s.parcel_code, s.building_no, s.structure_type, CAST(s.storeys AS double precision)::int,
                   CAST(s.claimed_floor_area_m2 AS numeric), CAST(s.geom AS geometry)
            FROM stg_building s JOIN parcel pa ON pa.project_id = :p AND pa.parcel_code = s.parcel_code"""), params)
        conn.exec_driver_sql("ANALYZE building")
        done(len(b))

    for phase in ("baseline", "after"):
        base = f"footprints_{phase}"
        if base in t:
            f = t[base]
            frame = pd.DataFrame({"project_id": project_id, "phase": phase, "source": "survey",
                                  "footprint_id": f["footprint_id"], "height_m": f["height_m"],
                                  "geom": multipolygon_ewkb(g[base].values, srid)})
            done(copy_frame(conn, "footprint", frame))

    h = t["households"].assign(project_id=project_id)
    done(copy_frame(conn, "household", h[["project_id", "household_no", "village_code", "head_id_number",
                                          "head_name"]]))
    conn.exec_driver_sql("ANALYZE household")

    if "registry" in t:
        reg = t["registry"]
        extract_id = conn.execute(text(
            "INSERT INTO registry_extract (project_id, source_name, row_count, from_package) "
            "VALUES (:p, :n, :c, true) RETURNING id"),
            {**params, "n": pkg.files.get("registry", "registry"), "c": len(reg)}).scalar_one()
        frame = reg.assign(extract_id=extract_id)
        for col in ("gender", "household_no", "relation_to_head", "village_code", "split_from_household_no"):
            frame[col] = frame[col].where(frame[col] != "", None)
        done(copy_frame(conn, "registry_person", frame[[
            "extract_id", "id_number", "name", "gender", "birth_date", "household_no", "relation_to_head",
            "village_code", "status", "status_date", "moved_in_on", "split_from_household_no", "split_on"]]))

    staged.append(stage(conn, "claim", t["claims"]))
    conn.execute(text("""
        INSERT INTO claim (project_id, claim_id, household_id, household_no, claimant_id_number, claimant_name,
                           parcel_id, parcel_code, building_no, building_id, item_kind, quantity, unit,
                           unit_price_yuan, amount_yuan, registered_on, case_type)
        SELECT :p, s.claim_id, h.id, s.household_no, s.claimant_id_number, s.claimant_name, pa.id, s.parcel_code,
               NULLIF(s.building_no, ''), b.id, s.item_kind, CAST(s.quantity AS numeric), s.unit,
               CAST(s.unit_price_yuan AS numeric), CAST(s.amount_yuan AS numeric), CAST(s.registered_on AS date),
               s.case_type
        FROM stg_claim s
        JOIN household h ON h.project_id = :p AND h.household_no = s.household_no
        JOIN parcel pa ON pa.project_id = :p AND pa.parcel_code = s.parcel_code
        LEFT JOIN building b ON b.project_id = :p AND b.parcel_code = s.parcel_code
                            AND b.building_no = NULLIF(s.building_no, '')"""), params)
    done(len(t["claims"]))

    if "payments" in t:
        staged.append(stage(conn, "payment", t["payments"]))
        conn.execute(text("""
            INSERT INTO payment (project_id, payment_id, household_id, household_no, payee_id_number, payee_name,
                                 amount_yuan, paid_on, agreement_no)
            SELECT :p, s.payment_id, h.id, s.household_no, s.payee_id_number, s.payee_name,
                   CAST(s.amount_yuan AS numeric), CAST(s.paid_on AS date), NULLIF(s.agreement_no, '')
            FROM stg_payment s JOIN household h ON h.project_id = :p AND h.household_no = s.household_no"""), params)
        done(len(t["payments"]))

    conn.execute(text("""
        INSERT INTO household_member (household_id, id_number, name, role)
        SELECT DISTINCT ON (household_id, id_number, role) household_id, id_number, name, role FROM (
            SELECT id AS household_id, head_id_number AS id_number, head_name AS name, 'head' AS role
              FROM household WHERE project_id = :p
            UNION ALL
            SELECT household_id, claimant_id_number, claimant_name, 'claimant' FROM claim WHERE project_id = :p
            UNION ALL
            SELECT household_id, payee_id_number, payee_name, 'payee' FROM payment WHERE project_id = :p
        ) m ORDER BY household_id, id_number, role, name"""), params)

    if "homestead_approvals" in t:
        staged.append(stage(conn, "approval", t["homestead_approvals"]))
        conn.execute(text("""
            INSERT INTO homestead_approval (project_id, approval_no, household_no, parcel_id, parcel_code, approved_on)
            SELECT :p, s.approval_no, NULLIF(s.household_no, ''), pa.id, s.parcel_code, CAST(s.approved_on AS date)
            FROM stg_approval s JOIN parcel pa ON pa.project_id = :p AND pa.parcel_code = s.parcel_code"""), params)
        done(len(t["homestead_approvals"]))

    if "staff" in t:
        staged.append(stage(conn, "staff", t["staff"]))
        # new accounts have no password (they cannot sign in until an admin sets one); an existing
        # account keeps its name, role, password and state: only a missing ID number is filled in
        # (``staff_conflicts`` refused every row that contradicts an existing account)
        conn.execute(text("""
            INSERT INTO app_user (username, name, id_number, role)
            SELECT staff_id, name, NULLIF(id_number, ''), role FROM stg_staff
            ON CONFLICT (username) DO UPDATE SET id_number = EXCLUDED.id_number
            WHERE app_user.id_number IS NULL AND EXCLUDED.id_number IS NOT NULL"""))
        conn.execute(text("""
            INSERT INTO project_staff (project_id, user_id, supervisor_user_id)
            SELECT :p, u.id, sup.id FROM stg_staff s JOIN app_user u ON u.username = s.staff_id
            LEFT JOIN app_user sup ON sup.username = NULLIF(s.supervisor_staff_id, '')"""), params)
        done(len(t["staff"]))

    if "assignments" in t:
        staged.append(stage(conn, "assignment", t["assignments"]))
        conn.execute(text("""
            INSERT INTO assignment (project_id, household_id, stage, user_id)
            SELECT :p, h.id, s.stage, u.id FROM stg_assignment s
            JOIN household h ON h.project_id = :p AND h.household_no = s.household_no
            JOIN app_user u ON u.username = s.staff_id"""), params)
        done(len(t["assignments"]))

    if "field_photos" in t:
        photos = t["field_photos"].assign(geom=point_ewkb(g["field_photos"].values, srid))
        staged.append(stage(conn, "photo", photos))
        conn.execute(text("""
            INSERT INTO field_photo (project_id, photo_id, household_id, stage, taken_at, lon, lat, geom)
            SELECT :p, s.photo_id, h.id, NULLIF(s.stage, ''), CAST(s.taken_at AS timestamptz),
                   CAST(s.lon AS double precision), CAST(s.lat AS double precision), CAST(s.geom AS geometry)
            FROM stg_photo s JOIN household h ON h.project_id = :p AND h.household_no = s.household_no"""), params)
        done(len(photos))

    restored_payments = cases.restore_api_payments(conn, project_id) if existing is not None else 0
    opened = cases.open_cases(conn, {"id": project_id, "code": p.code, "case_config": p.case_config})

    obsolete = reconcile_orthophotos(conn, project_id, pkg)
    if "orthophotos" in t:
        done(len(t["orthophotos"]))

    _drop_staging(conn, staged)
    # The checks usually run right after an import: give the planner the new rows' statistics now
    # (autoanalyze comes later), or it plans the set-based checks for the tables' previous contents
    # (the same reason for the ANALYZE of each table that a later insert joins, and of each staging table).
    for table in ANALYZED_TABLES:
        conn.exec_driver_sql(f"ANALYZE {table}")
    counts = pkg.row_counts()
    kept = kept_counts(conn, project_id) if existing is not None else {}
    audit.append(conn, actor=actor, action="package.import", object_type="project", object_key=p.code,
                 details={"replaced": existing is not None, "row_counts": counts, "files": pkg.files,
                          "repairs": pkg.repairs, "kept": kept, "cases": opened,
                          "api_payments_restored": restored_payments})
    bar.close()
    return LoadResult(project_id=project_id, project_code=p.code, replaced=existing is not None, row_counts=counts,
                      obsolete_files=obsolete, kept=kept)


def kept_counts(conn: Connection, project_id: int) -> dict[str, int]:
    """What the project holds that no package brought: registry extracts, ingested flights, their products."""
    row = conn.execute(text("""
        SELECT (SELECT count(*) FROM registry_extract WHERE project_id = :p AND NOT from_package) AS registry_extracts,
               (SELECT count(*) FROM orthophoto WHERE project_id = :p AND status = 'ingested') AS ingested_flights,
               (SELECT count(*) FROM footprint WHERE project_id = :p AND source = 'imagery') AS imagery_footprints,
               (SELECT count(*) FROM change_fraction WHERE project_id = :p) AS change_results"""),
        {"p": project_id}).mappings().one()
    return {k: int(v) for k, v in row.items() if v}


def orthophoto_conflicts(conn: Connection, pkg: ValidatedPackage, project_id: int | None) -> list[Issue]:
    """Package flights already ingested into the project as the other phase (an error of that row)."""
    if project_id is None or not pkg.orthophotos:
        return []
    ingested = {r.sha256: r for r in conn.execute(text(
        "SELECT id, sha256, phase FROM orthophoto WHERE project_id = :p AND status = 'ingested'"),
        {"p": project_id})}
    issues = []
    for pos, o in enumerate(pkg.orthophotos):
        row = ingested.get(o.sha256)
        if row is not None and row.phase != o.phase:
            issues.append(pkg.issue("orthophotos", pos, "phase",
                                    f"{o.file} is already ingested as the {row.phase} flight (orthophoto {row.id})",
                                    f"{o.file} 已作为{'征收前' if row.phase == 'baseline' else '征收后'}影像入库"
                                    f"(影像 {row.id})"))
    return issues


def reconcile_orthophotos(conn: Connection, project_id: int, pkg: ValidatedPackage) -> list[str]:
    """Catalogue the package's flights, keeping the rows (and ingested COGs, footprints, change) of the same files.

    A flight whose file (SHA-256) is already in the project keeps its row, with the package's capture date;
    the other flights are added. Rows that only catalogued an earlier package's file (never ingested) and
    that the package no longer lists are removed; their source paths are returned, for the caller to delete
    after the commit when nothing references them any more. Ingested flights are always kept.
    """
    rows = conn.execute(text("SELECT id, sha256, phase, status FROM orthophoto WHERE project_id = :p "
                             "ORDER BY (status = 'ingested') DESC, id"), {"p": project_id}).all()
    by_sha: dict[tuple[str, str], int] = {}
    for r in rows:
        by_sha.setdefault((r.sha256, r.phase), r.id)
    kept: list[int] = []
    srid = pkg.project.srid
    for o in pkg.orthophotos:
        params = {"p": project_id, "phase": o.phase, "cap": o.captured_on, "path": str(o.path), "sha": o.sha256}
        match = by_sha.get((o.sha256, o.phase))
        if match is not None and match not in kept:
            conn.execute(text("""
                UPDATE orthophoto SET captured_on = :cap, from_package = true,
                       source_path = CASE WHEN status = 'catalogued' THEN :path ELSE source_path END
                WHERE id = :id"""), {**params, "id": match})
            kept.append(match)
            continue
        kept.append(conn.execute(text("""
            INSERT INTO orthophoto (project_id, phase, captured_on, source_path, sha256, size_bytes, width_px,
                                    height_px, band_count, dtype, crs, resolution_m, footprint, from_package)
            VALUES (:p, :phase, :cap, :path, :sha, :size, :w, :h, :bands, :dtype, :crs, :res,
                    ST_Multi(ST_SetSRID(ST_GeomFromWKB(:fp), :srid)), true)
            RETURNING id"""),
            {**params, "size": o.size_bytes, "w": o.width_px, "h": o.height_px, "bands": o.band_count,
             "dtype": o.dtype, "crs": o.crs, "res": o.resolution_m, "fp": o.footprint_wkb, "srid": srid}).scalar_one())
    removed = conn.execute(text("""
        DELETE FROM orthophoto WHERE project_id = :p AND from_package AND status = 'catalogued'
          AND NOT (id = ANY(CAST(:kept AS bigint[])))
        RETURNING source_path"""), {"p": project_id, "kept": kept}).scalars().all()
    return list(removed)
