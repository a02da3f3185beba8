"""Synthetic people: Chinese names, GB 11643-1999 resident ID numbers, households and the registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from stdnum.cn.ric import calc_check_digit

LOCAL_COUNTY = "210112"
#: County codes of people born or registered elsewhere (Shenyang districts, Liaoning, further away).
OTHER_COUNTIES = ("210111", "210106", "210181", "211221", "210103", "210113", "210114", "210124",
                  "211002", "211382", "220104", "230103", "370283", "410322")

SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
            "何", "林", "高", "罗", "单", "曾", "于", "董", "韩", "崔", "姜", "关", "富", "佟")
_SURNAME_WEIGHTS = np.array([9, 8, 8, 7, 5, 4, 4, 2, 2, 2, 2, 3, 2, 2, 2, 2,
                             1.5, 1.5, 2, 1, 1, 1, 3, 2, 2, 2, 2, 2, 1, 1.5])
SURNAME_P = _SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum()

#: Two-character given names by era of birth (before 1960, 1960-1985, after 1985) and gender.
GIVEN_NAMES: dict[tuple[int, bool], tuple[str, ...]] = {
    (0, True): ("德明", "德胜", "国华", "振国", "长福", "玉林", "凤山", "福臣", "宝山", "文祥", "殿臣", "忠义", "树林", "永祥", "庆余", "广顺", "万福",
                "金山", "玉田", "长海", "凤岐", "洪福", "志清", "景春", "汉臣", "春林", "国栋", "宝华", "连生", "玉明", "德福", "树清", "长春", "俊峰",
                "庆华"),
    (0, False): ("秀兰", "桂兰", "淑珍", "玉兰", "凤英", "桂芝", "秀英", "玉珍", "淑华", "素芬", "凤兰", "秀珍", "桂荣", "玉芬", "淑芳", "桂英",
                 "玉华", "凤芝", "秀云", "淑兰", "桂珍", "玉梅", "素珍", "凤霞", "秀芳", "淑英", "桂芳", "玉凤", "秀华", "丽珍"),
    (1, True): ("建国", "志强", "建华", "国庆", "海军", "立新", "卫东", "红军", "建军", "志刚", "永刚", "洪涛", "春雷", "国强", "振华", "铁军", "宏伟",
                "成林", "晓东", "德利", "长江", "海峰", "立军", "新华", "明亮", "文杰", "庆丰", "玉峰", "东升", "春明", "志伟", "国平", "云峰", "利民",
                "明华", "永平"),
    (1, False): ("丽华", "秀云", "红梅", "玉梅", "春燕", "艳华", "晓红", "丽娟", "桂香", "海燕", "凤霞", "艳玲", "丽萍", "秀梅", "红霞", "晓梅",
                 "静华", "淑英", "春兰", "丽丽", "艳红", "玉红", "冬梅", "彩云", "美玲", "雪梅", "小芳", "秋菊", "金凤", "丽芳", "海英"),
    (2, True): ("浩然", "宇航", "子豪", "俊杰", "博文", "天宇", "鑫磊", "明轩", "家豪", "志远", "一鸣", "晨阳", "思远", "泽宇", "浩宇", "文博", "嘉伟",
                "子轩", "皓轩", "宇峰", "佳明", "俊豪", "振宇", "明杰", "天明", "鹏飞", "铭泽", "宏宇", "睿杰", "博涛"),
    (2, False): ("欣怡", "子涵", "雨桐", "思琪", "佳怡", "梦瑶", "诗涵", "雅婷", "可馨", "婉婷", "静怡", "晓雪", "欣然", "梓萱", "佳琪", "雨欣",
                 "紫涵", "思雨", "若曦", "语桐", "一诺", "心怡", "梦琪", "雅静", "丽娜", "晓丽", "佳丽", "美琳", "雪莹", "艳芳"),
}

#: Homophones (同音字) and look-alike typos used to plant name mismatches: registry char -> written char.
NAME_TYPOS: dict[str, str] = {
    "华": "桦", "丽": "莉", "伟": "玮", "明": "铭", "军": "君", "英": "瑛", "兰": "岚", "芳": "方", "静": "婧",
    "杰": "洁", "峰": "锋", "梅": "玫", "红": "宏", "霞": "侠", "林": "琳", "涛": "滔", "燕": "艳", "玉": "钰",
    "凤": "风", "刚": "钢", "平": "萍", "东": "冬", "云": "芸", "珍": "贞", "福": "富", "春": "椿", "国": "帼",
    "志": "智", "海": "每", "庆": "床", "秀": "绣", "淑": "叔", "桂": "挂", "宝": "保", "德": "得", "永": "泳",
    "文": "雯", "建": "健", "新": "鑫", "生": "笙", "山": "杉", "田": "甜", "清": "青", "宇": "羽", "子": "孑",
    "博": "搏", "晓": "小", "雪": "薛", "佳": "嘉", "琪": "棋", "欣": "昕", "涵": "含", "思": "斯", "雨": "羽",
}

#: Minority names written with a middle dot (registry spelling uses U+00B7).
MINORITY_NAMES: tuple[tuple[str, bool], ...] = (
    ("阿依古丽·买买提", False), ("买买提·艾力", True), ("古丽娜尔·吐尔逊", False), ("阿不都·热合曼", True),
    ("娜仁·其其格", False), ("巴特尔·孟和", True), ("努尔·艾合买提", True), ("迪丽拜尔·阿不都", False),
)
#: Other spellings of the middle dot that normalise to U+00B7 (katakana, halfwidth katakana, bullet, hyphenation).
DOT_VARIANTS = ("\u30fb", "\uff65", "\u2022", "\u2027")

RELATION_RANK = {"户主": 0, "配偶": 1, "子": 2, "女": 2, "父亲": 3, "母亲": 3, "孙子": 4, "孙女": 4}
PERSON_COLUMNS = ("id_number", "name", "gender", "birth_date", "household_no", "relation_to_head",
                  "village_code", "status", "status_date", "moved_in_on", "split_from_household_no", "split_on")


def iso(days: np.ndarray) -> np.ndarray:
    """ISO strings of datetime64[D] values ('' for NaT), as an object array."""
    out = np.datetime_as_string(np.asarray(days, dtype="datetime64[D]"), unit="D").astype(object)
    out[out == "NaT"] = ""
    return out


DateLike = np.ndarray | np.datetime64 | str


def random_dates(rng: np.random.Generator, start: DateLike, end: DateLike, size: int) -> np.ndarray:
    """Uniform dates in [start, end] (both inclusive, broadcast), as datetime64[D]."""
    lo = np.broadcast_to(np.asarray(start, dtype="datetime64[D]"), (size,))
    hi = np.broadcast_to(np.asarray(end, dtype="datetime64[D]"), (size,))
    span = np.maximum((hi - lo).astype(np.int64), 0)
    return lo + np.floor(rng.random(size) * (span + 1)).astype(np.int64)


def birth_dates(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    """A uniform day within each given year, as datetime64[D]."""
    years = np.asarray(years, dtype=np.int64)
    start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    end = (years - 1969).astype("datetime64[Y]").astype("datetime64[D]") - np.timedelta64(1, "D")
    return random_dates(rng, start, end, len(years))


def id_check_char(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a 17-digit ID body (via python-stdnum)."""
    return calc_check_digit(body17 + "0")


