"""Generate a complete synthetic project package (``expro demo generate``) with planted anomalies and truth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from expro.synthetic import GenerationError
from expro.synthetic import anomalies as plant
from expro.synthetic.layout import CRS, Layout, build_layout
from expro.synthetic.ledger import (
    AFTER_FLIGHT,
    ANNOUNCEMENT,
    BASELINE_FLIGHT,
    FREEZE,
    ROOF_BY_STRUCTURE,
    Households,
    Staff,
    approval_rows,
    assign_crews,
    assignment_rows,
    claim_rows,
    claimed_areas,
    finish_approvals,
    finish_claims,
    finish_payments,
    footprint_boxes,
    heights_m,
    household_params,
    payment_rows,
    photo_rows,
    staff_counts,
    staff_table,
    unit_prices,
)
from expro.synthetic.people import PERSON_COLUMNS, SURNAMES, build_population, iso

COUNTY_CODE = "210112"
MAX_HOUSEHOLDS = 300_000
TOWNSHIPS = ("祝家街道", "王家湾镇", "李相街道", "深井子镇", "高坎街道", "满堂街道")
_VILLAGE_PREFIX = ("", "大", "小", "前", "后", "东", "西", "南", "北", "上", "下")
_VILLAGE_SUFFIX = ("家村", "家堡村", "家屯村", "家窝堡村", "家台村", "家沟村", "家岗村", "家甸村", "家寨村", "家洼村")
PACKAGE_FILES = ("project.toml", "scope.gpkg", "villages.csv", "parcels.gpkg", "buildings.gpkg",
                 "footprints_baseline.gpkg", "footprints_after.gpkg", "households.csv", "claims.csv", "payments.csv",
                 "registry.csv", "homestead_approvals.csv", "staff.csv", "assignments.csv", "field_photos.csv",
                 "orthophotos.csv", "truth.csv", "imagery/baseline.tif", "imagery/after.tif")
_LAND_PREFIX = {"homestead": "JC", "farmland": "JA"}


@dataclass
class GeneratedDistrict:
    """Where a synthetic package was written, its project code, rows per file and the planted truth."""

    path: Path
    project_code: str
    row_counts: dict[str, int]
    truth: pd.DataFrame


def _village_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Split ``n`` households into villages of about 100-150 (largest-remainder rounding)."""
    nv = max(1, math.ceil(n / 130))
    share = rng.uniform(0.8, 1.2, nv)
    exact = n * share / share.sum()
    sizes = np.floor(exact).astype(np.int64)
    sizes[np.argsort(-(exact - sizes), kind="stable")[: n - int(sizes.sum())]] += 1
    return sizes


