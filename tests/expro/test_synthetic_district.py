"""The synthetic district generator: package files, determinism, and truth checked by a reference evaluator."""

from __future__ import annotations

import datetime as dt
import tomllib
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer

from expro.synthetic.district import generate_district

RULES = ("AREA_INFLATED", "NOT_AT_BASELINE", "NOT_DEMOLISHED", "OUTSIDE_SCOPE", "AMOUNT_MISMATCH", "OVERPAID",
         "ID_INVALID", "ID_NOT_FOUND", "NAME_MISMATCH", "DECEASED", "MOVED_OUT", "NON_VILLAGER",
         "MOVED_IN_AFTER_FREEZE", "SPLIT_AFTER_FREEZE", "HOMESTEAD_AFTER_FREEZE", "DUPLICATE_BUILDING",
         "DUPLICATE_PERSON", "PAYEE_NOT_MEMBER", "STAFF_CONFLICT", "PHOTO_FAR_FROM_PARCEL")
TABLES = ("villages", "households", "claims", "payments", "registry", "homestead_approvals", "staff", "assignments",
          "field_photos", "truth")
LAYERS = ("scope", "parcels", "buildings", "footprints_baseline", "footprints_after")
HEADERS = {
    "villages": "village_code,village_name,township_name",
    "households": "household_no,village_code,head_id_number,head_name",
    "claims": "claim_id,household_no,claimant_id_number,claimant_name,parcel_code,building_no,item_kind,quantity,"
              "unit,unit_price_yuan,amount_yuan,registered_on,case_type",
    "payments": "payment_id,household_no,payee_id_number,payee_name,amount_yuan,paid_on,agreement_no",
    "registry": "id_number,name,gender,birth_date,household_no,relation_to_head,village_code,status,status_date,"
                "moved_in_on,split_from_household_no,split_on",
    "homestead_approvals": "approval_no,household_no,parcel_code,approved_on",
    "staff": "staff_id,name,id_number,role,supervisor_staff_id",
    "assignments": "household_no,stage,staff_id",
    "field_photos": "photo_id,household_no,stage,taken_at,lon,lat",
    "orthophotos": "file,phase,captured_on",
    "truth": "rule_code,subject_type,subject_key",
}
N = 300


