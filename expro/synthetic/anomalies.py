"""Planting anomalies: choose distinct, otherwise clean households and bend exactly one fact each.

Every rule code of DATA_FORMATS.md §4 is planted at a small rate, and most have a near miss that
must *not* fire. Each step records the (rule_code, subject_type, subject_key) it makes true; those
records are the district's ``truth.csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from expro.synthetic import GenerationError
from expro.synthetic.layout import SCOPE_MARGIN_M, Layout
from expro.synthetic.ledger import FREEZE, TOLERANCE, Households, box_area_m2
from expro.synthetic.people import DOT_VARIANTS, MINORITY_NAMES, NAME_TYPOS, id_check_char, iso, random_dates

RULE_CODES = ("AREA_INFLATED", "NOT_AT_BASELINE", "NOT_DEMOLISHED", "OUTSIDE_SCOPE", "AMOUNT_MISMATCH", "OVERPAID",
              "ID_INVALID", "ID_NOT_FOUND", "NAME_MISMATCH", "DECEASED", "MOVED_OUT", "NON_VILLAGER",
              "MOVED_IN_AFTER_FREEZE", "SPLIT_AFTER_FREEZE", "HOMESTEAD_AFTER_FREEZE", "DUPLICATE_BUILDING",
              "DUPLICATE_PERSON", "PAYEE_NOT_MEMBER", "STAFF_CONFLICT", "PHOTO_FAR_FROM_PARCEL")
MIN_HOUSEHOLDS = 30
DAY = np.timedelta64(1, "D")

# Roles: name -> (kind of constraint, forced payment status). "~" marks a near miss.
_PLANTS = {
    "AREA_INFLATED": None, "NOT_AT_BASELINE": None, "NOT_DEMOLISHED": True, "OUTSIDE_SCOPE": None,
    "AMOUNT_MISMATCH": None, "OVERPAID": True, "ID_INVALID": None, "ID_NOT_FOUND": None, "NAME_MISMATCH": None,
    "DECEASED": None, "DECEASED_PAYEE": True, "MOVED_OUT": None, "NON_VILLAGER": None,
    "MOVED_IN_AFTER_FREEZE": None, "SPLIT_AFTER_FREEZE": None, "HOMESTEAD_AFTER_FREEZE": None,
    "DUPLICATE_BUILDING": None, "DUPLICATE_PERSON": None, "PAYEE_NOT_MEMBER": True, "STAFF_CONFLICT": None,
    "PHOTO_FAR_FROM_PARCEL": None,
}
_NEAR = {
    "AREA_INFLATED~": None, "NOT_AT_BASELINE~": None, "NOT_DEMOLISHED~": True, "OUTSIDE_SCOPE~": None,
    "AMOUNT_MISMATCH~": None, "OVERPAID~": True, "NAME_MISMATCH~space": None, "NAME_MISMATCH~dot": None,
    "DECEASED~": None, "MOVED_OUT~": None, "MOVED_IN_AFTER_FREEZE~": None, "SPLIT_AFTER_FREEZE~": None,
    "HOMESTEAD_AFTER_FREEZE~": None, "DUPLICATE_PERSON~": None, "PAYEE_NOT_MEMBER~": True, "STAFF_CONFLICT~": None,
    "PHOTO_FAR_FROM_PARCEL~": None,
}
_PAIRED = {"SPLIT_AFTER_FREEZE", "SPLIT_AFTER_FREEZE~", "DUPLICATE_BUILDING", "DUPLICATE_PERSON", "DUPLICATE_PERSON~"}


@dataclass
class Plan:
    """Which households play which role, and what the clean-data generator must respect for them."""

    hh: dict[str, np.ndarray]
    partner: dict[str, np.ndarray]
    strips: dict[str, np.ndarray]
    forced_paid: dict[int, bool]
    reserved: np.ndarray
    spouse_payee: np.ndarray
    truth: list[tuple[str, str, str]] = field(default_factory=list)
    pool: list[int] = field(default_factory=list)   # outsiders not used yet, in draw order
    member_start: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # registry rows per household

    def of(self, role: str) -> np.ndarray:
        """Household indices of a role (empty when it could not be planted)."""
        return self.hh.get(role, np.empty(0, dtype=np.int64))

    def outsider(self, accept: Callable[[int], bool] | None = None) -> int:
        """Take the next unused person from outside the project (the first one ``accept`` likes)."""
        for i, p in enumerate(self.pool):
            if accept is None or accept(p):
                return self.pool.pop(i)
        raise GenerationError("ran out of people outside the project to plant anomalies on")

    def add(self, rule: str, subject_type: str, keys: object) -> None:
        """Record that ``rule`` holds for these subjects."""
        for key in np.atleast_1d(np.asarray(keys, dtype=object)):
            self.truth.append((rule, subject_type, str(key)))


def plant_counts(rng: np.random.Generator, n: int) -> dict[str, int]:
    """How many subjects of each role: 0.5-1.2 % of the households (at least 1, or 2-3 from 300 up)."""
    counts = {}
    for role in _PLANTS:
        rate = rng.uniform(0.005, 0.012)
        low = (3 if role in ("ID_INVALID", "STAFF_CONFLICT") else 2) if n >= 300 else 1
        counts[role] = max(low, round(rate * n))
    for role in ("DECEASED", "DECEASED_PAYEE"):    # the two variants share DECEASED's budget
        counts[role] = max(1, counts[role] // 2) if n >= 300 else (1 if role == "DECEASED" else 0)
    near = max(1, round(0.003 * n))
    counts.update({role: near for role in _NEAR})
    return counts


def select(rng: np.random.Generator, layout: Layout, hh: Households, head_name: np.ndarray,
           head_male: np.ndarray, has_spouse: np.ndarray, split_related: np.ndarray) -> Plan:
    """Reserve distinct households for every plant and near miss, in a seeded random order."""
    n = len(hh)
    counts = plant_counts(rng, n)
    rank = np.empty(n, dtype=np.int64)
    rank[rng.permutation(n)] = np.arange(n)
    free = np.ones(n, dtype=bool)
    typo_ok = np.array([any(c in NAME_TYPOS for c in name[1:]) for name in head_name])
    split_free = ~split_related
    used_crews: set[int] = set()
    strips = layout.parcels.index[layout.parcels["band_end"].to_numpy() != ""].to_numpy()
    strip_hh = layout.parcels["hh"].to_numpy()[strips]
    strip_order = strips[np.lexsort((strips, rank[strip_hh]))]
    plan = Plan(hh={}, partner={}, strips={}, forced_paid={}, reserved=free, spouse_payee=np.zeros(n, bool))

    def ordered(mask: np.ndarray) -> np.ndarray:
        cand = np.flatnonzero(free & mask)
        return cand[np.argsort(rank[cand])]

    def take(role: str, mask: np.ndarray, k: int) -> None:
        chosen = ordered(mask)[:k]
        free[chosen] = False
        plan.hh[role] = chosen

    for role in list(_PLANTS) + list(_NEAR):
        k = counts[role]
        if k == 0:
            continue
        if role in _PAIRED:
            base = split_free if role.startswith("SPLIT") else np.ones(n, bool)
            firsts: list[int] = []
            seconds: list[int] = []
            for a in ordered(base):
                if len(firsts) == k:
                    break
                if not free[a]:         # taken as a partner a moment ago
                    continue
                same = base & (hh.village == hh.village[a])
                if role == "DUPLICATE_PERSON~":
                    same &= head_male == head_male[a]
                free[a] = False
                partners = ordered(same)
                if len(partners) == 0:
                    free[a] = True
                    continue
                free[partners[0]] = False
                firsts.append(a)
                seconds.append(partners[0])
            plan.hh[role], plan.partner[role] = np.array(firsts, np.int64), np.array(seconds, np.int64)
        elif role.startswith("OUTSIDE_SCOPE"):
            picked: list[int] = []
            for s, h in zip(strip_order, layout.parcels["hh"].to_numpy()[strip_order]):
                if len(picked) == k:
                    break
                if free[h]:
                    free[h] = False
                    picked.append(s)
            plan.strips[role] = np.array(picked, np.int64)
            plan.hh[role] = layout.parcels["hh"].to_numpy()[plan.strips[role]]
        elif role.startswith("STAFF_CONFLICT"):
            chosen: list[int] = []
            for h in ordered(split_free):
                if len(chosen) == k:
                    break
                if int(hh.crew[h]) not in used_crews:
                    used_crews.add(int(hh.crew[h]))
                    free[h] = False
                    chosen.append(h)
            plan.hh[role] = np.array(chosen, np.int64)
        elif role == "NAME_MISMATCH":
            take(role, typo_ok, k)
        elif role == "PAYEE_NOT_MEMBER~":
            take(role, has_spouse, k)
        else:
            take(role, np.ones(n, bool), k)
        missing = k - len(plan.of(role))
        if missing and "~" not in role:
            raise GenerationError(f"could not find {missing} household(s) for planting {role}")

    for role, paid in list(_PLANTS.items()) + list(_NEAR.items()):
        if paid is not None:
            for h in plan.of(role):
                plan.forced_paid[int(h)] = paid
    for a, b in zip(plan.of("DUPLICATE_BUILDING"), plan.partner.get("DUPLICATE_BUILDING", [])):
        flag = bool(rng.random() < 0.5)
        plan.forced_paid[int(a)] = plan.forced_paid[int(b)] = flag
    plan.spouse_payee[plan.of("PAYEE_NOT_MEMBER~")] = True
    plan.reserved = ~free
    return plan


# ---- geometry -------------------------------------------------------------------------------------------------

def plant_buildings(rng: np.random.Generator, plan: Plan, layout: Layout, hh: Households, claimed_cents: np.ndarray,
                    building_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inflate claimed areas, drop or shrink baseline footprints, keep paid buildings standing.

    Returns the baseline and after coverage of each building's outline (0 = no footprint)."""
    b = layout.buildings
    b_hh = b["hh"].to_numpy()
    first = np.searchsorted(b_hh, np.arange(len(hh)))
    count = np.bincount(b_hh, minlength=len(hh))
    area = box_area_m2(b)
    m_m2 = area * b["storeys"].to_numpy()
    baseline = np.ones(len(b))
    after = np.where(hh.paid[b_hh], 0.0, 1.0)

    def pick(h: np.ndarray, shed: bool = False) -> np.ndarray:
        last = first[h] + count[h] - 1
        return last if shed else first[h] + np.floor(rng.random(len(h)) * count[h]).astype(np.int64)

    j = pick(plan.of("AREA_INFLATED"))
    claimed_cents[j] = np.round(m_m2[j] * (1 + rng.uniform(0.15, 0.6, len(j))) * 100).astype(np.int64)
    plan.add("AREA_INFLATED", "building", building_key[j])
    j = pick(plan.of("AREA_INFLATED~"))
    claimed_cents[j] = np.floor((m_m2[j] + 0.8 * TOLERANCE.limit_m2(m_m2[j])) * 100).astype(np.int64)

    j = pick(plan.of("NOT_AT_BASELINE"), shed=True)
    baseline[j] = 0.0
    plan.add("NOT_AT_BASELINE", "building", building_key[j])
    j = pick(plan.of("NOT_AT_BASELINE~"), shed=True)
    baseline[j] = rng.uniform(0.22, 0.25, len(j))
    m_seen = baseline[j] * m_m2[j]
    if np.any(claimed_cents[j] / 100 <= m_seen + TOLERANCE.limit_m2(m_seen)):
        raise GenerationError("a partly surveyed building did not come out inflated")
    plan.add("AREA_INFLATED", "building", building_key[j])

    h = plan.of("NOT_DEMOLISHED")
    j = first[h]
    after[j] = np.where(np.arange(len(j)) % 2 == 0, 1.0, rng.uniform(0.55, 0.95, len(j)))
    plan.add("NOT_DEMOLISHED", "building", building_key[j])
    j = first[plan.of("NOT_DEMOLISHED~")]
    after[j] = rng.uniform(0.40, 0.45, len(j))
    return baseline, after


