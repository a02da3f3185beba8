"""The supervision check on a Dask cluster: area figures with ``gis_core`` on dask-geopandas, registry matching
as Dask dataframe joins, over GeoParquet exported from PostGIS; the hits go back through the same recording.

PostGIS stays the system of record. The engine

1. exports the project's buildings and measured footprints (the phase's source, as the local engine chooses
   it) to GeoParquet, spatially partitioned (Hilbert order, ``dask_geopandas.GeoDataFrame.spatial_shuffle``),
   and the registry extracts the project sees to Parquet (once per extract: extracts never change);
2. computes, on the cluster, each building partition against the footprint partitions whose extents meet it,
   with ``gis_core.areas.building_area_metrics`` (the live geometric engine of this path), plus whether a
   measured flight covers each building and the area-weighted confidence of its imagery footprints; and joins
   the registry with the project's claimants, payees, staff and households (latest row per ID);
3. loads both results into the temporary tables the models read (``pg_temp.expro_area_metrics`` of
   ``supervision.area_metrics`` and ``pg_temp.expro_reg`` of ``supervision.registry_scope``) and runs every
   model as the local engine does: the same SQL turns the figures into hits, evidence and messages, and
   ``supervision.alerts.record_hits`` records them, keeping dispositions. The alert set is the local engine's.

Workers must import ``gis_core`` (install Expro on them) and read the exchange folder (``exchange_dir``, or
``EXPRO_DASK_EXCHANGE``: a path every worker sees, e.g. an NFS mount; a temporary folder by default, enough for
a cluster on this machine).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from supervision.engines import EngineError

log = logging.getLogger("expro.engine.dask")

#: Buildings per spatial partition (footprints are partitioned in as many pieces as the buildings).
BUILDINGS_PER_PARTITION = 50_000

#: The columns of ``pg_temp.expro_area_metrics`` (those of ``expro_building_area_metrics`` and the coverage
#: and confidence ``supervision.area_metrics.ensure`` adds) with their SQL types.
METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("building_id", "bigint"), ("parcel_code", "text"), ("building_no", "text"),
    ("outline_area_m2", "double precision"), ("baseline_area_m2", "double precision"),
    ("baseline_coverage", "double precision"), ("baseline_perimeter_m", "double precision"),
    ("baseline_footprints", "integer"), ("baseline_pixel_size_m", "double precision"),
    ("storeys_claimed", "integer"), ("height_m", "double precision"), ("storeys_from_height", "double precision"),
    ("claimed_floor_area_m2", "double precision"), ("expected_floor_area_m2", "double precision"),
    ("tolerance_m2", "double precision"), ("discrepancy_m2", "double precision"),
    ("discrepancy_pct", "double precision"), ("after_area_m2", "double precision"),
    ("after_coverage", "double precision"), ("after_footprints", "integer"),
    ("baseline_source", "text"), ("after_source", "text"), ("baseline_measured", "boolean"),
    ("after_measured", "boolean"), ("baseline_confidence", "double precision"),
    ("after_confidence", "double precision"),
)
REGISTRY_COLUMNS = ("extract_id", "id_number", "name", "gender", "birth_date", "household_no", "relation_to_head",
                    "village_code", "status", "status_date", "moved_in_on", "split_from_household_no", "split_on")


def REGISTRY_SCHEMA():  # noqa: N802 - a constant built on first use (pyarrow is imported lazily)
    """The Parquet schema of an exported registry extract."""
    import pyarrow as pa

    dates = ("birth_date", "status_date", "moved_in_on", "split_on")
    return pa.schema([(c, pa.int64() if c == "extract_id" else pa.date32() if c in dates else pa.string())
                      for c in REGISTRY_COLUMNS])


@dataclass
class DaskTimings:
    """Seconds spent per step of a Dask check (export, cluster, load, models)."""

    seconds: dict[str, float] = field(default_factory=dict)


def exchange_root(exchange_dir: str | Path | None) -> tuple[Path, bool]:
    """The exchange folder and whether it is a temporary one of this run (removed at the end)."""
    chosen = exchange_dir or os.environ.get("EXPRO_DASK_EXCHANGE")
    if chosen:
        root = Path(chosen)
        root.mkdir(parents=True, exist_ok=True)
        return root, False
    return Path(tempfile.mkdtemp(prefix="expro-dask-")), True


# --- export from PostGIS ------------------------------------------------------------------------------------


def _copy_frame(conn: Connection, sql: str, params: dict, dtypes: dict[str, str]) -> pd.DataFrame:
    """The rows of ``sql`` through ``COPY … TO STDOUT`` (CSV, NULL as ``\\N``), typed by ``dtypes`` (column →
    ``int64``, ``float64``, ``str`` or ``date``; NULL → None / NaN, an empty string stays one)."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise EngineError("no database connection")
    cur = raw.cursor()
    try:
        query = cur.mogrify(sql, params).decode()
        buf = io.BytesIO()
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true, NULL '\\N')", buf)
    finally:
        cur.close()
    buf.seek(0)
    frame = pd.read_csv(buf, dtype=str, keep_default_na=False, na_values=["\\N"])
    for col, kind in dtypes.items():
        values = frame[col]
        if kind == "int64":
            frame[col] = values.astype("int64")
        elif kind == "float64":
            frame[col] = pd.to_numeric(values, errors="raise").astype("float64")
        elif kind == "date":
            frame[col] = pd.Series([None if pd.isna(v) else dt.date.fromisoformat(v) for v in values],
                                   index=frame.index, dtype=object)
        else:
            frame[col] = values.astype(object).where(values.notna(), None)
    return frame


