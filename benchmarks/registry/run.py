"""Registry benchmark: city-scale registry import, and every supervision model against it.

Usage (from the repository root)::

    .venv/bin/python benchmarks/registry/run.py --registry-sizes 1000000 5000000 --claims-households 17000

1. ``registry import``: a synthetic city registry of N people (valid GB 11643 IDs, realistic
   columns) is written once to ``benchmarks/out/registry_N.csv``; then, each in a fresh process:
   ``expro``: ``supervision.registry_import.import_registry`` (every row validated, vectorised ID
   check, duplicates, COPY through a staging table, one transaction) and ``peer``: a bare
   ``COPY ... FROM STDIN`` of the same file into an unindexed scratch table, no validation at all
   (the lower bound any loader pays).
2. ``check``: a synthetic district with about 100,000 claims (``--claims-households`` households) is
   imported next to the largest city-wide extract, and ``expro check`` (all 20 models) is timed, in a
   fresh process; the peer is pandas: the same six person rules (ID_NOT_FOUND, NAME_MISMATCH,
   DECEASED, MOVED_OUT, NON_VILLAGER, MOVED_IN_AFTER_FREEZE) computed by merging claims with the
   registry read into memory (``pd.read_sql``).
Results: a Markdown table on stdout, JSON lines appended to ``benchmarks/out/registry_results.jsonl``.
The benchmark's projects and extracts are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))

WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
CHECK = np.array(list("10X98765432"))
HEADER = ("id_number,name,gender,birth_date,household_no,relation_to_head,village_code,status,status_date,"
          "moved_in_on,split_from_household_no,split_on\n")


def write_registry(n: int, path: Path, seed: int = 7) -> None:
    """A city registry of ``n`` people with unique, valid IDs (vectorised)."""
    rng = np.random.default_rng(seed)
    counties = np.array([210102, 210103, 210104, 210105, 210106, 210111, 210112, 210113, 210114, 210181])
    county = counties[rng.integers(0, len(counties), n)]
    birth = (np.datetime64("1930-01-01") + rng.integers(0, 365 * 90, n).astype("timedelta64[D]"))
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    seq = np.arange(n) % 1000
    body = np.char.add(np.char.add(county.astype(str), ymd), np.char.zfill(seq.astype(str), 3))
    # uniqueness: county+date+seq collide rarely; resolve by re-drawing the sequence from the row number
    digits = np.frombuffer("".join(body).encode(), dtype=np.uint8).reshape(n, 17).astype(np.int64) - 48
    ids = np.char.add(body, CHECK[(digits @ WEIGHTS) % 11])
    _, first = np.unique(ids, return_index=True)
    keep = np.zeros(n, bool)
    keep[first] = True
    surnames = np.array(list("王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗"))
    given = np.array(["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛"])
    names = np.char.add(np.char.add(surnames[rng.integers(0, 20, n)], given[rng.integers(0, 15, n)]),
                        given[rng.integers(0, 15, n)])
    household = np.char.add("3101", np.char.zfill((np.arange(n) // 4).astype(str), 12))
    status = np.where(rng.random(n) < 0.03, "deceased", np.where(rng.random(n) < 0.05, "moved_out", "active"))
    status_date = np.where(status == "active", "", "2010-06-01")
    gender = np.where(seq % 2 == 1, "M", "F")
    village = np.char.add(county.astype(str), np.char.zfill(rng.integers(100001, 100999, n).astype(str), 6))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for lo in range(0, n, 500_000):
            hi = min(n, lo + 500_000)
            m = keep[lo:hi]
            cols = [ids[lo:hi], names[lo:hi], gender[lo:hi], np.datetime_as_string(birth[lo:hi], unit="D"),
                    household[lo:hi], np.full(hi - lo, "户主"), village[lo:hi], status[lo:hi], status_date[lo:hi]]
            lines = cols[0][m]
            for c in cols[1:]:
                lines = np.char.add(np.char.add(lines, ","), c[m])
            fh.write(",,,\n".join(lines.tolist()) + ",,,\n")


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
mode, arg = sys.argv[1], sys.argv[2]
from expro import db
engine = db.get_engine()
t0 = time.perf_counter()
out = {{}}
if mode == "import":
    from supervision.registry_import import import_registry
    with engine.begin() as conn:
        res = import_registry(conn, Path(arg), progress=False)
    out["rows"] = res.rows
    out["extract_id"] = res.extract_id
elif mode == "copy":
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_registry_copy")
        cur.execute("CREATE UNLOGGED TABLE bench_registry_copy (id_number text, name text, gender text, birth_date text, "
                    "household_no text, relation_to_head text, village_code text, status text, status_date text, "
                    "moved_in_on text, split_from_household_no text, split_on text)")
        with open(arg, encoding="utf-8") as fh:
            cur.copy_expert("COPY bench_registry_copy FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
        cur.execute("SELECT count(*) FROM bench_registry_copy")
        out["rows"] = cur.fetchone()[0]
        cur.execute("DROP TABLE bench_registry_copy")
        raw.commit()
    finally:
        raw.close()
elif mode == "check":
    from supervision import models
    with engine.begin() as conn:
        out["alerts"] = models.run_all(conn, arg)
elif mode == "peer_check":
    import pandas as pd
    from sqlalchemy import text
    with engine.connect() as conn:
        pid, freeze = conn.execute(text("SELECT id, pre_announcement_date FROM project WHERE code = :c"), {{"c": arg}}).one()
        claims = pd.read_sql(text("SELECT c.claimant_id_number AS id_number, c.claimant_name, c.registered_on, "
                                  "pa.village_code AS parcel_village FROM claim c JOIN parcel pa ON pa.id = c.parcel_id "
                                  "WHERE c.project_id = :p"), conn, params={{"p": pid}})
        reg = pd.read_sql(text("SELECT DISTINCT ON (id_number) id_number, name, status, status_date, village_code, "
                               "moved_in_on FROM registry_person WHERE extract_id IN "
                               "(SELECT extract_id FROM expro_registry_extracts(:p)) ORDER BY id_number, extract_id DESC"),
                          conn, params={{"p": pid}})
    out["load_seconds"] = time.perf_counter() - t0
    m = claims.merge(reg, on="id_number", how="left", indicator=True)
    norm = lambda s: s.str.normalize("NFKC").str.replace(r"\s+", "", regex=True)
    hits = {{
        "ID_NOT_FOUND": m.loc[m["_merge"] == "left_only", "id_number"].nunique(),
        "NAME_MISMATCH": m.loc[(m["_merge"] == "both") & (norm(m["claimant_name"]) != norm(m["name"])), "id_number"].nunique(),
        "DECEASED": m.loc[(m["status"] == "deceased") & (pd.to_datetime(m["status_date"]) < pd.to_datetime(m["registered_on"])), "id_number"].nunique(),
        "MOVED_OUT": m.loc[(m["status"] == "moved_out") & (pd.to_datetime(m["status_date"]) < pd.Timestamp(freeze)), "id_number"].nunique(),
        "NON_VILLAGER": m.loc[m["village_code"].notna() & (m["village_code"] != m["parcel_village"]), "id_number"].nunique(),
        "MOVED_IN_AFTER_FREEZE": m.loc[pd.to_datetime(m["moved_in_on"]) >= pd.Timestamp(freeze), "id_number"].nunique(),
    }}
    out["alerts"] = hits
out["seconds"] = time.perf_counter() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out, default=str))
"""