def shift_strips(rng: np.random.Generator, plan: Plan, layout: Layout) -> dict[int, float]:
    """Push band-end farmland strips sideways out of the scope; returns parcel -> intended inside fraction."""
    p = layout.parcels
    width_m = layout.villages["width_m"].to_numpy()
    u0, u1 = p["u0"].to_numpy(copy=True), p["u1"].to_numpy(copy=True)
    east, village = p["band_end"].to_numpy() == "east", p["village"].to_numpy()
    intended = {}
    for role, lo, hi in (("OUTSIDE_SCOPE", 0.20, 0.35), ("OUTSIDE_SCOPE~", 0.55, 0.60)):
        for s in plan.strips.get(role, []):
            frac = float(rng.uniform(lo, hi))
            w = u1[s] - u0[s]
            u0[s] = width_m[village[s]] + SCOPE_MARGIN_M - frac * w if east[s] else -SCOPE_MARGIN_M + frac * w - w
            u1[s] = u0[s] + w
            intended[int(s)] = frac
    p["u0"], p["u1"] = u0, u1
    return intended


# ---- people -----------------------------------------------------------------------------------------------------

Table = dict[str, np.ndarray]


def members_of(plan: Plan, h: int) -> np.ndarray:
    """Person indices of the registry rows of project household ``h``."""
    return np.arange(plan.member_start[h], plan.member_start[h + 1])


