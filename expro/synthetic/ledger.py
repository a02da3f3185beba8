"""Clean records of a synthetic district: claimed areas, footprints, claims, payments, staff, photos."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from expro.synthetic.layout import Layout
from expro.synthetic.people import random_dates
from gis_core.tolerance import Tolerance

FREEZE = np.datetime64("2025-03-01")
ANNOUNCEMENT = np.datetime64("2025-06-01")
REGISTRATION = (np.datetime64("2025-03-10"), np.datetime64("2025-05-20"))
PAYMENT = (np.datetime64("2025-06-15"), np.datetime64("2025-09-30"))
BASELINE_FLIGHT, AFTER_FLIGHT = "2025-02-20", "2025-10-15"
MU_M2 = 10000.0 / 15.0
STAGE_SURVEY, STAGE_MEASURE, STAGE_REVIEW = "入户调查登记", "核量", "审核"
TOLERANCE = Tolerance.from_preset("class3")

#: Base unit prices in yuan (varied by a few per cent per project).
STRUCTURE_PRICE_YUAN = {"brick_concrete": 1850, "brick_wood": 1600, "simple": 650, "steel": 1200}
HOMESTEAD_PRICE_YUAN_M2 = 240
FARMLAND_PRICE_YUAN_MU = 45000
CROP_PRICE_YUAN_MU = 1800
#: Attachments (附属物): name, price per item in yuan, largest count.
ATTACHMENTS = (("水井", 2500, 1), ("围墙", 3200, 1), ("大门", 1500, 1), ("厕所", 800, 1), ("菜窖", 1200, 1),
               ("果树", 300, 8))
ROOF_BY_STRUCTURE = {"brick_concrete": ("concrete", "tile"), "brick_wood": ("tile", "tile"),
                     "simple": ("tan", "steel"), "steel": ("steel", "steel")}


@dataclass
class Households:
    """Per-household facts of the project (index = household index)."""

    no: np.ndarray
    village: np.ndarray
    village_code: np.ndarray
    serial: np.ndarray
    claimant: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    payee: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    paid: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    registered_on: np.ndarray = field(default_factory=lambda: np.empty(0, "datetime64[D]"))
    crew: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    supervisor: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.no)


def unit_prices(rng: np.random.Generator) -> dict[str, int]:
    """This project's unit prices in whole yuan (base prices ± 5 %, rounded to 10 yuan)."""
    base = {**STRUCTURE_PRICE_YUAN, "homestead": HOMESTEAD_PRICE_YUAN_M2, "farmland": FARMLAND_PRICE_YUAN_MU,
            "crop": CROP_PRICE_YUAN_MU}
    prices = {k: int(round(v * rng.uniform(0.95, 1.05) / 10.0) * 10) for k, v in base.items()}
    prices.update({name: price for name, price, _ in ATTACHMENTS})
    return prices


def box_area_m2(df: pd.DataFrame) -> np.ndarray:
    """Areas of local boxes."""
    return ((df["u1"] - df["u0"]) * (df["v1"] - df["v0"])).to_numpy()


def claimed_areas(rng: np.random.Generator, buildings: pd.DataFrame) -> np.ndarray:
    """Claimed floor areas in 0.01 m² units: outline × storeys × (1 + ε), |ε| ≤ 0.3·tol(M)/M."""
    m = box_area_m2(buildings) * buildings["storeys"].to_numpy()
    eps = rng.uniform(-0.3, 0.3, len(m)) * TOLERANCE.limit_m2(m) / m
    return np.round(m * (1 + eps) * 100).astype(np.int64)


def household_params(rng: np.random.Generator, hh: Households, head: np.ndarray, spouse: np.ndarray,
                     forced_paid: dict[int, bool], head_only: np.ndarray, spouse_payee: np.ndarray) -> None:
    """Choose claimant, payee, registration date and payment status of every household (in place)."""
    n = len(hh)
    has_sp = spouse >= 0
    claim_sp = has_sp & (rng.random(n) < 0.1) & ~head_only
    pay_sp = has_sp & (rng.random(n) < 0.15) & ~head_only
    pay_sp |= spouse_payee & has_sp
    hh.claimant = np.where(claim_sp, spouse, head)
    hh.payee = np.where(pay_sp, spouse, head)
    hh.registered_on = random_dates(rng, *REGISTRATION, n)
    hh.paid = rng.random(n) < 0.75
    for i, flag in forced_paid.items():
        hh.paid[i] = flag