def _village_table(rng: np.random.Generator, nv: int) -> pd.DataFrame:
    """Village codes (210112 + township + village), Chinese village and township names."""
    n_town = max(1 if nv <= 8 else 2 if nv <= 100 else 3, math.ceil(nv / 700))
    towns = np.asarray(TOWNSHIPS, dtype=object)[rng.permutation(len(TOWNSHIPS))[:n_town]]
    town = np.arange(nv) * n_town // nv
    nth = np.arange(nv) - np.searchsorted(town, town)
    combos = [p + s + x for p in _VILLAGE_PREFIX for s in SURNAMES for x in _VILLAGE_SUFFIX]
    names = np.asarray(combos, dtype=object)[rng.permutation(len(combos))[:nv]]
    codes = [f"{COUNTY_CODE}{101 + t:03d}{201 + k:03d}" for t, k in zip(town, nth)]
    return pd.DataFrame({"village_code": codes, "village_name": names, "township_name": towns[town]})


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A frame as writable numpy columns (object arrays for text), for fast row-wise planting."""
    def text(dtype: object) -> bool:
        return isinstance(dtype, pd.StringDtype) or getattr(dtype, "kind", "") == "O"

    return {c: frame[c].to_numpy(dtype=object if text(frame[c].dtype) else None, copy=True) for c in frame.columns}


def _money(cents: np.ndarray) -> list[str]:
    """Yuan with two decimals from integer cents."""
    return [f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}" for c in np.asarray(cents).tolist()]


def _write_csv(path: Path, frame: pd.DataFrame) -> int:
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return len(frame)


def _write_gpkg(path: Path, frame: gpd.GeoDataFrame) -> int:
    frame.to_file(path, driver="GPKG", engine="pyogrio", layer=path.stem)
    return len(frame)


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out_dir} is not empty; choose an empty directory or pass overwrite=True "
                                  "(--overwrite) to replace the package files in it")
        for name in PACKAGE_FILES:
            (out_dir / name).unlink(missing_ok=True)
        if (out_dir / "imagery").is_dir() and not any((out_dir / "imagery").iterdir()):
            (out_dir / "imagery").rmdir()
    out_dir.mkdir(parents=True, exist_ok=True)


def _project_toml(code: str, name: str, seed: int, households: int) -> str:
    return (f"# Synthetic demonstration district (expro demo generate --households {households} --seed {seed}).\n"
            "# truth.csv lists every planted anomaly; it is not part of the import format.\n"
            f'code = "{code}"\nname = "{name}"\ncounty_code = "{COUNTY_CODE}"\ncrs = "{CRS}"\n'
            f"pre_announcement_date = {FREEZE}\nannouncement_date = {ANNOUNCEMENT}\n\n"
            '[tolerance]\npreset = "class3"\n\n'
            "[rules]\n# every threshold at its default (DATA_FORMATS.md §4)\n")


def generate_district(out_dir: Path, *, households: int = 300, seed: int = 1, imagery: bool = True,
                      resolution_m: float = 0.15, overwrite: bool = False) -> GeneratedDistrict:
    """Write a synthetic project package for ``households`` households into ``out_dir``.

    Parameters
    ----------
    out_dir : folder to create or fill; it must be empty unless ``overwrite`` is true.
    households : number of project households (at least 30, so that every rule can be planted).
    seed : the same seed gives byte-identical tables, ``project.toml`` and ``truth.csv``.
    imagery : also render the baseline and after orthophotos (GeoTIFF) and write ``orthophotos.csv``.
    resolution_m : pixel size of the orthophotos in metres.
    overwrite : replace the package files of an existing, non-empty folder.
    """
    if isinstance(households, bool) or not isinstance(households, (int, np.integer)) \
            or not plant.MIN_HOUSEHOLDS <= households <= MAX_HOUSEHOLDS:
        raise ValueError(f"households must be an integer from {plant.MIN_HOUSEHOLDS} (to plant every rule) "
                         f"to {MAX_HOUSEHOLDS}, got {households!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(resolution_m, (int, float)) and math.isfinite(resolution_m) and resolution_m > 0):
        raise ValueError(f"resolution_m must be a positive number of metres, got {resolution_m!r}")
    out_dir = Path(out_dir)
    _prepare(out_dir, overwrite)
    data = _build(int(households), int(seed))
    counts = _write(out_dir, data)
    if imagery:
        counts["orthophotos"] = _render(out_dir, data, float(resolution_m), int(seed))
    return GeneratedDistrict(path=out_dir, project_code=data["code"], row_counts=counts, truth=data["truth"])


def _build(n: int, seed: int) -> dict:
    """Every table of the district, in memory."""
    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, stream])

    sizes = _village_sizes(rng(1), n)
    villages = _village_table(rng(2), len(sizes))
    layout = build_layout(rng(3), sizes)
    v_of = np.repeat(np.arange(len(sizes)), sizes)
    serial = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
    vcode = villages["village_code"].to_numpy()[v_of]
    hh = Households(no=np.array([f"{v}{s:04d}" for v, s in zip(vcode, serial)], dtype=object),
                    village=v_of, village_code=vcode, serial=serial)
    crews, sups = staff_counts(n)
    pop = build_population(rng(4), hh.no, vcode, serial, 4 + sups + crews)
    persons = _columns(pop.persons)
    # staff numbers are accounts, global to the database: each district's people get numbers of their own
    # (an import refuses a staff number that is already another person's account)
    staff = staff_table(pop.staff, n, prefix=f"S{seed}-{n}-")
    assign_crews(hh, staff)

    plan = plant.select(rng(5), layout, hh, persons["name"][pop.head], persons["gender"][pop.head] == "M",
                        pop.spouse >= 0, pop.split_related)
    plan.pool = [int(p) for p in pop.external_pool[rng(6).permutation(len(pop.external_pool))]]
    member_hh = persons["hh"][persons["hh"] >= 0]      # member rows come first, sorted by household
    plan.member_start = np.searchsorted(member_hh, np.arange(n + 1))
    household_params(rng(7), hh, pop.head, pop.spouse, plan.forced_paid, plan.reserved, plan.spouse_payee)

    p = layout.parcels
    prefix = np.array([_LAND_PREFIX.get(c, "JB") for c in p["land_class"]], dtype=object)
    parcel_code = np.array([f"{v}{x}{s:05d}" for v, x, s in zip(
        villages["village_code"].to_numpy()[p["village"].to_numpy()], prefix, p["serial"].to_numpy().tolist())],
        dtype=object)
    b = layout.buildings
    bkey = parcel_code[b["parcel"].to_numpy()] + "/" + b["building_no"].to_numpy().astype(object)
    claimed = claimed_areas(rng(8), b)
    baseline_cover, after_cover = plant.plant_buildings(rng(9), plan, layout, hh, claimed, bkey)
    intended = plant.shift_strips(rng(10), plan, layout)
    plant.plant_names(rng(11), plan, persons, pop.head)

    prices = unit_prices(rng(12))
    claims = claim_rows(rng(13), layout, hh, claimed, prices)
    dup = []
    for a, bb in zip(plan.of("DUPLICATE_BUILDING"), plan.partner.get("DUPLICATE_BUILDING", [])):
        j = int(np.searchsorted(b["hh"].to_numpy(), a))
        price = prices[b.at[j, "structure_type"]]
        dup.append({"hh": bb, "parcel": int(b.at[j, "parcel"]), "building": j, "item_kind": "building",
                    "unit": "m2", "q_cents": int(claimed[j]), "price": price, "case_type": "residential", "grp": 0,
                    "sub": 100 + int(b.at[j, "building_no"]), "claimant": int(hh.claimant[bb]),
                    "amount_cents": int(claimed[j]) * price})
        plan.add("DUPLICATE_BUILDING", "building", bkey[j])
    claims = _columns(finish_claims(pd.concat([claims, pd.DataFrame(dup, columns=claims.columns)],
                                              ignore_index=True)))
    claims["claimant_id_number"] = persons["id_number"][claims["claimant"]]
    claims["claimant_name"] = persons["name"][claims["claimant"]]
    plant.plant_claims(rng(14), plan, claims, persons, hh, set(villages["village_code"]))

    payments = _columns(finish_payments(payment_rows(rng(15), hh, pd.DataFrame(claims))))
    payments["paid_on"] = payments["paid_on"].astype("datetime64[D]")
    payments["payee_id_number"] = persons["id_number"][payments["payee"]]
    payments["payee_name"] = persons["name"][payments["payee"]]
    plant.plant_payments(rng(16), plan, payments, persons, hh)
    plant.plant_registry(rng(17), plan, persons, hh, payments)

    def fresh_household(village: str) -> str:
        s = pop.next_serial[village]
        pop.next_serial[village] = s + 1
        return f"{village}{s:04d}"

    plant.plant_staff(rng(18), plan, persons, hh, pop.head, staff.person, fresh_household)
    approvals = finish_approvals(plant.plant_approvals(rng(19), plan, approval_rows(rng(20), layout),
                                                       parcel_code))
    photos = _columns(photo_rows(rng(21), layout, hh))
    photos["photo_id"] = np.array([f"P{i:07d}" for i in range(1, len(photos["hh"]) + 1)], dtype=object)
    plant.plant_photos(rng(22), plan, photos, layout)

    parcel_geom = layout.polygons(p["village"].to_numpy(), p[["u0", "v0", "u1", "v1"]].to_numpy())
    scope = layout.scope()
    for s, frac in intended.items():
        inside = shapely.area(shapely.intersection(parcel_geom[s], scope)) / shapely.area(parcel_geom[s])
        if abs(inside - frac) > 1e-6:
            raise GenerationError(f"strip {parcel_code[s]} lies {inside:.3f} inside the scope, planned {frac:.3f}")
        if inside < 0.5:
            plan.add("OUTSIDE_SCOPE", "parcel", parcel_code[s])

    truth = pd.DataFrame(sorted(set(plan.truth)), columns=["rule_code", "subject_type", "subject_key"])
    missing = sorted(set(plant.RULE_CODES) - set(truth["rule_code"]))
    if missing:
        raise GenerationError(f"rules not planted: {', '.join(missing)}")
    return {"code": f"HN-S{seed}", "seed": seed, "n": n, "villages": villages, "layout": layout, "hh": hh,
            "persons": persons, "staff": staff, "parcel_code": parcel_code, "parcel_geom": parcel_geom,
            "scope": scope, "claimed": claimed, "baseline_cover": baseline_cover, "after_cover": after_cover,
            "claims": claims, "payments": payments, "approvals": approvals, "photos": photos, "truth": truth,
            "head": pop.head, "rng_geometry": rng(23)}


def _footprints(data: dict) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray]:
    """Baseline and after footprints (buildings, then facilities), and the demolished outlines."""
    layout: Layout = data["layout"]
    rng = data["rng_geometry"]
    b, fac = layout.buildings, layout.facilities
    boxes = b[["u0", "v0", "u1", "v1"]].to_numpy()
    f_boxes = fac[["u0", "v0", "u1", "v1"]].to_numpy()
    roof_pick = rng.random(len(b)) < 0.5
    roof = np.array([ROOF_BY_STRUCTURE[s][int(k)] for s, k in zip(b["structure_type"], roof_pick)], dtype=object)
    f_roof = np.where(np.arange(len(fac)) % 2 == 0, "concrete", "steel").astype(object)
    frames = []
    for phase, cover, prefix in (("baseline", data["baseline_cover"], "B"), ("after", data["after_cover"], "A")):
        keep = cover > 0
        fp = np.concatenate([footprint_boxes(rng, boxes[keep], cover[keep]),
                             footprint_boxes(rng, f_boxes, np.ones(len(fac)))])
        village = np.concatenate([b["village"].to_numpy()[keep], fac["village"].to_numpy()])
        storeys = np.concatenate([b["storeys"].to_numpy()[keep], fac["storeys"].to_numpy()])
        width = max(6, len(str(len(fp))))
        frames.append(gpd.GeoDataFrame({
            "footprint_id": [f"{prefix}{i:0{width}d}" for i in range(1, len(fp) + 1)],
            "height_m": heights_m(rng, storeys),
            "roof": np.concatenate([roof[keep], f_roof]),
        }, geometry=layout.polygons(village, fp), crs=CRS))
    demolished = data["after_cover"] < 1
    return frames[0], frames[1], demolished


def _write(out: Path, data: dict) -> dict[str, int]:
    """Write every table and layer of the package; returns rows per file (base name)."""
    layout: Layout = data["layout"]
    hh: Households = data["hh"]
    persons: pd.DataFrame = data["persons"]
    staff: Staff = data["staff"]
    p, b = layout.parcels, layout.buildings
    pc = data["parcel_code"]
    counts: dict[str, int] = {}
    villages = data["villages"]
    first = villages.at[0, "village_name"]
    name = (f"浑南区{first}集体土地征收项目（演示）" if len(villages) == 1
            else f"浑南区{first}等{len(villages)}个村集体土地征收项目（演示）")
    (out / "project.toml").write_text(_project_toml(data["code"], name, data["seed"], data["n"]), encoding="utf-8")

    counts["scope"] = _write_gpkg(out / "scope.gpkg", gpd.GeoDataFrame(
        {"name": [name]}, geometry=[data["scope"]], crs=CRS))
    counts["villages"] = _write_csv(out / "villages.csv", villages)
    hh_no = np.append(hh.no, "")
    cert = np.full(len(p), "", dtype=object)
    homes = np.flatnonzero((p["land_class"] == "homestead").to_numpy())
    with_cert = homes[data["rng_geometry"].random(len(homes)) < 0.6]
    years = data["rng_geometry"].integers(2015, 2023, len(with_cert))
    cert[with_cert] = [f"辽({y})沈阳市浑南区不动产权第{i:07d}号" for i, y in zip(range(1, len(with_cert) + 1), years)]
    counts["parcels"] = _write_gpkg(out / "parcels.gpkg", gpd.GeoDataFrame({
        "parcel_code": pc, "village_code": villages["village_code"].to_numpy()[p["village"].to_numpy()],
        "land_class": p["land_class"].to_numpy(), "household_no": hh_no[p["hh"].to_numpy()], "certificate_no": cert,
    }, geometry=data["parcel_geom"], crs=CRS))
    counts["buildings"] = _write_gpkg(out / "buildings.gpkg", gpd.GeoDataFrame({
        "parcel_code": pc[b["parcel"].to_numpy()], "building_no": b["building_no"].to_numpy(),
        "structure_type": b["structure_type"].to_numpy(), "storeys": b["storeys"].to_numpy().astype(np.int32),
        "claimed_floor_area_m2": data["claimed"] / 100.0,
    }, geometry=layout.polygons(b["village"].to_numpy(), b[["u0", "v0", "u1", "v1"]].to_numpy()), crs=CRS))
    base, after, demolished = _footprints(data)
    data["footprints"] = (base, after, demolished)
    counts["footprints_baseline"] = _write_gpkg(out / "footprints_baseline.gpkg", base[["footprint_id", "height_m",
                                                                                         "geometry"]])
    counts["footprints_after"] = _write_gpkg(out / "footprints_after.gpkg", after[["footprint_id", "height_m",
                                                                                    "geometry"]])
    head = data["head"]
    counts["households"] = _write_csv(out / "households.csv", pd.DataFrame({
        "household_no": hh.no, "village_code": hh.village_code, "head_id_number": persons["id_number"][head],
        "head_name": persons["name"][head]}))
    c = data["claims"]
    counts["claims"] = _write_csv(out / "claims.csv", pd.DataFrame({
        "claim_id": c["claim_id"], "household_no": hh.no[c["hh"]],
        "claimant_id_number": c["claimant_id_number"], "claimant_name": c["claimant_name"],
        "parcel_code": pc[c["parcel"]],
        "building_no": np.where(c["building"] >= 0,
                                b["building_no"].to_numpy()[np.maximum(c["building"], 0)], ""),
        "item_kind": c["item_kind"], "quantity": _money(c["q_cents"]), "unit": c["unit"],
        "unit_price_yuan": _money(c["price"] * 100), "amount_yuan": _money(c["amount_cents"]),
        "registered_on": iso(hh.registered_on[c["hh"]]), "case_type": c["case_type"]}))
    pay = data["payments"]
    counts["payments"] = _write_csv(out / "payments.csv", pd.DataFrame({
        "payment_id": pay["payment_id"], "household_no": hh.no[pay["hh"]],
        "payee_id_number": pay["payee_id_number"], "payee_name": pay["payee_name"],
        "amount_yuan": _money(pay["amount_cents"]),
        "paid_on": iso(pay["paid_on"].astype("datetime64[D]")), "agreement_no": pay["agreement_no"]}))
    keep = persons["in_registry"].astype(bool)
    reg = pd.DataFrame({col: persons[col][keep] for col in PERSON_COLUMNS})
    counts["registry"] = _write_csv(out / "registry.csv", reg)
    ap = data["approvals"]
    counts["homestead_approvals"] = _write_csv(out / "homestead_approvals.csv", pd.DataFrame({
        "approval_no": ap["approval_no"], "household_no": hh_no[ap["hh"].to_numpy()],
        "parcel_code": pc[ap["parcel"].to_numpy()],
        "approved_on": iso(ap["approved_on"].to_numpy().astype("datetime64[D]"))}))
    sup = np.append(staff.staff_id, "")
    counts["staff"] = _write_csv(out / "staff.csv", pd.DataFrame({
        "staff_id": staff.staff_id, "name": persons["name"][staff.person],
        "id_number": persons["id_number"][staff.person], "role": staff.role,
        "supervisor_staff_id": sup[staff.supervisor]}))
    counts["assignments"] = _write_csv(out / "assignments.csv", assignment_rows(hh, staff))
    ph = data["photos"]
    x, y = layout.to_world(ph["village"], ph["u"], ph["v"])
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    counts["field_photos"] = _write_csv(out / "field_photos.csv", pd.DataFrame({
        "photo_id": ph["photo_id"], "household_no": hh.no[ph["hh"]], "stage": ph["stage"],
        "taken_at": ph["taken_at"], "lon": [f"{v:.6f}" for v in lon], "lat": [f"{v:.6f}" for v in lat]}))
    counts["truth"] = _write_csv(out / "truth.csv", data["truth"])
    return counts


def _render(out: Path, data: dict, resolution_m: float, seed: int) -> int:
    """Render the baseline and after orthophotos over the scope's bounds; writes orthophotos.csv."""
    from imagery.synthetic import render_orthophoto

    layout: Layout = data["layout"]
    base, after, demolished = data["footprints"]
    p, b = layout.parcels, layout.buildings
    rng = np.random.default_rng([seed, 40])
    lanes = gpd.GeoDataFrame(geometry=layout.polygons(layout.lanes["village"].to_numpy(),
                                                      layout.lanes[["u0", "v0", "u1", "v1"]].to_numpy()), crs=CRS)
    farm = np.flatnonzero((p["land_class"] == "farmland").to_numpy())
    tx, ty = layout.to_world(layout.trees["village"].to_numpy(), layout.trees["u"].to_numpy(),
                             layout.trees["v"].to_numpy())
    trees = gpd.GeoDataFrame(geometry=shapely.points(tx, ty), crs=CRS)
    outline = layout.polygons(b["village"].to_numpy(), b[["u0", "v0", "u1", "v1"]].to_numpy())
    bare = gpd.GeoDataFrame(geometry=shapely.buffer(outline[demolished], 1.5, join_style="mitre"), crs=CRS)
    x0, y0, x1, y1 = (float(v) for v in shapely.bounds(data["scope"]))
    (out / "imagery").mkdir(exist_ok=True)
    rows = []
    for phase, roofs, captured, green in (("baseline", base, BASELINE_FLIGHT, 0.2), ("after", after, AFTER_FLIGHT, 0.5)):
        fields = gpd.GeoDataFrame({"crop": np.where(rng.random(len(farm)) < green, "green", "soil")},
                                  geometry=data["parcel_geom"][farm], crs=CRS)
        render_orthophoto(out / "imagery" / f"{phase}.tif", bounds=(x0, y0, x1, y1), resolution_m=resolution_m, crs=CRS,
                          roofs=roofs, lanes=lanes, fields=fields, trees=trees,
                          bare=bare if phase == "after" else None, seed=seed * 2 + (phase == "after"))
        rows.append({"file": f"imagery/{phase}.tif", "phase": phase, "captured_on": captured})
    return _write_csv(out / "orthophotos.csv", pd.DataFrame(rows))