def plant_names(rng: np.random.Generator, plan: Plan, persons: Table, head: np.ndarray) -> None:
    """Registry-side name changes made before claims are written: namesakes and minority names."""
    names = persons["name"]
    for a, b in zip(plan.of("DUPLICATE_PERSON~"), plan.partner.get("DUPLICATE_PERSON~", [])):
        names[head[b]] = names[head[a]]
    for h in plan.of("NAME_MISMATCH~dot"):
        male = persons["gender"][head[h]] == "M"
        options = [name for name, m in MINORITY_NAMES if m == male]
        names[head[h]] = options[int(rng.integers(0, len(options)))]


def _invalid_id(rng: np.random.Generator, valid: str, kind: int, variant: int) -> str:
    """A malformed variant of a valid ID: wrong check character, impossible date, or wrong length."""
    if kind == 0:
        chars = "0123456789X"
        return valid[:17] + chars[(chars.index(valid[17]) + int(rng.integers(1, 11))) % 11]
    if kind == 1:
        mmdd = ("0230", "0231", "1301", "0431", "0631", "0931", "1131", "0000", "1232")[int(rng.integers(0, 9))]
        body = valid[:10] + mmdd + valid[14:17]
        return body + id_check_char(body)
    return valid[:17] if variant % 2 == 0 else valid[:9] + str(int(rng.integers(0, 10))) + valid[9:]


