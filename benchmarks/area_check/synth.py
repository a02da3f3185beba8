"""A synthetic project of N buildings written straight into PostGIS (numpy + shapely + COPY).

Not the district generator (too slow and too large at a million buildings): a grid of homestead
parcels near x=546000, y=4619000 (EPSG:4550), each with one or two buildings, and just the rows the
four area rules read (DATA_FORMATS §4): parcels, buildings, baseline and after survey footprints,
households, building claims, payments and the scope. What is planted, per building:

* baseline footprint = the claimed outline buffered 0.3 m (mitre) for most buildings; 2% split in two
  overlapping halves (the union path); 1% only part of the outline (40-80%: an extension built after
  the freeze, so AREA_INFLATED); 0.3% a sliver (< 20%) and 1.7% none at all (NOT_AT_BASELINE);
* claimed floor area = outline area × claimed storeys within ±0.5% (inside the class-3 tolerance),
  inflated by 10-60% for 1.5% of the buildings (AREA_INFLATED);
* after footprints: 90% of the buildings of unpaid households still stand, 3% of the paid ones too
  (NOT_DEMOLISHED); 15% of the after footprints are remnants covering < 45% (no alert);
* 97% of the households claim their buildings, 75% of those are paid; the first K parcels of the
  bottom row lie 70% outside the scope (OUTSIDE_SCOPE).

``planted()`` returns the alert sets this plan implies (a sanity check of the generator, not of the rules).
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from bench_cleanup import delete_projects
from supervision.package.load import multipolygon_ewkb

SRID = 4550
X0, Y0 = 546_000.0, 4_619_000.0
CELL_W, CELL_H = 34.0, 24.0           # parcel grid cell; parcel = cell inset by 1 m
PARCEL_W, PARCEL_H = 32.0, 22.0
OUTSIDE_INSIDE_FRACTION = 0.30        # the planted OUTSIDE_SCOPE parcels
CHUNK = 200_000


@dataclass
class Synthetic:
    """What was written: the project, row counts and the planted alert sets."""

    code: str
    project_id: int
    rows: dict[str, int] = field(default_factory=dict)
    planted: dict[str, set[str]] = field(default_factory=dict)
    seconds: float = 0.0


def _copy(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` into ``table`` in chunks (CSV, NULL as \\N)."""
    cols = ", ".join(frame.columns)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        for lo in range(0, len(frame), CHUNK):
            buf = io.StringIO()
            frame.iloc[lo:lo + CHUNK].to_csv(buf, index=False, header=False, na_rep="\\N")
            buf.seek(0)
            cursor.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
    finally:
        cursor.close()
    return len(frame)