@pytest.fixture(scope="module")
def districts(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Packages of 300 households (no imagery) for seeds 1-5."""
    root = tmp_path_factory.mktemp("districts")
    return {seed: generate_district(root / f"s{seed}", households=N, seed=seed, imagery=False).path
            for seed in range(1, 6)}


def read(pkg: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(pkg / f"{name}.csv", dtype=str, keep_default_na=False, encoding="utf-8")


# ---- a straightforward reference evaluator of DATA_FORMATS.md §4 -------------------------------------------------

def id_well_formed(id_number: str) -> bool:
    """GB 11643-1999: 18 characters, 17 digits, a real birth date, ISO 7064 MOD 11-2 check character."""
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return False
    try:
        born = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(id_number[:17]))
    return id_number[17] == "10X98765432"[total % 11]


def norm_name(name: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", name).split())
    for dot in "·・•‧":
        text = text.replace(dot, "·")
    return text


def tolerance_m2(area_m2: np.ndarray) -> np.ndarray:
    return 0.08 * np.sqrt(area_m2) + 0.006 * area_m2     # GB/T 17986.1 class 3 limit


def covered_m2(outlines: gpd.GeoDataFrame, footprints: gpd.GeoDataFrame) -> np.ndarray:
    """Area of each outline covered by the union of the footprints."""
    out = np.zeros(len(outlines))
    tree = shapely.STRtree(footprints.geometry.values)
    for i, geom in enumerate(outlines.geometry.values):
        hits = tree.query(geom, predicate="intersects")
        if len(hits):
            out[i] = shapely.area(shapely.intersection(geom, shapely.union_all(footprints.geometry.values[hits])))
    return out


def evaluate(pkg: Path) -> set[tuple[str, str, str]]:
    """Every (rule_code, subject_type, subject_key) for which a rule's definition holds on the package."""
    freeze = tomllib.loads((pkg / "project.toml").read_text(encoding="utf-8"))["pre_announcement_date"].isoformat()
    claims, payments, registry = read(pkg, "claims"), read(pkg, "payments"), read(pkg, "registry")
    approvals, assignments, staff = read(pkg, "homestead_approvals"), read(pkg, "assignments"), read(pkg, "staff")
    photos = read(pkg, "field_photos")
    parcels = gpd.read_file(pkg / "parcels.gpkg", engine="pyogrio")
    buildings = gpd.read_file(pkg / "buildings.gpkg", engine="pyogrio")
    base = gpd.read_file(pkg / "footprints_baseline.gpkg", engine="pyogrio")
    after = gpd.read_file(pkg / "footprints_after.gpkg", engine="pyogrio")
    scope = shapely.union_all(gpd.read_file(pkg / "scope.gpkg", engine="pyogrio").geometry.values)
    hits: set[tuple[str, str, str]] = set()
    paid_households = set(payments["household_no"])

    # Buildings
    outline_m2 = buildings.geometry.area.to_numpy()
    base_m2, after_m2 = covered_m2(buildings, base), covered_m2(buildings, after)
    m = base_m2 * buildings["storeys"].to_numpy()
    claimed = buildings["claimed_floor_area_m2"].to_numpy()
    parcel_hh = dict(zip(parcels["parcel_code"], parcels["household_no"]))
    bclaims = claims[claims["item_kind"] == "building"]
    claimers = bclaims.groupby(["parcel_code", "building_no"])["household_no"].agg(set).to_dict()
    for i, row in enumerate(buildings.itertuples()):
        key = f"{row.parcel_code}/{row.building_no}"
        not_at_baseline = base_m2[i] / outline_m2[i] < 0.20
        if not_at_baseline:
            hits.add(("NOT_AT_BASELINE", "building", key))
        elif claimed[i] > m[i] + tolerance_m2(m[i]):
            hits.add(("AREA_INFLATED", "building", key))
        owners = claimers.get((row.parcel_code, row.building_no), set()) | {parcel_hh[row.parcel_code]}
        if owners & paid_households and after_m2[i] / outline_m2[i] >= 0.5:
            hits.add(("NOT_DEMOLISHED", "building", key))
    for (parcel, bno), households in claimers.items():
        if len(households) >= 2:
            hits.add(("DUPLICATE_BUILDING", "building", f"{parcel}/{bno}"))

    # Parcels
    claimed_parcels = parcels[parcels["parcel_code"].isin(set(claims["parcel_code"]))]
    inside = shapely.area(shapely.intersection(claimed_parcels.geometry.values, scope)) / claimed_parcels.area
    for code in claimed_parcels["parcel_code"][inside.to_numpy() < 0.5]:
        hits.add(("OUTSIDE_SCOPE", "parcel", code))
    late = approvals[(approvals["approved_on"] >= freeze) & approvals["parcel_code"].isin(set(claims["parcel_code"]))]
    hits |= {("HOMESTEAD_AFTER_FREEZE", "parcel", code) for code in late["parcel_code"]}

    # Money
    q, price, amount = (claims[c].astype(float) for c in ("quantity", "unit_price_yuan", "amount_yuan"))
    hits |= {("AMOUNT_MISMATCH", "claim", cid) for cid in claims["claim_id"][(q * price - amount).abs() > 1]}
    claimed_total = amount.groupby(claims["household_no"]).sum()
    paid_total = payments["amount_yuan"].astype(float).groupby(payments["household_no"]).sum()
    for household, total in paid_total.items():
        if total > claimed_total.get(household, 0.0) + 1:
            hits.add(("OVERPAID", "household", household))

    # People
    reg = registry.set_index("id_number")
    village_of_parcel = dict(zip(parcels["parcel_code"], parcels["village_code"]))
    uses = pd.concat([
        pd.DataFrame({"id": claims["claimant_id_number"], "name": claims["claimant_name"],
                      "date": claims["registered_on"], "claimant": True, "parcel": claims["parcel_code"]}),
        pd.DataFrame({"id": payments["payee_id_number"], "name": payments["payee_name"],
                      "date": payments["paid_on"], "claimant": False, "parcel": ""})])
    for use in uses.itertuples():
        if not id_well_formed(use.id):
            hits.add(("ID_INVALID", "person", use.id))
            continue
        if use.id not in reg.index:
            hits.add(("ID_NOT_FOUND", "person", use.id))
            continue
        r = reg.loc[use.id]
        if norm_name(r["name"]) != norm_name(use.name):
            hits.add(("NAME_MISMATCH", "person", use.id))
        if r["status"] == "deceased" and r["status_date"] < use.date:
            hits.add(("DECEASED", "person", use.id))
        if use.claimant:
            if r["status"] == "moved_out" and r["status_date"] < freeze:
                hits.add(("MOVED_OUT", "person", use.id))
            if r["village_code"] != village_of_parcel[use.parcel]:
                hits.add(("NON_VILLAGER", "person", use.id))
            if r["moved_in_on"] and r["moved_in_on"] >= freeze:
                hits.add(("MOVED_IN_AFTER_FREEZE", "person", use.id))
    per_person = claims.groupby("claimant_id_number")["household_no"].nunique()
    hits |= {("DUPLICATE_PERSON", "person", pid) for pid in per_person.index[per_person >= 2]}

    # Households and payments
    claiming = set(claims["household_no"])
    late_split = registry[(registry["split_from_household_no"] != "") & (registry["split_on"] >= freeze)]
    hits |= {("SPLIT_AFTER_FREEZE", "household", h) for h in set(late_split["household_no"]) & claiming}
    members = set(zip(registry["id_number"], registry["household_no"]))
    for pay in payments.itertuples():
        if (pay.payee_id_number, pay.household_no) not in members:
            hits.add(("PAYEE_NOT_MEMBER", "payment", pay.payment_id))
    split_rows = registry[registry["split_from_household_no"] != ""]
    staff_home = dict(zip(staff["staff_id"], staff["id_number"].map(registry.set_index("id_number")["household_no"])))
    for a in assignments.itertuples():
        h = a.household_no
        related = ({h} | set(split_rows.loc[split_rows["household_no"] == h, "split_from_household_no"])
                   | set(split_rows.loc[split_rows["split_from_household_no"] == h, "household_no"]))
        if staff_home.get(a.staff_id) in related:
            hits.add(("STAFF_CONFLICT", "household", h))

    # Photos
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4550", always_xy=True).transform(
        photos["lon"].astype(float).to_numpy(), photos["lat"].astype(float).to_numpy())
    by_household = parcels.groupby("household_no").geometry.apply(lambda g: shapely.union_all(g.values))
    for pid, h, px, py in zip(photos["photo_id"], photos["household_no"], x, y):
        if shapely.distance(shapely.Point(px, py), by_household[h]) > 200:
            hits.add(("PHOTO_FAR_FROM_PARCEL", "photo", pid))
    return hits