def claim_rows(rng: np.random.Generator, layout: Layout, hh: Households, claimed_cents: np.ndarray,
               prices: dict[str, int]) -> pd.DataFrame:
    """One row per compensation item (without claim ids): buildings, homestead, attachments, farmland, crops."""
    b = layout.buildings
    p = layout.parcels
    n = len(hh)
    parts = []
    parts.append(pd.DataFrame({
        "hh": b["hh"].to_numpy(), "parcel": b["parcel"].to_numpy(), "building": np.arange(len(b)),
        "item_kind": "building", "unit": "m2", "q_cents": claimed_cents,
        "price": [prices[s] for s in b["structure_type"]], "case_type": "residential", "grp": 0,
        "sub": b["building_no"].astype(int).to_numpy()}))
    homes = p.index[p["land_class"] == "homestead"].to_numpy()
    parts.append(pd.DataFrame({
        "hh": p["hh"].to_numpy()[homes], "parcel": homes, "building": -1, "item_kind": "land", "unit": "m2",
        "q_cents": np.round(box_area_m2(p.loc[homes]) * 100).astype(np.int64), "price": prices["homestead"],
        "case_type": "residential", "grp": 1, "sub": 0}))
    n_att = rng.choice(4, n, p=[0.25, 0.35, 0.25, 0.15])
    a_hh = np.repeat(np.arange(n), n_att)
    shuffled = np.argsort(rng.random((n, len(ATTACHMENTS))), axis=1)
    kind = shuffled[np.arange(len(ATTACHMENTS))[None, :] < n_att[:, None]].astype(np.int64)
    max_count = np.array([c for _, _, c in ATTACHMENTS])[kind]
    parts.append(pd.DataFrame({
        "hh": a_hh, "parcel": a_hh, "building": -1, "item_kind": "attachment", "unit": "item",
        "q_cents": (1 + np.floor(rng.random(len(a_hh)) * max_count)).astype(np.int64) * 100,
        "price": np.array([pr for _, pr, _ in ATTACHMENTS])[kind], "case_type": "residential", "grp": 2,
        "sub": kind}))
    farms = p.index[p["land_class"] == "farmland"].to_numpy()
    mu_cents = np.round(box_area_m2(p.loc[farms]) / MU_M2 * 100).astype(np.int64)
    for kind_name, price, sub in (("land", prices["farmland"], 0), ("crop", prices["crop"], 1)):
        parts.append(pd.DataFrame({
            "hh": p["hh"].to_numpy()[farms], "parcel": farms, "building": -1, "item_kind": kind_name, "unit": "mu",
            "q_cents": mu_cents, "price": price, "case_type": "farmland", "grp": 3 + sub, "sub": farms}))
    claims = pd.concat(parts, ignore_index=True)
    claims["claimant"] = hh.claimant[claims["hh"].to_numpy()]
    claims["amount_cents"] = claims["q_cents"].to_numpy() * claims["price"].to_numpy()
    return claims


def finish_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """Sort claims by household and item, and number them C2025-000001, ..."""
    order = np.lexsort((claims["sub"].to_numpy(), claims["parcel"].to_numpy(), claims["grp"].to_numpy(),
                        claims["hh"].to_numpy()))
    claims = claims.iloc[order].reset_index(drop=True)
    width = max(6, len(str(len(claims))))
    claims["claim_id"] = [f"C2025-{i:0{width}d}" for i in range(1, len(claims) + 1)]
    return claims


def payment_rows(rng: np.random.Generator, hh: Households, claims: pd.DataFrame) -> pd.DataFrame:
    """Payments of paid households: one or two instalments summing exactly to the claims total."""
    total = np.zeros(len(hh), dtype=np.int64)
    np.add.at(total, claims["hh"].to_numpy(), claims["amount_cents"].to_numpy())
    paid = np.flatnonzero(hh.paid)
    k = len(paid)
    two = rng.random(k) < 0.4
    first = np.where(two, np.round(total[paid] * rng.uniform(0.3, 0.7, k) / 100).astype(np.int64) * 100,
                     total[paid])
    d1 = random_dates(rng, PAYMENT[0], np.datetime64("2025-08-31"), k)
    d2 = np.minimum(d1 + rng.integers(14, 31, k), PAYMENT[1])
    width = max(4, len(str(k)))
    agreement = np.array([f"XY-2025-{i:0{width}d}" for i in range(1, k + 1)], dtype=object)
    rows = pd.DataFrame({"hh": np.concatenate([paid, paid[two]]),
                         "amount_cents": np.concatenate([first, total[paid][two] - first[two]]),
                         "paid_on": np.concatenate([d1, d2[two]]),
                         "agreement_no": np.concatenate([agreement, agreement[two]]),
                         "nth": np.concatenate([np.zeros(k, np.int64), np.ones(int(two.sum()), np.int64)])})
    rows["payee"] = hh.payee[rows["hh"].to_numpy()]
    return rows


def finish_payments(payments: pd.DataFrame) -> pd.DataFrame:
    """Sort payments by household and instalment and number them ZF2025-000001, ..."""
    payments = payments.sort_values(["hh", "nth"], kind="stable").reset_index(drop=True)
    width = max(6, len(str(len(payments))))
    payments["payment_id"] = [f"ZF2025-{i:0{width}d}" for i in range(1, len(payments) + 1)]
    return payments


def approval_rows(rng: np.random.Generator, layout: Layout) -> pd.DataFrame:
    """Homestead approvals (宅基地审批) for about 30 % of the homestead parcels, dated 1985-2018."""
    p = layout.parcels
    homes = p.index[(p["land_class"] == "homestead").to_numpy() & (rng.random(len(p)) < 0.3)].to_numpy()
    return pd.DataFrame({"parcel": homes, "hh": p["hh"].to_numpy()[homes],
                         "approved_on": random_dates(rng, "1985-01-01", "2018-12-31", len(homes))})