def _ids(conn: Connection, table: str, n: int) -> np.ndarray:
    """``n`` fresh ids from ``table``'s sequence (safe with concurrent writers)."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    rows = conn.execute(text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
                        {"n": n}).scalars().all()
    return np.asarray(rows, dtype=np.int64)


def _rects(cx: np.ndarray, cy: np.ndarray, length: np.ndarray, depth: np.ndarray, angle: np.ndarray,
           start: np.ndarray | None = None, stop: np.ndarray | None = None) -> np.ndarray:
    """Rotated rectangles (vectorised): centre, length along the axis, depth, angle; optionally only the
    part between fractions ``start`` and ``stop`` of the length."""
    n = len(cx)
    start = np.zeros(n) if start is None else start
    stop = np.ones(n) if stop is None else stop
    u0 = (start - 0.5) * length
    u1 = (stop - 0.5) * length
    v0, v1 = -depth / 2, depth / 2
    us = np.stack([u0, u1, u1, u0, u0], axis=1)
    vs = np.stack([v0, v0, v1, v1, v0], axis=1)
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    xs = cx[:, None] + us * c - vs * s
    ys = cy[:, None] + us * s + vs * c
    return shapely.polygons(np.stack([xs, ys], axis=2))


def build(conn: Connection, code: str, n_buildings: int, seed: int = 42) -> Synthetic:
    """Write a project of ``n_buildings`` buildings under ``code`` (replacing one of that code); commit is the caller's."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    delete_projects(conn, code)

    # parcels: 1 or 2 buildings each, exactly n_buildings in total
    per = rng.choice([1, 2], size=n_buildings)
    cum = np.cumsum(per)
    n_parcels = int(np.searchsorted(cum, n_buildings) + 1)
    per = per[:n_parcels]
    per[-1] -= int(cum[n_parcels - 1] - n_buildings)
    cols = int(np.ceil(np.sqrt(n_parcels * CELL_H / CELL_W)))
    rows = int(np.ceil(n_parcels / cols))
    pi = np.arange(n_parcels)
    px0 = X0 + (pi % cols) * CELL_W + 1.0
    py0 = Y0 + (pi // cols) * CELL_H + 1.0
    parcel_geom = shapely.box(px0, py0, px0 + PARCEL_W, py0 + PARCEL_H)
    village = (pi // cols) // 40 * 1000 + (pi % cols) // 40            # 40 × 40 parcel blocks
    village_code = np.char.add("2101121", np.char.zfill((village % 100_000).astype(str), 5))
    parcel_code = np.char.add(np.char.add(village_code, "J"), np.char.zfill(pi.astype(str), 7)).astype(object)
    household_no = np.char.add("H", np.char.zfill(pi.astype(str), 8)).astype(object)

    # scope: the grid, minus a notch leaving the first k parcels of the bottom row 30% inside
    k_out = max(5, n_parcels // 5000)
    notch_y = Y0 + 1.0 + (1 - OUTSIDE_INSIDE_FRACTION) * PARCEL_H
    xmin, ymin, xmax, ymax = X0 - 1, Y0 - 1, X0 + cols * CELL_W + 1, Y0 + rows * CELL_H + 1
    notch_x = X0 + k_out * CELL_W
    scope = shapely.segmentize(shapely.Polygon([(notch_x, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax),
                                                (xmin, notch_y), (notch_x, notch_y)]), 100.0)

    # buildings: along x in their parcel, slightly rotated
    b_parcel = np.repeat(pi, per)
    first = np.ones(n_buildings, bool)
    first[1:] = b_parcel[1:] != b_parcel[:-1]
    b_no = np.where(first, 1, 2)
    length = rng.uniform(8, 14, n_buildings)
    depth = rng.uniform(6, 9, n_buildings)
    angle = np.deg2rad(rng.uniform(-3, 3, n_buildings))
    cx = px0[b_parcel] + np.where(first, 1.0, 16.5) + length / 2
    cy = py0[b_parcel] + 2.0 + depth / 2 + rng.uniform(0, 4, n_buildings)
    outline = _rects(cx, cy, length, depth, angle)
    outline_area = shapely.area(outline)
    storeys = np.where(rng.random(n_buildings) < 0.55, 1, 2)
    inflated = rng.random(n_buildings) < 0.015
    factor = np.where(inflated, rng.uniform(1.10, 1.60, n_buildings), 1 + rng.uniform(-0.005, 0.005, n_buildings))
    claimed = np.round(outline_area * storeys * factor, 2)

    # baseline footprints
    u = rng.random(n_buildings)
    none = u < 0.017
    sliver = (u >= 0.017) & (u < 0.020)
    partial = (u >= 0.020) & (u < 0.030)
    split = (u >= 0.030) & (u < 0.050)
    whole = u >= 0.050
    frac = np.where(sliver, rng.uniform(0.04, 0.12, n_buildings), rng.uniform(0.4, 0.8, n_buildings))
    sub = sliver | partial
    base_parts = [(np.flatnonzero(whole), None, None), (np.flatnonzero(sub), np.zeros(n_buildings), frac),
                  (np.flatnonzero(split), np.zeros(n_buildings), np.full(n_buildings, 0.55)),
                  (np.flatnonzero(split), np.full(n_buildings, 0.45), np.ones(n_buildings))]
    base_bid, base_geom = [], []
    for idx, start, stop in base_parts:
        g = (outline[idx] if start is None else
             _rects(cx[idx], cy[idx], length[idx], depth[idx], angle[idx], start[idx], stop[idx]))
        base_bid.append(idx)
        base_geom.append(shapely.buffer(g, 0.3, join_style="mitre"))
    base_bid = np.concatenate(base_bid)
    base_geom = np.concatenate(base_geom)

    # households, claims, payments
    claims_hh = rng.random(n_parcels) < 0.97
    claims_hh[:k_out] = True
    paid_hh = claims_hh & (rng.random(n_parcels) < 0.75)
    b_paid = paid_hh[b_parcel]
    b_claimed = claims_hh[b_parcel]

    # after footprints: unpaid buildings mostly still stand, a few paid ones too; some remnants
    stands = np.where(b_paid, rng.random(n_buildings) < 0.03, rng.random(n_buildings) < 0.90)
    remnant = stands & (rng.random(n_buildings) < 0.15)
    after_idx = np.flatnonzero(stands)
    rem = remnant[after_idx]
    after_stop = np.where(rem, rng.uniform(0.1, 0.4, len(after_idx)), 1.0)
    after_geom = np.where(rem, shapely.buffer(_rects(cx[after_idx], cy[after_idx], length[after_idx],
                                                     depth[after_idx], angle[after_idx],
                                                     np.zeros(len(after_idx)), after_stop), 0.3, join_style="mitre"),
                          shapely.buffer(outline[after_idx], 0.3, join_style="mitre"))

    # the project
    project_id = conn.execute(text("""
        INSERT INTO project (code, name, county_code, srid, pre_announcement_date, announcement_date, tolerance)
        VALUES (:c, :n, '210112', :srid, DATE '2024-03-01', DATE '2024-04-01', CAST(:tol AS jsonb)) RETURNING id"""),
        {"c": code, "n": f"area benchmark {n_buildings} buildings", "srid": SRID,
         "tol": json.dumps({"preset": "class3"})}).scalar_one()
    conn.execute(text("INSERT INTO project_scope (project_id, geom) VALUES (:p, ST_Multi(CAST(:g AS geometry)))"),
                 {"p": project_id, "g": multipolygon_ewkb(np.array([scope], dtype=object), SRID)[0]})
    counts: dict[str, int] = {}
    parcel_id = _ids(conn, "parcel", n_parcels)
    counts["parcel"] = _copy(conn, "parcel", pd.DataFrame({
        "id": parcel_id, "project_id": project_id, "parcel_code": parcel_code, "village_code": village_code,
        "land_class": "homestead", "household_no": household_no,
        "geom": multipolygon_ewkb(parcel_geom, SRID)}))
    building_id = _ids(conn, "building", n_buildings)
    b_no_txt = b_no.astype(str)
    counts["building"] = _copy(conn, "building", pd.DataFrame({
        "id": building_id, "project_id": project_id, "parcel_id": parcel_id[b_parcel],
        "parcel_code": parcel_code[b_parcel], "building_no": b_no_txt,
        "structure_type": np.where(storeys == 2, "brick_concrete", "brick_wood"), "storeys": storeys,
        "claimed_floor_area_m2": np.char.mod("%.2f", claimed), "geom": multipolygon_ewkb(outline, SRID)}))
    for phase, bids, geoms in (("baseline", base_bid, base_geom), ("after", after_idx, after_geom)):
        fid = np.char.add(f"{phase[0].upper()}", np.char.zfill(np.arange(len(bids)).astype(str), 8))
        counts[f"footprint_{phase}"] = _copy(conn, "footprint", pd.DataFrame({
            "project_id": project_id, "phase": phase, "source": "survey", "footprint_id": fid,
            "height_m": np.round(storeys[bids] * 3.0 + rng.uniform(-0.4, 0.4, len(bids)), 2),
            "geom": multipolygon_ewkb(geoms, SRID)}))
    household_id = _ids(conn, "household", n_parcels)
    head_id = np.char.add("2101121970", np.char.zfill(pi.astype(str), 8))
    counts["household"] = _copy(conn, "household", pd.DataFrame({
        "id": household_id, "project_id": project_id, "household_no": household_no, "village_code": village_code,
        "head_id_number": head_id, "head_name": "张三"}))
    cb = np.flatnonzero(b_claimed)
    price = 3000
    amount = np.round(claimed * price, 2)
    counts["claim"] = _copy(conn, "claim", pd.DataFrame({
        "project_id": project_id, "claim_id": np.char.add("C", np.char.zfill(cb.astype(str), 8)),
        "household_id": household_id[b_parcel[cb]], "household_no": household_no[b_parcel[cb]],
        "claimant_id_number": head_id[b_parcel[cb]], "claimant_name": "张三",
        "parcel_id": parcel_id[b_parcel[cb]], "parcel_code": parcel_code[b_parcel[cb]],
        "building_no": b_no_txt[cb], "building_id": building_id[cb], "item_kind": "building",
        "quantity": np.char.mod("%.2f", claimed[cb]), "unit": "m2", "unit_price_yuan": f"{price}.00",
        "amount_yuan": np.char.mod("%.2f", amount[cb]), "registered_on": "2024-05-10", "case_type": "residential"}))
    hh_amount = np.bincount(b_parcel[cb], weights=amount[cb], minlength=n_parcels)
    ph = np.flatnonzero(paid_hh)
    counts["payment"] = _copy(conn, "payment", pd.DataFrame({
        "project_id": project_id, "payment_id": np.char.add("P", np.char.zfill(ph.astype(str), 8)),
        "household_id": household_id[ph], "household_no": household_no[ph], "payee_id_number": head_id[ph],
        "payee_name": "张三", "amount_yuan": np.char.mod("%.2f", hh_amount[ph]), "paid_on": "2024-09-20"}))
    for table in ("project_scope", "parcel", "building", "footprint", "household", "claim", "payment"):
        conn.execute(text(f"ANALYZE {table}"))

    key = (parcel_code[b_parcel] + "/" + b_no_txt.astype(object))
    planted = {
        "NOT_AT_BASELINE": set(key[none | sliver]),
        "AREA_INFLATED": set(key[~(none | sliver) & (inflated | partial)]),
        "NOT_DEMOLISHED": set(key[b_paid & stands & ~remnant]),
        "OUTSIDE_SCOPE": set(parcel_code[:k_out]),
    }
    return Synthetic(code=code, project_id=int(project_id), rows=counts, planted=planted,
                     seconds=time.perf_counter() - t0)