# ---- tests ---------------------------------------------------------------------------------------------------------

def test_files_headers_and_row_counts(tmp_path: Path) -> None:
    result = generate_district(tmp_path / "pkg", households=N, seed=1, imagery=False)
    pkg = result.path
    assert result.project_code == "HN-S1"
    assert (pkg / "project.toml").is_file()
    assert not (pkg / "orthophotos.csv").exists() and not (pkg / "imagery").exists()
    for name in TABLES:
        raw = (pkg / f"{name}.csv").read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        lines = raw.decode("utf-8").splitlines()
        assert lines[0] == HEADERS[name]
        assert result.row_counts[name] == len(lines) - 1 == len(read(pkg, name))
    for name in LAYERS:
        info = pyogrio.read_info(pkg / f"{name}.gpkg")
        assert result.row_counts[name] == info["features"]
    assert set(result.row_counts) == set(TABLES) | set(LAYERS)
    truth = read(pkg, "truth")
    assert truth.equals(truth.sort_values(list(truth.columns)).reset_index(drop=True))
    assert not truth.duplicated().any()
    pd.testing.assert_frame_equal(truth, result.truth.astype(str), check_dtype=False)


def test_project_toml(districts: dict[int, Path]) -> None:
    cfg = tomllib.loads((districts[2] / "project.toml").read_text(encoding="utf-8"))
    assert cfg["code"] == "HN-S2" and cfg["county_code"] == "210112" and cfg["crs"] == "EPSG:4550"
    assert cfg["pre_announcement_date"] == dt.date(2025, 3, 1)
    assert cfg["announcement_date"] == dt.date(2025, 6, 1)
    assert cfg["tolerance"] == {"preset": "class3"} and cfg["rules"] == {}
    assert "（演示）" in cfg["name"]