def finish_approvals(approvals: pd.DataFrame) -> pd.DataFrame:
    """Sort approvals by parcel and number them ZJD-<year>-000001, ..."""
    approvals = approvals.sort_values(["parcel", "approved_on"], kind="stable").reset_index(drop=True)
    years = approvals["approved_on"].to_numpy().astype("datetime64[Y]").astype(np.int64) + 1970
    width = max(6, len(str(len(approvals))))
    approvals["approval_no"] = [f"ZJD-{y}-{i:0{width}d}" for i, y in enumerate(years, start=1)]
    return approvals


@dataclass
class Staff:
    """Staff members (index = staff index) and their person indices."""

    role: np.ndarray
    supervisor: np.ndarray      # staff index of the supervisor, or -1
    person: np.ndarray
    staff_id: np.ndarray


def staff_counts(n_households: int) -> tuple[int, int]:
    """(field crews, supervisors): one crew per 25 households, one supervisor per 4 crews."""
    crews = max(1, -(-n_households // 25))
    return crews, max(1, -(-crews // 4))


def staff_table(persons: np.ndarray, n_households: int, prefix: str = "S") -> Staff:
    """Admin, GIS officer, 2 inspectors, the supervisors and the field crews, in that order (``prefix``NNN)."""
    crews, sups = staff_counts(n_households)
    role = np.array(["admin", "gis_officer", "inspector", "inspector"] + ["supervisor"] * sups
                    + ["field_crew"] * crews, dtype=object)
    supervisor = np.full(len(role), -1)
    supervisor[4 + sups:] = 4 + np.arange(crews) // 4
    width = max(3, len(str(len(role))))
    staff_id = np.array([f"{prefix}{i:0{width}d}" for i in range(1, len(role) + 1)], dtype=object)
    return Staff(role=role, supervisor=supervisor, person=np.asarray(persons), staff_id=staff_id)


def assign_crews(hh: Households, staff: Staff) -> None:
    """Consecutive blocks of 25 households per field crew; the crew's supervisor reviews (in place)."""
    crews = np.flatnonzero(staff.role == "field_crew")
    hh.crew = crews[np.minimum(np.arange(len(hh)) // 25, len(crews) - 1)]
    hh.supervisor = staff.supervisor[hh.crew]


def assignment_rows(hh: Households, staff: Staff) -> pd.DataFrame:
    """Three rows per household: survey and measurement by the crew, review by the supervisor."""
    n = len(hh)
    return pd.DataFrame({
        "household_no": np.repeat(hh.no, 3),
        "stage": np.tile(np.array([STAGE_SURVEY, STAGE_MEASURE, STAGE_REVIEW], dtype=object), n),
        "staff_id": staff.staff_id[np.column_stack([hh.crew, hh.crew, hh.supervisor]).ravel()]})


def photo_rows(rng: np.random.Generator, layout: Layout, hh: Households) -> pd.DataFrame:
    """2-4 field photos per household, taken on or around its homestead parcel during the survey."""
    n = len(hh)
    count = rng.integers(2, 5, n)
    h = np.repeat(np.arange(n), count)
    nth = np.arange(len(h)) - np.repeat(np.cumsum(count) - count, count)
    k = len(h)
    home = layout.parcels.iloc[h][["u0", "v0", "u1", "v1"]].to_numpy()
    u = home[:, 0] - 8 + rng.random(k) * (home[:, 2] - home[:, 0] + 16)
    v = home[:, 1] - 8 + rng.random(k) * (home[:, 3] - home[:, 1] + 16)
    survey = nth < np.maximum(1, count // 2)[h]
    day = hh.registered_on[h] + np.where(survey, 0, rng.integers(3, 12, k))
    seconds = rng.integers(8 * 3600, 17 * 3600 + 1800, k)
    taken = (day.astype("datetime64[s]") + seconds).astype("datetime64[s]")
    return pd.DataFrame({"hh": h, "village": hh.village[h], "u": u, "v": v,
                         "stage": np.where(survey, STAGE_SURVEY, STAGE_MEASURE).astype(object),
                         "taken_at": np.datetime_as_string(taken, unit="s").astype(object)})


def footprint_boxes(rng: np.random.Generator, boxes: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Survey footprints of outlines: each side pushed out 0.2-0.5 m (eaves); ``cover`` < 1 keeps only the
    west part of the outline so that footprint ∩ outline = cover × outline."""
    grow = rng.uniform(0.2, 0.5, (len(boxes), 4)) * np.array([-1, -1, 1, 1])
    out = boxes + grow
    partial = cover < 1
    out[partial, 2] = boxes[partial, 0] + cover[partial] * (boxes[partial, 2] - boxes[partial, 0])
    return out


def heights_m(rng: np.random.Generator, storeys: np.ndarray) -> np.ndarray:
    """Measured heights: storeys × 3.0 m + 0.5 m ± 0.3 m."""
    return np.round(np.asarray(storeys) * 3.0 + 0.5 + rng.uniform(-0.3, 0.3, len(storeys)), 2)