def _spatial_parquet(frame: pd.DataFrame, wkb_hex: str, crs: str, target: Path) -> int:
    """Write ``frame`` (geometry as hex WKB in ``wkb_hex``) as GeoParquet into ``target``, spatially partitioned;
    the number of partitions."""
    import dask
    import dask_geopandas
    import geopandas as gpd
    import shapely

    geoms = shapely.from_wkb(frame[wkb_hex].to_numpy()) if len(frame) else np.array([], dtype=object)
    gdf = gpd.GeoDataFrame(frame.drop(columns=[wkb_hex]), geometry=geoms, crs=crs)
    parts = max(1, int(np.ceil(len(gdf) / BUILDINGS_PER_PARTITION)))
    with dask.config.set(scheduler="threads"):      # the export is local: the cluster only reads it
        ddf = dask_geopandas.from_geopandas(gdf, npartitions=parts)
        if len(gdf) > 1 and parts > 1:
            ddf = ddf.spatial_shuffle(by="hilbert", npartitions=parts)
        ddf.to_parquet(str(target), write_index=False)
    return parts


def _export_area_inputs(conn: Connection, project: dict, root: Path, sources: dict[str, str]) -> dict:
    crs = f"EPSG:{project['srid']}"
    buildings = _copy_frame(conn, """
        SELECT id AS building_id, parcel_code, building_no, storeys, claimed_floor_area_m2::double precision
                   AS claimed_floor_area_m2, encode(ST_AsBinary(geom), 'hex') AS wkb
        FROM building WHERE project_id = %(p)s ORDER BY id""", {"p": project["id"]},
        {"building_id": "int64", "parcel_code": "str", "building_no": "str", "storeys": "int64",
         "claimed_floor_area_m2": "float64", "wkb": "str"})
    out = {"crs": crs, "buildings": len(buildings)}
    _spatial_parquet(buildings, "wkb", crs, root / "buildings")
    for phase, source in sources.items():
        fps = _copy_frame(conn, """
            SELECT id, height_m, pixel_size_m, confidence, encode(ST_AsBinary(geom), 'hex') AS wkb
            FROM footprint WHERE project_id = %(p)s AND phase = %(ph)s AND source = %(s)s ORDER BY id""",
                          {"p": project["id"], "ph": phase, "s": source},
                          {"id": "int64", "height_m": "float64", "pixel_size_m": "float64", "confidence": "float64",
                           "wkb": "str"})
        out[phase] = len(fps)
        _spatial_parquet(fps, "wkb", crs, root / f"footprints_{phase}")
    return out


def _measured_extents(conn: Connection, project: dict, sources: dict[str, str]) -> dict[str, bytes | None]:
    """Per imagery phase, the union of its measured flights' valid extents as WKB (None: none measured)."""
    from supervision.area_metrics import MEASURED_FLIGHTS_SQL

    out: dict[str, bytes | None] = {}
    for phase, source in sources.items():
        if source != "imagery":
            continue
        wkb = conn.execute(text(f"""SELECT ST_AsBinary(ST_Union(mf.footprint)) FROM ({MEASURED_FLIGHTS_SQL}) mf
                                    WHERE mf.phase = :ph"""), {"p": project["id"], "ph": phase}).scalar()
        out[phase] = None if wkb is None else bytes(wkb)
    return out


# --- on the workers -----------------------------------------------------------------------------------------


def _concat(parts: list, crs) -> "object":
    import geopandas as gpd

    frames = [p for p in parts if len(p)]
    if not frames:
        return gpd.GeoDataFrame({"height_m": [], "pixel_size_m": [], "confidence": []},
                                geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)


