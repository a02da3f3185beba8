"""Registry benchmark: city-scale registry import, and every supervision model against it.

Usage (from the repository root)::

    .venv/bin/python benchmarks/registry/run.py --registry-sizes 1000000 5000000 --claims-households 17000

1. ``registry import``: a synthetic city registry of N people (valid GB 11643 IDs, realistic
   columns) is written once to ``benchmarks/out/bench_registry_N.csv``; then, each in a fresh process:
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

The district is made safe to import on a shared database first (project code ``BENCH-REGISTRY-CHECK``,
staff numbers ``BENCH-REG-S…``: staff accounts are global and an import upserts them). The benchmark's
project, staff accounts and extracts (``bench_registry_*``) are deleted at the end, also after a
failure, and before a run (leftovers of an interrupted one). Peak RSS is each child's own ``VmHWM``
(``ru_maxrss`` of a child would include the parent's peak, inherited across ``exec`` on Linux). The
check's figure includes the extracts every project sees: its own and every city-wide one present.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))    # import_bench, bench_cleanup

CHECK_CODE = "BENCH-REGISTRY-CHECK"
STAFF_PREFIX = "BENCH-REG-"

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
    out["rebuilt"] = res.rebuilt
elif mode == "copy":
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_registry_copy")
        cur.execute("CREATE TEMP TABLE bench_registry_copy (id_number text, name text, gender text, birth_date text, "
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
    from supervision.models.base import Model
    per_model = {{}}
    run = Model.run
    def timed_run(self, conn, project):
        t = time.perf_counter()
        try:
            return run(self, conn, project)
        finally:
            per_model[self.code] = round(time.perf_counter() - t, 2)
    Model.run = timed_run
    with engine.begin() as conn:
        out["alerts"] = models.run_all(conn, arg)
        out["models_seconds"] = time.perf_counter() - t0
    out["model_seconds"] = per_model
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
out["peak_rss_mb"] = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps(out, default=str))
"""


def child(mode: str, arg: str) -> dict:
    """Run one measured step in a fresh process."""
    res = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, arg], capture_output=True,
                         text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def cleanup(conn) -> None:
    """Delete this benchmark's extracts, project and staff accounts (also the leftovers of an interrupted run)."""
    from sqlalchemy import text

    from bench_cleanup import delete_projects

    delete_projects(conn, CHECK_CODE)
    conn.execute(text("DELETE FROM registry_extract WHERE project_id IS NULL AND source_name LIKE 'bench_registry_%'"))
    conn.execute(text("DELETE FROM app_user WHERE username LIKE :p"), {"p": STAFF_PREFIX + "%"})


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry-sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--claims-households", type=int, default=17_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-check", action="store_true", help="only the registry import against the bare COPY")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    from sqlalchemy import text

    from expro import db
    from import_bench import make_bench_safe

    engine = db.get_engine()
    with engine.begin() as conn:
        cleanup(conn)
    rows = []
    check = peer = None
    claims: object = 0
    registry_rows: object = 0
    city_extracts: object = 0
    try:
        for n in args.registry_sizes:
            path = OUT / f"bench_registry_{n}.csv"
            if not path.exists():
                t0 = time.perf_counter()
                write_registry(n, path)
                print(f"wrote {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            expro = child("import", str(path))
            print(f"registry import {n:,}: {expro}", file=sys.stderr)
            peer = child("copy", str(path))
            print(f"bare COPY {n:,}: {peer}", file=sys.stderr)
            rows.append({"people": n, "expro": expro, "peer_copy": peer,
                         "ratio": round(expro["seconds"] / peer["seconds"], 2), "load_average": os.getloadavg()})
            with open(OUT / "registry_results.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M"), "step": "import", **rows[-1]}) + "\n")
        peer = None
        if args.no_check:
            return
        # keep only the largest extract for the check
        with engine.begin() as conn:
            for r in rows[:-1]:
                conn.execute(text("DELETE FROM registry_extract WHERE id = :e"), {"e": r["expro"]["extract_id"]})
        from expro.synthetic.district import generate_district
        from supervision.package.service import import_package

        pkg = OUT / f"district_check_{args.claims_households}"
        if not (pkg / "truth.csv").exists():
            generate_district(pkg, households=args.claims_households, seed=11, imagery=False, overwrite=True)
        make_bench_safe(pkg, args.claims_households, code=CHECK_CODE, staff_prefix=STAFF_PREFIX)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            result, _ = import_package(conn, pkg, progress=False)
        print(f"imported {result.project_code} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        with engine.begin() as conn:
            claims = conn.execute(text("SELECT count(*) FROM claim WHERE project_id = :p"),
                                  {"p": result.project_id}).scalar()
            registry_rows, city_extracts = conn.execute(text(
                "SELECT sum(row_count), count(*) FILTER (WHERE project_id IS NULL) FROM registry_extract "
                "WHERE project_id = :p OR project_id IS NULL"), {"p": result.project_id}).one()
            conn.exec_driver_sql("ANALYZE registry_person")
        check = child("check", result.project_code)
        print(f"check: {check}", file=sys.stderr)
        peer = child("peer_check", result.project_code)
        print(f"peer check: {peer}", file=sys.stderr)
        summary = {"claims": claims, "registry_rows": int(str(registry_rows)), "city_wide_extracts": city_extracts,
                   "expro_check": check, "peer_pandas": peer}
        with open(OUT / "registry_results.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M"), "step": "check", **summary},
                                default=str) + "\n")
    finally:
        if not args.keep:
            with engine.begin() as conn:
                cleanup(conn)
        report(rows, check, peer, int(str(claims or 0)), int(str(registry_rows or 0)), int(str(city_extracts or 0)))


def report(rows: list[dict], check: dict | None, peer: dict | None, claims: int, registry_rows: int,
           city_extracts: int) -> None:
    """Print the tables of a run."""
    print("| people | expro import s | expro peak RSS MB | bare COPY s | bare COPY peak RSS MB | ratio | load avg |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['people']:,} | {r['expro']['seconds']:.1f} | {r['expro']['peak_rss_mb']:.0f} | "
              f"{r['peer_copy']['seconds']:.1f} | {r['peer_copy']['peak_rss_mb']:.0f} | {r['ratio']:.1f} | "
              f"{' '.join(f'{v:.2f}' for v in r['load_average'])} |")
    if check is None or peer is None:
        return
    print(f"\nall {len(check['alerts'])} models over {claims:,} claims against {int(registry_rows):,} registry rows "
          f"({city_extracts} city-wide extract(s)): {check['seconds']:.1f} s, peak RSS {check['peak_rss_mb']:.0f} MB; "
          f"pandas peer (6 person rules): {peer['seconds']:.1f} s (of which loading {peer['load_seconds']:.1f} s), "
          f"peak RSS {peer['peak_rss_mb']:.0f} MB")
    print("per model (s):", check["model_seconds"])
    print("alerts (expro):", check["alerts"])
    print("alerts (peer):", peer["alerts"])

if __name__ == "__main__":
    main()
