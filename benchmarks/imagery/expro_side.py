"""Measured steps on Expro's side, each run in a fresh process by run.py; prints one JSON line.

    expro_side.py ingest PROJECT_ID TIF STORE_DIR    ingest_orthophoto, committed; wall time, VmHWM
    expro_side.py pyramid COG                         imagery.pyramid.build_pyramid; wall time, VmHWM, size
    expro_side.py zonal TIF BUILDINGS.geojson OUT.npz [--check-px N]
                                                     zonal mean/count (the technique of imagery.change)
    expro_side.py pix4d PROJECT_ID TIF STORE_DIR     ingest the real drone orthomosaic, committed
    expro_side.py naip DATA_DIR WORK_DIR             the NAIP 2009/2020 change map (rolled back)
    expro_side.py alexandria DATA_DIR                footprints from the height-above-ground raster
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import shapely  # noqa: E402


def peak_memory() -> dict:
    """VmHWM (peak resident set) of this process from /proc, and ru_maxrss, in MB."""
    hwm = None
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return {"vmhwm_mb": hwm, "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def ingest(project_id: int, tif: str, store: str, phase: str = "baseline") -> dict:
    """Ingest one orthophoto in its own committed transaction."""
    from expro import db
    from imagery.catalogue import get_orthophoto
    from imagery.ingest import ingest_orthophoto

    engine = db.get_engine()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        oid = ingest_orthophoto(conn, tif, project_id=project_id, phase=phase, captured_on=dt.date(2025, 2, 20),
                                store_dir=store)
    seconds = time.perf_counter() - t0
    with engine.connect() as conn:
        ortho = get_orthophoto(conn, oid, ingested=True)
    return {"ortho_id": oid, "seconds": seconds, "source_bytes": ortho["size_bytes"],
            "cog_bytes": ortho["cog_size_bytes"], "cog_path": ortho["cog_path"], "width": ortho["width_px"],
            "height": ortho["height_px"], "bands": ortho["band_count"], "resolution_m": ortho["resolution_m"],
            **peak_memory()}


def pyramid(cog: str) -> dict:
    """Build the Web-Mercator pyramid of a COG (what the tile route reads without warping)."""
    import rasterio

    from imagery.pyramid import build_pyramid

    t0 = time.perf_counter()
    path = build_pyramid(cog)
    seconds = time.perf_counter() - t0
    with rasterio.open(path) as ds:
        levels, width, height = len(ds.overviews(1)) + 1, ds.width, ds.height
        base_zoom = int(ds.tags(ns="TILING_SCHEME").get("ZOOM_LEVEL", -1))
    return {"seconds": seconds, "path": str(path), "bytes": path.stat().st_size, "levels": levels,
            "width": width, "height": height, "base_zoom": base_zoom, **peak_memory()}


def load_geojson(path: str) -> np.ndarray:
    """The polygons of a GeoJSON file (coordinates as they are: the raster's CRS)."""
    features = json.loads(Path(path).read_text())["features"]
    return np.array([shapely.geometry.shape(f["geometry"]) for f in features], dtype=object)


def zonal(tif: str, buildings: str, out: str, check_px: int = 0) -> dict:
    """Zonal mean and count of band 1 per building, Expro's way; optionally prove the transcription."""
    from zonal import check_against_compare, zonal_mean_count

    geoms = load_geojson(buildings)
    t0 = time.perf_counter()
    mean, count = zonal_mean_count(tif, geoms)
    seconds = time.perf_counter() - t0
    np.savez(out, mean=mean, count=count)
    result = {"buildings": len(geoms), "seconds": seconds, "buildings_per_s": len(geoms) / seconds,
              **peak_memory()}  # the peak of the timed loop alone: measured before the check runs
    if check_px:
        result["check_against_compare"] = check_against_compare(tif, geoms, check_px)
    return result


def pix4d(project_id: int, tif: str, store: str) -> dict:
    """The real drone orthomosaic: ingest (committed, so that the tile server can serve it) and its zooms."""
    from imagery.tiles import zoom_range

    out = ingest(project_id, tif, store)
    out["zoom_range"] = list(zoom_range(out["cog_path"]))
    return out


def naip(data_dir: str, work_dir: str) -> dict:
    """NAIP 2009 -> 2020 as tests/imagery/test_change.py does it, in a transaction rolled back."""
    import rasterio
    from sqlalchemy import text

    from expro import db
    from imagery.change import ChangeParams, compare_orthophotos
    from imagery.ingest import ingest_orthophoto

    data, work = Path(data_dir), Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    with db.get_engine().connect() as conn:
        trans = conn.begin()
        try:
            with rasterio.open(data / "naip_nd_2009.tif") as src:
                srid, bounds = src.crs.to_epsg(), src.bounds
            pid = conn.execute(text("""
                INSERT INTO project (code, name, county_code, srid, pre_announcement_date)
                VALUES ('BENCH-IMG-NAIP', 'BENCH-IMG-NAIP', '210112', :s, DATE '2020-01-01') RETURNING id"""),
                {"s": srid}).scalar_one()
            conn.execute(text("INSERT INTO project_scope (project_id, geom) "
                              "VALUES (:p, ST_Multi(ST_SetSRID(ST_GeomFromWKB(:g), :s)))"),
                         {"p": pid, "g": shapely.to_wkb(shapely.box(*bounds)), "s": srid})
            t0 = time.perf_counter()
            ids = [ingest_orthophoto(conn, data / f"naip_nd_{year}.tif", project_id=pid, phase=phase,
                                     captured_on=dt.date(year, 8, 18), store_dir=work / "store")
                   for year, phase in ((2009, "baseline"), (2020, "after"))]
            t1 = time.perf_counter()
            summary = compare_orthophotos(conn, *ids, params=ChangeParams(smooth_px=3),
                                          map_path=work / "naip_change.tif")
            t2 = time.perf_counter()
        finally:
            trans.rollback()
    with rasterio.open(work / "naip_change.tif") as m:
        change = m.read(1)
    observed = change != 255
    return {"grid_px": [summary.grid.width, summary.grid.height], "resolution_m": summary.grid.resolution_m,
            "observed_share_of_grid": float(observed.mean()), "changed_share": summary.changed_share,
            "changed_ha": summary.changed_px * summary.grid.resolution_m ** 2 / 1e4,
            "gains": [round(g, 3) for g in summary.gains], "offsets": [round(o, 1) for o in summary.offsets],
            "ingest_seconds": t1 - t0, "compare_seconds": t2 - t1, "map": str(work / "naip_change.tif")}


def alexandria(data_dir: str) -> dict:
    """Footprints from the 2 m height-above-ground raster against the 84 labelled buildings, scored exactly as
    tests/imagery/test_footprints.py scores them."""
    import geopandas as gpd
    import rasterio

    from gis_core.crs import require_projected
    from imagery.footprints import extract_footprints, score_footprints
    from imagery.segment import SegmentParams

    data = Path(data_dir)
    hag = data / "elev_alexandria_hag.tif"
    t0 = time.perf_counter()
    found = extract_footprints(height_path=hag, params=SegmentParams(min_area_m2=20.0, min_rectangularity=0.5))
    seconds = time.perf_counter() - t0
    with rasterio.open(hag) as src:
        labels = gpd.read_file(data / "elev_alexandria_buildings.geojson").to_crs(src.crs)
        shape, transform = (src.height, src.width), src.transform
    require_projected(labels)
    truth = labels.geometry.to_numpy()
    labelled_area = shapely.convex_hull(shapely.union_all(truth))
    measured = np.array([f.geometry for f in found if labelled_area.contains(f.geometry.centroid)], dtype=object)
    score = score_footprints(measured, truth, shape=shape, transform=transform)
    return {"labels": len(truth), "found_total": len(found), "found_in_labelled_area": len(measured),
            "recall": score["recall"], "precision": score["precision"], "median_iou": score["median_iou"],
            "median_iou_of_found": score["median_iou_of_measured"], "pixel_precision": score["pixel_precision"],
            "pixel_recall": score["pixel_recall"], "pixel_iou": score["pixel_iou"], "seconds": seconds}


def main() -> None:
    """Dispatch on the first argument; print the result as one JSON line."""
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "ingest":
        result = ingest(int(args[0]), args[1], args[2])
    elif mode == "pyramid":
        result = pyramid(args[0])
    elif mode == "zonal":
        check = int(args[args.index("--check-px") + 1]) if "--check-px" in args else 0
        result = zonal(args[0], args[1], args[2], check)
    elif mode == "pix4d":
        result = pix4d(int(args[0]), args[1], args[2])
    elif mode == "naip":
        result = naip(args[0], args[1])
    elif mode == "alexandria":
        result = alexandria(args[0])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