def child(mode: str, arg: str) -> dict:
    """Run one measured step in a fresh process."""
    res = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, arg], capture_output=True,
                         text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry-sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--claims-households", type=int, default=17_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    from sqlalchemy import text

    from expro import db

    rows = []
    extracts = []
    for n in args.registry_sizes:
        path = OUT / f"registry_{n}.csv"
        if not path.exists():
            t0 = time.perf_counter()
            write_registry(n, path)
            print(f"wrote {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        expro = child("import", str(path))
        peer = child("copy", str(path))
        extracts.append(expro["extract_id"])
        rows.append({"people": n, "expro": expro, "peer_copy": peer})
        with open(OUT / "registry_results.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M"), "step": "import", **rows[-1]}) + "\n")
    # keep only the largest extract for the check
    with db.get_engine().begin() as conn:
        for e in extracts[:-1]:
            conn.execute(text("DELETE FROM registry_extract WHERE id = :e"), {"e": e})
    from expro.synthetic.district import generate_district
    from supervision.package.service import import_package

    pkg = OUT / f"district_check_{args.claims_households}"
    if not (pkg / "truth.csv").exists():
        generate_district(pkg, households=args.claims_households, seed=11, imagery=False, overwrite=True)
    with db.get_engine().begin() as conn:
        result, _ = import_package(conn, pkg, progress=False)
        claims = conn.execute(text("SELECT count(*) FROM claim WHERE project_id = :p"), {"p": result.project_id}).scalar()
        registry_rows = conn.execute(text("SELECT sum(row_count) FROM registry_extract WHERE project_id = :p OR "
                                          "project_id IS NULL"), {"p": result.project_id}).scalar()
    check = child("check", result.project_code)
    peer = child("peer_check", result.project_code)
    summary = {"claims": claims, "registry_rows": int(registry_rows), "expro_check": check, "peer_pandas": peer}
    with open(OUT / "registry_results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M"), "step": "check", **summary}, default=str) + "\n")
    if not args.keep:
        with db.get_engine().begin() as conn:
            conn.execute(text("DELETE FROM registry_extract WHERE id = ANY(:e)"), {"e": extracts})
            conn.execute(text("DELETE FROM project WHERE code = :c"), {"c": result.project_code})
    print("| people | expro import s | expro peak RSS MB | bare COPY s | bare COPY peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['people']:,} | {r['expro']['seconds']:.1f} | {r['expro']['peak_rss_mb']:.0f} | "
              f"{r['peer_copy']['seconds']:.1f} | {r['peer_copy']['peak_rss_mb']:.0f} |")
    print(f"\nall 20 models over {claims:,} claims against {int(registry_rows):,} registry rows: "
          f"{check['seconds']:.1f} s, peak RSS {check['peak_rss_mb']:.0f} MB; pandas peer (6 person rules): "
          f"{peer['seconds']:.1f} s (of which loading {peer['load_seconds']:.1f} s), peak RSS {peer['peak_rss_mb']:.0f} MB")
    print("alerts (expro):", check["alerts"])
    print("alerts (peer):", peer["alerts"])


if __name__ == "__main__":
    main()