def given_names(rng: np.random.Generator, male: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """Two-character given names fitting each person's gender and era of birth."""
    era = np.where(birth_year < 1960, 0, np.where(birth_year <= 1985, 1, 2))
    out = np.empty(len(male), dtype=object)
    for key, names in GIVEN_NAMES.items():
        mask = (era == key[0]) & (male == key[1])
        out[mask] = np.asarray(names, dtype=object)[rng.integers(0, len(names), int(mask.sum()))]
    return out


def surnames(rng: np.random.Generator, size: int) -> np.ndarray:
    """Surnames drawn with realistic frequencies."""
    return np.asarray(SURNAMES, dtype=object)[rng.choice(len(SURNAMES), size=size, p=SURNAME_P)]


class PersonBook:
    """Accumulates people in batches and issues unique GB 11643 ID numbers."""

    def __init__(self) -> None:
        self._batches: list[dict[str, np.ndarray]] = []
        self._issued = np.empty(0, dtype=np.int64)
        self.size = 0

    def issue_ids(self, rng: np.random.Generator, county: np.ndarray, birth: np.ndarray,
                  male: np.ndarray) -> np.ndarray:
        """Unique 18-character ID numbers: county, birth date, sequence (odd = male), check character."""
        birth = np.asarray(birth, dtype="datetime64[D]")
        year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
        month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
        day = (birth - birth.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
        base = np.asarray(county).astype(np.int64) * 10**11 + (year * 10000 + month * 100 + day) * 1000
        male = np.asarray(male, dtype=bool)

        def seq(mask: np.ndarray) -> np.ndarray:
            k = int(mask.sum())
            odd = 2 * rng.integers(0, 500, k) + 1
            even = 2 * rng.integers(1, 500, k)
            return np.where(male[mask], odd, even)

        body = base.copy()
        todo = np.ones(len(body), dtype=bool)
        while todo.any():
            body[todo] = base[todo] + seq(todo)
            todo = pd.Series(body).duplicated().to_numpy() | np.isin(body, self._issued)
        self._issued = np.concatenate([self._issued, body])
        bodies = body.astype(str)
        return np.array([b + id_check_char(b) for b in bodies], dtype=object)

    def add(self, **columns: np.ndarray) -> np.ndarray:
        """Append a batch of people (columns of equal length); returns their person indices."""
        n = len(next(iter(columns.values())))
        batch = {k: np.asarray(v, dtype=object) if np.asarray(v).dtype.kind in "OUS" else np.asarray(v)
                 for k, v in columns.items()}
        for col in PERSON_COLUMNS:
            batch.setdefault(col, np.full(n, "", dtype=object))
        batch.setdefault("in_registry", np.ones(n, dtype=bool))
        batch.setdefault("hh", np.full(n, -1, dtype=np.int64))
        batch.setdefault("kind", np.full(n, "member", dtype=object))
        self._batches.append(batch)
        idx = np.arange(self.size, self.size + n)
        self.size += n
        return idx

    def frame(self) -> pd.DataFrame:
        """All people as one frame indexed by person index (registry columns plus bookkeeping)."""
        cols = list(PERSON_COLUMNS) + ["in_registry", "hh", "kind"]
        data = {c: np.concatenate([b[c] for b in self._batches]) for c in cols}
        frame = pd.DataFrame({c: pd.Series(v, dtype=object) if v.dtype == object else v for c, v in data.items()})
        return frame


@dataclass
class Population:
    """Every person of the district and the roles they play in the project households."""

    persons: pd.DataFrame          # indexed by person index; registry columns + in_registry, hh, kind
    head: np.ndarray               # person index of each project household's head
    spouse: np.ndarray             # person index of an active spouse, or -1
    split_related: np.ndarray      # household takes part in an old split (either side)
    external_pool: np.ndarray      # adult, active people of households outside the project, free to use
    staff: np.ndarray              # person index of each staff member (in staff order)
    next_serial: dict[str, int]    # next free non-project household serial per project village


def _members(rng: np.random.Generator, book: PersonBook, hh_no: np.ndarray,
             village: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Registry members of the project households; returns (head, active spouse or -1) indices."""
    n = len(hh_no)
    hh = np.arange(n)
    nat = np.datetime64("NaT")
    blocks: list[tuple[np.ndarray, ...]] = []

    def block(h: np.ndarray, male: np.ndarray, birth: np.ndarray, sn: np.ndarray, rel: object, county: object,
              status: object = "active", status_date: object = nat, moved_in: object = nat) -> None:
        k = len(h)
        blocks.append((h, male, birth, sn, np.broadcast_to(np.asarray(rel, dtype=object), (k,)),
                       np.broadcast_to(np.asarray(county, dtype=object), (k,)),
                       np.broadcast_to(np.asarray(status, dtype=object), (k,)),
                       np.broadcast_to(np.asarray(status_date, dtype="datetime64[D]"), (k,)),
                       np.broadcast_to(np.asarray(moved_in, dtype="datetime64[D]"), (k,))))

    head_male = rng.random(n) < 0.88
    head_year = np.where(rng.random(n) < 0.28, rng.integers(1935, 1960, n), rng.integers(1960, 1986, n))
    head_sn = surnames(rng, n)
    block(hh, head_male, birth_dates(rng, head_year), head_sn, "户主",
          np.where(rng.random(n) < 0.85, LOCAL_COUNTY, rng.choice(OTHER_COUNTIES, n)).astype(object))

    # Spouse: 90 % active, 7 % died long ago, 3 % none.
    u = rng.random(n)
    sh = hh[u < 0.97]
    m = len(sh)
    sp_male = ~head_male[sh]
    sp_birth = birth_dates(rng, head_year[sh] + np.where(sp_male, rng.integers(-3, 6, m), rng.integers(-6, 3, m)))
    marriage = np.minimum(sp_birth + (rng.uniform(20, 27, m) * 365.25).astype(np.int64),
                          np.datetime64("2018-12-31"))
    dead = u[sh] >= 0.90
    death = random_dates(rng, np.maximum(sp_birth + 40 * 365, np.datetime64("1995-01-01")), "2022-12-31", m)
    sp_sn = surnames(rng, m)
    block(sh, sp_male, sp_birth, sp_sn, "配偶",
          np.where(rng.random(m) < 0.55, LOCAL_COUNTY, rng.choice(OTHER_COUNTIES, m)).astype(object),
          np.where(dead, "deceased", "active").astype(object), np.where(dead, death, nat),
          np.where(rng.random(m) < 0.7, marriage, nat))
    father_sn = head_sn.copy()
    fem = ~head_male[sh]
    father_sn[sh[fem]] = sp_sn[fem]

    # Children: 0-3 depending on the head's generation; some grown children moved out.
    u = rng.random(n)
    cum = np.where((head_year < 1960)[:, None], np.cumsum([0.1, 0.3, 0.35, 0.25]),
                   np.where((head_year <= 1975)[:, None], np.cumsum([0.1, 0.45, 0.35, 0.1]),
                            np.cumsum([0.15, 0.5, 0.3, 0.05])))
    n_child = (u[:, None] > cum).sum(axis=1)
    ch = np.repeat(hh, n_child)
    nth = np.arange(len(ch)) - np.repeat(np.cumsum(n_child) - n_child, n_child)
    c = len(ch)
    ch_year = np.minimum(head_year[ch] + 22 + 3 * nth + rng.integers(0, 4, c), 2020)
    ch_male = rng.random(c) < 0.52
    ch_birth = birth_dates(rng, ch_year)
    gone = (ch_year <= 1998) & (rng.random(c) < 0.25)
    left = random_dates(rng, ch_birth + 18 * 365, "2024-06-30", c)
    block(ch, ch_male, ch_birth, father_sn[ch], np.where(ch_male, "子", "女").astype(object), LOCAL_COUNTY,
          np.where(gone, "moved_out", "active").astype(object), np.where(gone, left, nat))

    # An elderly parent (born in the 1920s-1960s) for some younger heads; some died long ago.
    par = hh[(head_year >= 1958) & (rng.random(n) < 0.22)]
    p = len(par)
    par_male = rng.random(p) < 0.45
    par_dead = rng.random(p) < 0.35
    block(par, par_male, birth_dates(rng, head_year[par] - rng.integers(22, 33, p)),
          np.where(par_male & head_male[par], head_sn[par], surnames(rng, p)),
          np.where(par_male, "父亲", "母亲").astype(object), LOCAL_COUNTY,
          np.where(par_dead, "deceased", "active").astype(object),
          np.where(par_dead, random_dates(rng, "2005-01-01", "2023-12-31", p), nat))

    # Grandchildren in households with a grown child still at home.
    grown = np.zeros(n, dtype=bool)
    grown[ch[(ch_year <= 1992) & ~gone]] = True
    gc = hh[grown & (rng.random(n) < 0.35)]
    g = len(gc)
    gc_male = rng.random(g) < 0.5
    block(gc, gc_male, birth_dates(rng, rng.integers(2008, 2022, g)), father_sn[gc],
          np.where(gc_male, "孙子", "孙女").astype(object), LOCAL_COUNTY)

    h_all, male, birth, sn, rel, county, status, status_date, moved_in = (
        np.concatenate([b[i] for b in blocks]) for i in range(9))
    rank = np.array([RELATION_RANK[r] for r in rel])
    order = np.lexsort((birth.astype(np.int64), rank, h_all))
    h_all, male, birth, sn, rel, county, status, status_date, moved_in = (
        a[order] for a in (h_all, male, birth, sn, rel, county, status, status_date, moved_in))
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    ids = book.issue_ids(rng, county, birth, male)
    pids = book.add(id_number=ids, name=sn + given_names(rng, male, year),
                    gender=np.where(male, "M", "F").astype(object), birth_date=iso(birth),
                    household_no=hh_no[h_all], relation_to_head=rel, village_code=village[h_all],
                    status=status, status_date=iso(status_date), moved_in_on=iso(moved_in), hh=h_all)
    head = pids[rel == "户主"]
    spouse = np.full(n, -1)
    sp_rows = (rel == "配偶") & (status == "active")
    spouse[h_all[sp_rows]] = pids[sp_rows]
    return head, spouse


def _external(rng: np.random.Generator, book: PersonBook, target_rows: int, project_villages: np.ndarray,
              next_serial: dict[str, int]) -> np.ndarray:
    """Registry households outside the project (other villages, non-project households); returns adults."""
    n_hh = max(4, int(target_rows / 2.6))
    n_ext_villages = max(6, len(project_villages))
    counties = rng.choice(["210112", "210111", "210106", "210181", "211221", "210114"], n_ext_villages)
    towns = np.where(counties == "210112", rng.integers(104, 110, n_ext_villages),
                     rng.integers(100, 121, n_ext_villages))
    codes = np.unique(np.char.add(np.char.add(counties.astype(str), np.char.zfill(towns.astype(str), 3)),
                                  np.char.zfill(rng.integers(200, 300, n_ext_villages).astype(str), 3)))
    in_project = rng.random(n_hh) < 0.35
    vill = np.where(in_project, rng.choice(project_villages, n_hh), rng.choice(codes, n_hh)).astype(object)
    serial = np.empty(n_hh, dtype=np.int64)
    for i, v in enumerate(vill):  # a few thousand at most
        serial[i] = next_serial.get(v, 1)
        next_serial[v] = serial[i] + 1
    hh_no = np.array([f"{v}{s:04d}" for v, s in zip(vill, serial)], dtype=object)
    size = rng.integers(1, 5, n_hh)
    idx = np.repeat(np.arange(n_hh), size)
    pos = np.arange(len(idx)) - np.repeat(np.cumsum(size) - size, size)
    k = len(idx)
    head_year = rng.integers(1945, 1996, n_hh)
    head_male = rng.random(n_hh) < 0.8
    rel = np.where(pos == 0, "户主", np.where(pos == 1, "配偶", "子")).astype(object)
    male = np.where(pos == 0, head_male[idx], np.where(pos == 1, ~head_male[idx], rng.random(k) < 0.5))
    rel[(pos >= 2) & ~male] = "女"
    year = np.where(pos <= 1, head_year[idx] + rng.integers(-3, 4, k), np.minimum(head_year[idx] + 25, 2020))
    sn = np.where(pos == 1, surnames(rng, k), surnames(rng, n_hh)[idx])
    birth = birth_dates(rng, year)
    county = np.where(rng.random(k) < 0.5, vill[idx].astype(str).astype("U6"), rng.choice(OTHER_COUNTIES, k))
    ids = book.issue_ids(rng, county.astype(object), birth, male)
    pids = book.add(id_number=ids, name=sn + given_names(rng, male, year),
                    gender=np.where(male, "M", "F").astype(object), birth_date=iso(birth),
                    household_no=hh_no[idx], relation_to_head=rel, village_code=vill[idx],
                    status=np.full(k, "active", object), kind=np.full(k, "external", object))
    return pids[(pos <= 1) & (year <= 1998)]


def staff_people(rng: np.random.Generator, book: PersonBook, n_staff: int, project_villages: np.ndarray,
                 next_serial: dict[str, int]) -> np.ndarray:
    """One registry row per staff member, as head of a small household outside the project."""
    year = rng.integers(1965, 1999, n_staff)
    male = rng.random(n_staff) < 0.6
    birth = birth_dates(rng, year)
    county = np.where(rng.random(n_staff) < 0.6, LOCAL_COUNTY, rng.choice(OTHER_COUNTIES, n_staff)).astype(object)
    near = rng.random(n_staff) < 0.15
    vill = np.where(near, rng.choice(project_villages, n_staff),
                    np.char.add(np.asarray(rng.choice(["210111", "210106", "210103", "210113"], n_staff)),
                                np.char.zfill(rng.integers(100200, 100300, n_staff).astype(str), 6))).astype(object)
    hh_no = np.empty(n_staff, dtype=object)
    for i, v in enumerate(vill):
        s = next_serial.get(v, 1)
        next_serial[v] = s + 1
        hh_no[i] = f"{v}{s:04d}"
    ids = book.issue_ids(rng, county, birth, male)
    return book.add(id_number=ids, name=surnames(rng, n_staff) + given_names(rng, male, year),
                    gender=np.where(male, "M", "F").astype(object), birth_date=iso(birth), household_no=hh_no,
                    relation_to_head=np.full(n_staff, "户主", object), village_code=vill,
                    status=np.full(n_staff, "active", object), kind=np.full(n_staff, "staff", object))


def build_population(rng: np.random.Generator, hh_no: np.ndarray, hh_village: np.ndarray,
                     hh_serial: np.ndarray, n_staff: int) -> Population:
    """Members of every project household, old splits, relatives elsewhere and the staff."""
    book = PersonBook()
    head, spouse = _members(rng, book, hh_no, hh_village)
    project_villages = np.unique(hh_village)
    next_serial = {v: 5001 for v in project_villages}
    members = book.size
    pool = _external(rng, book, max(10, int(0.2 * members) - n_staff), project_villages, next_serial)
    staff = staff_people(rng, book, n_staff, project_villages, next_serial)
    persons = book.frame()

    # Old splits (years before the freeze): from an earlier project household of the village or from
    # a household outside the project.  All rows of the new household carry the split.
    n = len(hh_no)
    split_related = np.zeros(n, dtype=bool)
    cand = np.flatnonzero((hh_serial > 1) & (rng.random(n) < 0.08))
    from_project = rng.random(len(cand)) < 0.6
    split_from = np.empty(len(cand), dtype=object)
    for j, h in enumerate(cand):
        if from_project[j]:
            parent = h - 1 - int(rng.integers(0, hh_serial[h] - 1))
            split_from[j] = hh_no[parent]
            split_related[parent] = True
        else:
            v = hh_village[h]
            split_from[j] = f"{v}{next_serial[v]:04d}"
            next_serial[v] += 1
    split_related[cand] = True
    split_on = iso(random_dates(rng, "1998-01-01", "2020-12-31", len(cand)))
    rows = persons["hh"].to_numpy()
    pos = np.full(n, -1)
    pos[cand] = np.arange(len(cand))
    hit = (rows >= 0) & (pos[np.maximum(rows, 0)] >= 0)
    persons.loc[hit, "split_from_household_no"] = split_from[pos[rows[hit]]]
    persons.loc[hit, "split_on"] = split_on[pos[rows[hit]]]
    return Population(persons=persons, head=head, spouse=spouse, split_related=split_related,
                      external_pool=pool, staff=staff, next_serial=next_serial)