def _confidence(outlines: np.ndarray, fps) -> np.ndarray:
    """Area-weighted mean confidence (missing: 0) of the footprints meeting each outline; NaN where none does."""
    import shapely

    out = np.full(len(outlines), np.nan)
    if not len(fps) or not len(outlines):
        return out
    geoms = np.asarray(fps.geometry.values, dtype=object)
    oi, fi = shapely.STRtree(geoms).query(outlines, predicate="intersects")
    if not len(oi):
        return out
    w = shapely.area(shapely.intersection(outlines[oi], geoms[fi]))
    c = np.nan_to_num(pd.to_numeric(fps["confidence"], errors="coerce").to_numpy(dtype=float)[fi], nan=0.0)
    num = np.bincount(oi, weights=w * c, minlength=len(outlines))
    den = np.bincount(oi, weights=w, minlength=len(outlines))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return out


def partition_metrics(buildings, baseline_parts: list, after_parts: list, params: dict) -> pd.DataFrame:
    """The area figures of one building partition against the footprint partitions that meet it (a task)."""
    import shapely

    from gis_core.areas import building_area_metrics
    from gis_core.tolerance import Tolerance

    columns = [c for c, _ in METRIC_COLUMNS]
    if not len(buildings):
        return pd.DataFrame({c: pd.Series(dtype=_PANDAS[t]) for c, t in METRIC_COLUMNS})[columns]
    crs = buildings.crs
    baseline, after = _concat(baseline_parts, crs), _concat(after_parts, crs)
    tolerance = Tolerance(a=params["a"], b=params["b"], preset=None, resolution_k=params["k"])
    m = building_area_metrics(buildings, baseline, after, tolerance=tolerance,
                              storey_height_m=params["storey_height_m"])
    outlines = np.asarray(buildings.geometry.values, dtype=object)
    m.insert(0, "building_id", buildings["building_id"].to_numpy())
    m.insert(1, "parcel_code", buildings["parcel_code"].to_numpy())
    m.insert(2, "building_no", buildings["building_no"].to_numpy())
    for phase, frame in (("baseline", baseline), ("after", after)):
        source = params["sources"][phase]
        m[f"{phase}_source"] = source
        if source == "survey":
            m[f"{phase}_measured"] = True
            m[f"{phase}_confidence"] = np.nan
        else:
            extent = params["extents"].get(phase)
            m[f"{phase}_measured"] = (shapely.covers(shapely.from_wkb(extent), outlines) if extent is not None
                                      else np.zeros(len(outlines), dtype=bool))
            m[f"{phase}_confidence"] = _confidence(outlines, frame)
    return m[columns]


_PANDAS = {"bigint": "int64", "integer": "int64", "text": "object", "double precision": "float64",
           "boolean": "bool"}