def plant_claims(rng: np.random.Generator, plan: Plan, claims: Table, persons: Table, hh: Households,
                 project_villages: set[str]) -> None:
    """Bend claim rows: amounts, claimant IDs and names, outsiders and a person claiming twice (in place)."""
    c_hh = claims["hh"]
    first = np.searchsorted(c_hh, np.arange(len(hh)))
    count = np.bincount(c_hh, minlength=len(hh))
    ids, names = persons["id_number"], persons["name"]
    known = set(ids.tolist())

    def set_claimant(h: int, id_number: str, name: str, person: int = -1) -> None:
        rows = slice(first[h], first[h] + count[h])
        claims["claimant_id_number"][rows] = id_number
        claims["claimant_name"][rows] = name
        if person >= 0:
            claims["claimant"][rows] = person

    amount = claims["amount_cents"]
    for role, lo, hi in (("AMOUNT_MISMATCH", 10000, 500000), ("AMOUNT_MISMATCH~", 50, 90)):
        for h in plan.of(role):
            r = int(first[h] + rng.integers(0, count[h]))
            delta = int(rng.integers(lo, hi + 1))
            amount[r] += delta if (rng.random() < 0.5 or amount[r] <= delta) else -delta
            if role == "AMOUNT_MISMATCH":
                plan.add("AMOUNT_MISMATCH", "claim", claims["claim_id"][r])

    for i, h in enumerate(plan.of("ID_INVALID")):
        bad = _invalid_id(rng, ids[hh.claimant[h]], i % 3, i // 3)
        set_claimant(h, bad, names[hh.claimant[h]])
        plan.add("ID_INVALID", "person", bad)
    for i, h in enumerate(plan.of("ID_NOT_FOUND")):
        if i % 2 == 0:          # a one-digit slip in the sequence number, check character recomputed
            valid = ids[hh.claimant[h]]
            while True:
                pos = int(rng.integers(14, 17))
                body = valid[:pos] + str((int(valid[pos]) + int(rng.integers(1, 10))) % 10) + valid[pos + 1:17]
                typo = body + id_check_char(body)
                if typo not in known:
                    break
            known.add(typo)
            set_claimant(h, typo, names[hh.claimant[h]])
            plan.add("ID_NOT_FOUND", "person", typo)
        else:                   # a relative who is not in the registry extract at all
            p = plan.outsider()
            persons["in_registry"][p] = False
            set_claimant(h, ids[p], names[p], p)
            plan.add("ID_NOT_FOUND", "person", ids[p])
    for h in plan.of("NAME_MISMATCH"):
        name = names[hh.claimant[h]]
        k = next(i for i in range(1, len(name)) if name[i] in NAME_TYPOS)
        set_claimant(h, ids[hh.claimant[h]], name[:k] + NAME_TYPOS[name[k]] + name[k + 1:])
        plan.add("NAME_MISMATCH", "person", ids[hh.claimant[h]])
    for i, h in enumerate(plan.of("NAME_MISMATCH~space")):
        name = names[hh.claimant[h]]
        gap = (" ", "\u3000", " \u3000")[i % 3]
        set_claimant(h, ids[hh.claimant[h]], name[:1] + gap + name[1:] if i % 2 == 0 else " ".join(name))
    for i, h in enumerate(plan.of("NAME_MISMATCH~dot")):
        name = names[hh.claimant[h]]
        set_claimant(h, ids[hh.claimant[h]], name.replace("·", DOT_VARIANTS[i % len(DOT_VARIANTS)]))
    villages = persons["village_code"]
    for h in plan.of("NON_VILLAGER"):
        p = plan.outsider(lambda q: villages[q] not in project_villages)
        set_claimant(h, ids[p], names[p], p)
        plan.add("NON_VILLAGER", "person", ids[p])
    for a, b in zip(plan.of("DUPLICATE_PERSON"), plan.partner.get("DUPLICATE_PERSON", [])):
        set_claimant(b, ids[hh.claimant[a]], names[hh.claimant[a]], hh.claimant[a])
        plan.add("DUPLICATE_PERSON", "person", ids[hh.claimant[a]])


def plant_payments(rng: np.random.Generator, plan: Plan, payments: Table, persons: Table, hh: Households) -> None:
    """Overpay some households and pay one instalment to someone outside the household (in place)."""
    p_hh = payments["hh"]
    first, last = np.searchsorted(p_hh, np.arange(len(hh))), np.searchsorted(p_hh, np.arange(len(hh)), "right") - 1
    for role, lo, hi in (("OVERPAID", 200000, 5000000), ("OVERPAID~", 50, 50)):
        for h in plan.of(role):
            payments["amount_cents"][last[h]] += int(rng.integers(lo, hi + 1))
            if role == "OVERPAID":
                plan.add("OVERPAID", "household", hh.no[h])
    for h in plan.of("PAYEE_NOT_MEMBER"):
        r, p = first[h], plan.outsider()
        payments["payee"][r] = p
        payments["payee_id_number"][r] = persons["id_number"][p]
        payments["payee_name"][r] = persons["name"][p]
        plan.add("PAYEE_NOT_MEMBER", "payment", payments["payment_id"][r])


def plant_registry(rng: np.random.Generator, plan: Plan, persons: Table, hh: Households, payments: Table) -> None:
    """Deaths, moves and splits around the freeze date, on the claimants' registry rows (in place)."""
    ids, reg = persons["id_number"], hh.registered_on
    p_hh, p_on = payments["hh"], payments["paid_on"]
    first_paid = np.full(len(hh), np.datetime64("NaT"), dtype="datetime64[D]")
    last_paid = first_paid.copy()
    order = np.lexsort((p_on, p_hh))
    first_paid[p_hh[order][::-1]] = p_on[order][::-1]
    last_paid[p_hh[order]] = p_on[order]

    def status(role: str, value: str, dates: np.ndarray, rule: str | None) -> None:
        c = hh.claimant[plan.of(role)]
        persons["status"][c] = value
        persons["status_date"][c] = iso(dates)
        if rule:
            plan.add(rule, "person", ids[c])

    h = plan.of("DECEASED")
    status("DECEASED", "deceased", reg[h] - rng.integers(30, 400, len(h)), "DECEASED")
    h = plan.of("DECEASED_PAYEE")
    status("DECEASED_PAYEE", "deceased", random_dates(rng, reg[h] + DAY, first_paid[h] - DAY, len(h)), "DECEASED")
    h = plan.of("DECEASED~")
    last = np.where(np.isnat(last_paid[h]), reg[h], np.maximum(reg[h], last_paid[h]))
    status("DECEASED~", "deceased", last + DAY, None)
    h = plan.of("MOVED_OUT")
    status("MOVED_OUT", "moved_out", random_dates(rng, "2018-01-01", FREEZE - DAY, len(h)), "MOVED_OUT")
    status("MOVED_OUT~", "moved_out", np.full(len(plan.of("MOVED_OUT~")), FREEZE), None)

    h = plan.of("MOVED_IN_AFTER_FREEZE")
    persons["moved_in_on"][hh.claimant[h]] = iso(random_dates(rng, FREEZE, reg[h] - DAY, len(h)))
    plan.add("MOVED_IN_AFTER_FREEZE", "person", ids[hh.claimant[h]])
    h = plan.of("MOVED_IN_AFTER_FREEZE~")
    persons["moved_in_on"][hh.claimant[h]] = iso(np.full(len(h), FREEZE - DAY))

    for role in ("SPLIT_AFTER_FREEZE", "SPLIT_AFTER_FREEZE~"):
        for new, old in zip(plan.of(role), plan.partner.get(role, [])):
            on = random_dates(rng, FREEZE, reg[new] - DAY, 1)[0] if role == "SPLIT_AFTER_FREEZE" else FREEZE - DAY
            rows = members_of(plan, new)
            persons["split_from_household_no"][rows] = hh.no[old]
            persons["split_on"][rows] = iso(np.array([on]))[0]
            if role == "SPLIT_AFTER_FREEZE":
                plan.add(role, "household", hh.no[new])


# ---- staff, approvals, photos -----------------------------------------------------------------------------------

def plant_staff(rng: np.random.Generator, plan: Plan, persons: Table, hh: Households, head: np.ndarray,
                staff_person: np.ndarray, fresh_household: Callable[[str], str]) -> None:
    """Register field crews in (or next to, by a split) a household they handle; the near miss lives next door."""
    for i, h in enumerate(plan.of("STAFF_CONFLICT")):
        p = staff_person[hh.crew[h]]
        village = hh.village_code[h]
        persons["village_code"][p] = village
        old = iso(random_dates(rng, "2003-01-01", "2018-12-31", 1))[0]
        if i % 3 == 0:      # a member of the very household
            younger = persons["birth_date"][p] > persons["birth_date"][head[h]]
            male = persons["gender"][p] == "M"
            persons["household_no"][p] = hh.no[h]
            persons["relation_to_head"][p] = ("子" if male else "女") if younger else ("兄弟" if male else "姐妹")
        elif i % 3 == 1:    # in the household this one was split from
            parent = fresh_household(village)
            persons["household_no"][p] = parent
            rows = members_of(plan, h)
            persons["split_from_household_no"][rows] = parent
            persons["split_on"][rows] = old
        else:               # in a household split from this one
            persons["household_no"][p] = fresh_household(village)
            persons["split_from_household_no"][p] = hh.no[h]
            persons["split_on"][p] = old
        plan.add("STAFF_CONFLICT", "household", hh.no[h])
    for h in plan.of("STAFF_CONFLICT~"):
        p = staff_person[hh.crew[h]]
        persons["village_code"][p] = hh.village_code[h]
        persons["household_no"][p] = fresh_household(hh.village_code[h])


def plant_approvals(rng: np.random.Generator, plan: Plan, approvals: pd.DataFrame,
                    parcel_code: np.ndarray) -> pd.DataFrame:
    """Homestead approvals dated on/after the freeze (and one day before, as near misses)."""
    added = []
    for role in ("HOMESTEAD_AFTER_FREEZE", "HOMESTEAD_AFTER_FREEZE~"):
        h = plan.of(role)
        on = random_dates(rng, FREEZE, FREEZE + 60, len(h)) if "~" not in role else np.full(len(h), FREEZE - DAY)
        added.append(pd.DataFrame({"parcel": h, "hh": h, "approved_on": on}))   # homestead parcel index = hh
        if "~" not in role:
            plan.add(role, "parcel", parcel_code[h])
    touched = np.concatenate([a["parcel"].to_numpy() for a in added])
    kept = approvals[~approvals["parcel"].isin(touched)]
    return pd.concat([kept] + added, ignore_index=True)


def plant_photos(rng: np.random.Generator, plan: Plan, photos: Table, layout: Layout) -> None:
    """Move a photo of some households 0.3-3 km north of the homestead (near miss: 150 m) (in place)."""
    first = np.searchsorted(photos["hh"], np.arange(len(plan.reserved)))
    home = layout.parcels[["u0", "v0", "u1", "v1"]].to_numpy()
    for role, lo, hi in (("PHOTO_FAR_FROM_PARCEL", 300.0, 3000.0), ("PHOTO_FAR_FROM_PARCEL~", 145.0, 155.0)):
        for h in plan.of(role):
            take = 1 + int(rng.random() < 0.3) if "~" not in role else 1
            for r in range(first[h], first[h] + take):
                photos["u"][r] = (home[h, 0] + home[h, 2]) / 2 + rng.uniform(-5, 5)
                photos["v"][r] = home[h, 3] + rng.uniform(lo, hi)
                if "~" not in role:
                    plan.add(role, "photo", photos["photo_id"][r])
