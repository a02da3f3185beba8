"""Profile the area SQL on a benchmark project: the product functions against the rewrites of sql/variants.sql.

Usage (from the repository root, on a project kept by ``run.py --keep``)::

    /tmp/devvenv/bin/python benchmarks/area_check/profile_sql.py BENCH-AREA-100000 [--repeat 3]

For each function (product, v2, v3 of expro_building_area_metrics; product and v2 of
expro_parcel_inside_scope) and each setting (JIT on / off, parallel workers 2 / 0), the best and
median wall time of ``CREATE TEMP TABLE ... AS SELECT * FROM f(...)`` (what area_metrics.ensure does;
a count(*) would let the planner skip the geometry columns); every variant's rows are compared with the
product's (largest absolute difference per numeric column, and rows whose alert-deciding values
differ). EXPLAIN (ANALYZE, BUFFERS) plans are written to benchmarks/out/plans_<code>/.
Results are appended to benchmarks/out/area_profile.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import pandas as pd  # noqa: E402
from sqlalchemy import text  # noqa: E402

from expro import db  # noqa: E402

METRICS = {"product": "public.expro_building_area_metrics", "v2": "bench_scratch.area_metrics_v2",
           "v3": "bench_scratch.area_metrics_v3"}
SCOPE = {"product": "public.expro_parcel_inside_scope", "v2": "bench_scratch.parcel_inside_scope_v2"}
SETTINGS = {"jit on, 2 workers": ("on", 2), "jit off, 2 workers": ("off", 2), "jit off, 0 workers": ("off", 0)}


def timed(conn, sql: str, params: dict, repeat: int) -> list[float]:
    """Wall times of materialising ``sql`` into a temporary table (dropped again)."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        conn.execute(text(f"CREATE TEMP TABLE prof_x AS {sql}"), params)
        out.append(time.perf_counter() - t)
        conn.execute(text("DROP TABLE prof_x"))
    return out


def main() -> None:
    """Time, compare, explain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("code")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = db.get_engine()
    plans = OUT / f"plans_{args.code}"
    plans.mkdir(parents=True, exist_ok=True)
    import proposed

    with engine.begin() as conn:
        proposed.create_variants(conn)
    record: dict = {"at": time.strftime("%Y-%m-%d %H:%M"), "code": args.code, "timings": {}, "differences": {}}
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT id FROM project WHERE code = :c"), {"c": args.code}).scalar_one()
        record["buildings"] = conn.execute(text("SELECT count(*) FROM building WHERE project_id = :p"),
                                           {"p": pid}).scalar_one()
        mp = {"p": pid, "a": 0.08, "b": 0.006, "k": 1.5}
        calls = {f"metrics {v}": (f"SELECT * FROM {f}(:p, :a, :b, :k, 'survey', 'survey')", mp)
                 for v, f in METRICS.items()}
        calls.update({f"inside_scope {v}": (f"SELECT * FROM {f}(:p)", {"p": pid}) for v, f in SCOPE.items()})
        for label, (jit, workers) in SETTINGS.items():
            conn.execute(text(f"SET jit = {jit}"))
            conn.execute(text(f"SET max_parallel_workers_per_gather = {workers}"))
            for name, (sql, params) in calls.items():
                times = timed(conn, sql, params, args.repeat)
                record["timings"][f"{name} | {label}"] = {"best_s": min(times), "median_s": statistics.median(times)}
                print(f"{name:24s} {label:20s} best {min(times):7.2f} s  median {statistics.median(times):7.2f} s",
                      file=sys.stderr)
        conn.execute(text("RESET jit"))
        conn.execute(text("RESET max_parallel_workers_per_gather"))
        for name, (sql, params) in calls.items():
            plan = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS, VERBOSE) " + sql),
                                params).scalars().all()
            (plans / f"{name.replace(' ', '_')}.txt").write_text("\n".join(plan), encoding="utf-8")

        # equality of the rows
        base = pd.read_sql(text(f"SELECT * FROM {METRICS['product']}(:p, :a, :b, :k, 'survey', 'survey')"), conn,
                           params=mp).set_index("building_id").sort_index()
        for v in ("v2", "v3"):
            other = pd.read_sql(text(f"SELECT * FROM {METRICS[v]}(:p, :a, :b, :k, 'survey', 'survey')"), conn,
                                params=mp).set_index("building_id").sort_index()
            record["differences"][f"metrics {v}"] = compare(base, other)
        base = pd.read_sql(text(f"SELECT * FROM {SCOPE['product']}(:p)"), conn, params={"p": pid}).set_index(
            "parcel_id").sort_index()
        other = pd.read_sql(text(f"SELECT * FROM {SCOPE['v2']}(:p)"), conn, params={"p": pid}).set_index(
            "parcel_id").sort_index()
        record["differences"]["inside_scope v2"] = compare(base, other)
    print(json.dumps(record["differences"], indent=1))
    with open(OUT / "area_profile.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def compare(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Same keys; per numeric column the largest absolute difference (NULL vs value counts as a difference)."""
    out: dict = {"rows": [len(a), len(b)], "same_keys": bool(a.index.equals(b.index))}
    if not out["same_keys"]:
        return out
    diffs = {}
    for col in a.columns:
        if pd.api.types.is_numeric_dtype(a[col]):
            x, y = a[col].astype(float), b[col].astype(float)
            null_mismatch = int((x.isna() != y.isna()).sum())
            d = (x - y).abs().max()
            if null_mismatch or (pd.notna(d) and d > 0):
                diffs[col] = {"max_abs_diff": None if pd.isna(d) else float(d), "null_mismatch": null_mismatch}
        elif not a[col].equals(b[col]):
            diffs[col] = "differs"
    out["columns"] = diffs
    return out


if __name__ == "__main__":
    main()