def latest_per_id(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest extract's row of every ID in ``frame`` (a task on one shuffled partition)."""
    return (frame.sort_values(["id_number", "extract_id"], ascending=[True, False], kind="stable")
            .drop_duplicates("id_number", keep="first"))


# --- the check ----------------------------------------------------------------------------------------------


def area_metrics_on_cluster(client, root: Path, params: dict) -> pd.DataFrame:
    """Every building's figures, one task per building partition with the footprint partitions meeting it."""
    import dask.dataframe as dd
    import dask_geopandas
    from dask import delayed

    buildings = dask_geopandas.read_parquet(str(root / "buildings"))
    phases = {ph: dask_geopandas.read_parquet(str(root / f"footprints_{ph}")) for ph in ("baseline", "after")}

    def regions(ddf):
        sp = ddf.spatial_partitions
        if sp is None:
            ddf.calculate_spatial_partitions()
            sp = ddf.spatial_partitions
        return list(sp)

    b_regions = regions(buildings)
    f_regions = {ph: regions(d) for ph, d in phases.items()}
    f_parts = {ph: d.to_delayed() for ph, d in phases.items()}
    tasks = []
    for i, part in enumerate(buildings.to_delayed()):
        region = b_regions[i]
        meets = {ph: [f_parts[ph][j] for j, r in enumerate(f_regions[ph])
                      if r is not None and region is not None and r.intersects(region)] for ph in phases}
        tasks.append(delayed(partition_metrics)(part, meets["baseline"], meets["after"], params))
    meta = pd.DataFrame({c: pd.Series(dtype=_PANDAS[t]) for c, t in METRIC_COLUMNS})
    result = client.compute(dd.from_delayed(tasks, meta=meta, verify_meta=False)).result()
    return result.sort_values("building_id", kind="stable").reset_index(drop=True)


def _export_registry(conn: Connection, project: dict, root: Path) -> list[Path]:
    """The registry extracts the project sees as Parquet, one folder per extract (written once, then reused)."""
    extracts = conn.execute(text("SELECT id, COALESCE(sha256, '') AS sha, row_count FROM registry_extract "
                                 "WHERE id IN (SELECT extract_id FROM expro_registry_extracts(:p)) ORDER BY id"),
                            {"p": project["id"]}).mappings().all()
    import pyarrow as pa
    import pyarrow.parquet as pq

    folders = []
    dtypes = {"extract_id": "int64", "id_number": "str", "name": "str", "gender": "str", "birth_date": "date",
              "household_no": "str", "relation_to_head": "str", "village_code": "str", "status": "str",
              "status_date": "date", "moved_in_on": "date", "split_from_household_no": "str", "split_on": "date"}
    for ex in extracts:
        folder = root / "registry" / f"extract_{ex['id']}_{ex['row_count']}_{ex['sha'][:16]}"
        if not (folder / "_done").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            frame = _copy_frame(conn, f"SELECT {', '.join(REGISTRY_COLUMNS)} FROM registry_person "
                                      "WHERE extract_id = %(e)s", {"e": ex["id"]}, dtypes)
            for i, start in enumerate(range(0, max(len(frame), 1), 1_000_000)):
                table = pa.Table.from_pandas(frame.iloc[start:start + 1_000_000], schema=REGISTRY_SCHEMA(),
                                             preserve_index=False)
                pq.write_table(table, folder / f"part.{i}.parquet")
            (folder / "_done").write_text("ok")
        folders.append(folder)
    return folders


def registry_on_cluster(client, folders: list[Path], ids: list[str], households: list[str]) -> pd.DataFrame:
    """The latest registry row of every claimant, payee and staff ID, and of every member of the project's
    households or of households split from them: Dask joins over the extracts' Parquet."""
    import dask.dataframe as dd

    if not folders:
        return pd.DataFrame({c: [] for c in REGISTRY_COLUMNS})
    reg = dd.read_parquet([str(p) for f in folders for p in sorted(f.glob("*.parquet"))])
    ids_df = pd.DataFrame({"id_number": sorted(set(ids))})
    hh_df = pd.DataFrame({"household_no": sorted(set(households))})
    by_id = reg.merge(ids_df, on="id_number", how="inner")
    by_hh = reg.merge(hh_df, on="household_no", how="inner")
    by_split = reg.merge(hh_df.rename(columns={"household_no": "split_from_household_no"}),
                         on="split_from_household_no", how="inner")
    hits = dd.concat([by_id, by_hh, by_split])
    latest = hits.shuffle("id_number").map_partitions(latest_per_id, meta=hits._meta)
    return client.compute(latest).result().sort_values("id_number").reset_index(drop=True)


def _copy_in(conn: Connection, table: str, frame: pd.DataFrame, columns: list[str]) -> None:
    raw = conn.connection.driver_connection
    if raw is None:
        raise EngineError("no database connection")
    buf = io.StringIO()
    frame[columns].to_csv(buf, index=False, header=False, na_rep="\\N")
    buf.seek(0)
    cur = raw.cursor()
    try:
        cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
    finally:
        cur.close()


def _install_area_metrics(conn: Connection, project: dict, metrics: pd.DataFrame) -> None:
    """Put the cluster's figures where ``supervision.area_metrics.ensure`` keeps its own (and finds them)."""
    from supervision import area_metrics

    area_metrics.drop(conn)
    table = area_metrics.TABLE
    conn.execute(text(f"CREATE TEMP TABLE {table} ({', '.join(f'{c} {t}' for c, t in METRIC_COLUMNS)})"))
    frame = metrics.copy()
    for col, sql_type in METRIC_COLUMNS:
        if sql_type == "integer":
            frame[col] = frame[col].astype("int64")
        elif sql_type == "boolean":
            frame[col] = frame[col].map({True: "t", False: "f"})
        elif sql_type == "double precision":
            frame[col] = frame[col].map(lambda v: None if v is None or not np.isfinite(v) else repr(float(v)))
    _copy_in(conn, f"pg_temp.{table}", frame, [c for c, _ in METRIC_COLUMNS])
    conn.execute(text(f"CREATE INDEX ON pg_temp.{table} (building_id)"))
    # the cache key of the batch check, in the form of either version of area_metrics.ensure
    conn.execute(text(f"CREATE TEMP TABLE {table}_meta AS SELECT CAST(:p AS bigint) AS project_id, "
                      "CAST(:k AS text) AS scope_key"), {"p": project["id"], "k": str(project["id"])})
    conn.execute(text(f"ANALYZE pg_temp.{table}"))


def _install_registry(conn: Connection, project: dict, rows: pd.DataFrame) -> None:
    """Put the cluster's registry matches where ``supervision.registry_scope.ensure`` keeps its own."""
    from supervision import registry_scope

    registry_scope.drop(conn)
    table = registry_scope.TABLE
    conn.execute(text(f"CREATE TEMP TABLE {table} AS SELECT * FROM registry_person LIMIT 0"))
    frame = rows.copy()
    frame["extract_id"] = frame["extract_id"].astype("int64")
    _copy_in(conn, f"pg_temp.{table}", frame, list(REGISTRY_COLUMNS))
    conn.execute(text(f"ALTER TABLE pg_temp.{table} ADD PRIMARY KEY (id_number)"))
    conn.execute(text(f"CREATE INDEX ON pg_temp.{table} (household_no)"))
    conn.execute(text(f"CREATE TEMP TABLE {table}_meta AS SELECT CAST(:k AS text) AS scope_key"),
                 {"k": f"{project['id']}/"})
    conn.execute(text(f"ANALYZE pg_temp.{table}"))


def compute_inputs(conn: Connection, project: dict, client, root: Path, timings: DaskTimings) -> None:
    """Export, compute on the cluster and install the area figures and registry matches for ``project``."""
    from gis_core.tolerance import Tolerance
    from supervision.area_metrics import footprint_source

    tolerance = Tolerance.from_config(project.get("tolerance"))
    sources = {ph: footprint_source(conn, project["id"], ph) for ph in ("baseline", "after")}
    run_dir = root / f"run-{uuid.uuid4().hex}"
    t = time.perf_counter()
    counts = _export_area_inputs(conn, project, run_dir, sources)
    folders = _export_registry(conn, project, root)
    ids = list(conn.execute(text("""
        SELECT claimant_id_number FROM claim WHERE project_id = :p
        UNION SELECT payee_id_number FROM payment WHERE project_id = :p
        UNION SELECT u.id_number FROM assignment a JOIN app_user u ON u.id = a.user_id
              WHERE a.project_id = :p AND u.id_number IS NOT NULL"""), {"p": project["id"]}).scalars())
    households = list(conn.execute(text("SELECT household_no FROM household WHERE project_id = :p"),
                                   {"p": project["id"]}).scalars())
    timings.seconds["export"] = round(time.perf_counter() - t, 3)
    params = {"a": tolerance.a, "b": tolerance.b, "k": tolerance.resolution_k, "storey_height_m": 3.0,
              "sources": sources, "extents": _measured_extents(conn, project, sources)}
    try:
        t = time.perf_counter()
        metrics = area_metrics_on_cluster(client, run_dir, params)
        timings.seconds["area_metrics"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        registry = registry_on_cluster(client, folders, ids, households)
        timings.seconds["registry"] = round(time.perf_counter() - t, 3)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if len(metrics) != counts["buildings"]:
        raise EngineError(f"the cluster returned {len(metrics)} of {counts['buildings']} buildings")
    t = time.perf_counter()
    _install_area_metrics(conn, project, metrics)
    _install_registry(conn, project, registry)
    timings.seconds["load"] = round(time.perf_counter() - t, 3)


def check(conn: Connection, project_code: str, *, scheduler: str, exchange_dir: str | Path | None = None,
          timings: DaskTimings | None = None):
    """Run every supervision model on the project with the area figures and registry matching computed on the
    Dask cluster at ``scheduler``; a ``supervision.models.CheckResult`` (the local engine's, alert for alert)."""
    from distributed import Client

    from supervision import models
    from supervision.alerts import case_scope
    from supervision.projects import get_project

    if case_scope(conn) is not None:
        raise EngineError("the Dask engine checks whole projects, not one case")
    project = get_project(conn, project_code)
    timings = timings if timings is not None else DaskTimings()
    root, temporary = exchange_root(exchange_dir)
    try:
        try:
            client = Client(scheduler, timeout=os.environ.get("EXPRO_DASK_TIMEOUT", "20s"), set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise EngineError(f"Dask 调度器不可达 / cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            compute_inputs(conn, project, client, root, timings)
        finally:
            client.close()
        t = time.perf_counter()
        result = models.check(conn, project_code)
        timings.seconds["models"] = round(time.perf_counter() - t, 3)
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    log.info("project=%s engine=dask scheduler=%s %s", project_code, scheduler,
             " ".join(f"{k}={v}" for k, v in timings.seconds.items()))
    return result