def test_deterministic_per_seed(districts: dict[int, Path], tmp_path: Path) -> None:
    again = generate_district(tmp_path / "again", households=N, seed=1, imagery=False).path
    for name in ("project.toml",) + tuple(f"{t}.csv" for t in TABLES):
        assert (again / name).read_bytes() == (districts[1] / name).read_bytes(), name
    assert (districts[2] / "registry.csv").read_bytes() != (districts[1] / "registry.csv").read_bytes()
    assert (districts[2] / "truth.csv").read_bytes() != (districts[1] / "truth.csv").read_bytes()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_every_rule_is_planted(districts: dict[int, Path], seed: int) -> None:
    counts = read(districts[seed], "truth")["rule_code"].value_counts()
    assert set(RULES) == set(counts.index)
    assert (counts >= 2).all(), counts.to_dict()


@pytest.mark.parametrize("seed", [1, 2])
def test_truth_equals_reference_evaluation(districts: dict[int, Path], seed: int) -> None:
    truth = {tuple(r) for r in read(districts[seed], "truth").itertuples(index=False)}
    found = evaluate(districts[seed])
    assert found - truth == set(), "fires but not in truth"
    assert truth - found == set(), "in truth but does not fire"


def test_people_and_references(districts: dict[int, Path]) -> None:
    pkg = districts[1]
    registry, claims, households = read(pkg, "registry"), read(pkg, "claims"), read(pkg, "households")
    assert registry["id_number"].is_unique
    assert all(id_well_formed(i) for i in registry["id_number"])
    assert all((int(i[16]) % 2 == 1) == (g == "M") for i, g in zip(registry["id_number"], registry["gender"]))
    assert registry["birth_date"].min() < "1940-01-01"
    assert set(registry["status"]) == {"active", "deceased", "moved_out"}
    project = registry[registry["household_no"].isin(set(households["household_no"]))]
    assert len(registry) > 1.15 * len(project)
    heads = registry.set_index("id_number").loc[households["head_id_number"]]
    assert (heads["name"].to_numpy() == households["head_name"].to_numpy()).all()
    parcels = gpd.read_file(pkg / "parcels.gpkg", engine="pyogrio")
    assert set(claims["parcel_code"]) <= set(parcels["parcel_code"])
    assert set(claims["household_no"]) <= set(households["household_no"])
    assert parcels["parcel_code"].str.len().eq(19).all()
    assert set(parcels["land_class"]) >= {"homestead", "farmland", "collective_construction"}
    staff, assignments = read(pkg, "staff"), read(pkg, "assignments")
    assert set(assignments["staff_id"]) <= set(staff["staff_id"])
    assert set(staff["id_number"]) <= set(registry["id_number"])
    assert (assignments.groupby("household_no").size() == 3).all()


def test_layers_are_valid_and_in_epsg4550(districts: dict[int, Path]) -> None:
    for name in LAYERS:
        path = districts[1] / f"{name}.gpkg"
        assert ProjCRS.from_user_input(pyogrio.read_info(path)["crs"]).to_epsg() == 4550
        frame = gpd.read_file(path, engine="pyogrio")
        assert frame.geometry.is_valid.all() and not frame.geometry.is_empty.any(), name
    parcels = gpd.read_file(districts[1] / "parcels.gpkg", engine="pyogrio")
    x, y = parcels.geometry.union_all().centroid.coords[0]
    assert 540_000 < x < 552_000 and 4_614_000 < y < 4_626_000


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_district(tmp_path, households=40, seed=3, imagery=False)
    generate_district(tmp_path, households=40, seed=3, imagery=False, overwrite=True)
    assert (tmp_path / "keep.txt").exists() and (tmp_path / "truth.csv").exists()
    with pytest.raises(ValueError, match="households"):
        generate_district(tmp_path / "small", households=10)


def test_small_district_with_imagery(tmp_path: Path) -> None:
    result = generate_district(tmp_path / "img", households=40, seed=7, imagery=True, resolution_m=0.3)
    pkg = result.path
    ortho = read(pkg, "orthophotos")
    assert list(ortho["file"]) == ["imagery/baseline.tif", "imagery/after.tif"]
    assert list(ortho["phase"]) == ["baseline", "after"] and result.row_counts["orthophotos"] == 2
    scope = gpd.read_file(pkg / "scope.gpkg", engine="pyogrio").total_bounds
    for file in ortho["file"]:
        with rasterio.open(pkg / file) as src:
            assert src.crs.to_epsg() == 4550 and src.count >= 3
            assert src.res == pytest.approx((0.3, 0.3))
            assert src.bounds.left == pytest.approx(scope[0]) and src.bounds.top == pytest.approx(scope[3])
    assert set(read(pkg, "truth")["rule_code"]) == set(RULES)
