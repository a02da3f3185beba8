"""Import benchmark: `expro import` (validation + COPY) against a plain pandas/geopandas load.

Usage (from the repository root, after `scripts/bootstrap.sh`)::

    .venv/bin/python benchmarks/import_bench.py --sizes 10000 100000 --peer-sizes 10000 100000

For each size N a synthetic district of N households (no imagery) is generated once into
``benchmarks/out/``; then, each in a fresh process so that its peak RSS is its own:

* ``expro``: the production path, ``supervision.package.service.import_package`` (every check of
  DATA_FORMATS §1, one transaction, COPY into staging tables, set-based inserts), committed;
* ``peer``: what a plain script would do: read every file with pandas / geopandas and write it with
  ``DataFrame.to_sql`` / ``GeoDataFrame.to_postgis`` (SQLAlchemy executemany INSERTs, GeoAlchemy2),
  without any validation, into a scratch schema.

Both load the same files into the same PostGIS. Results are printed as a Markdown table and
appended as JSON lines to ``benchmarks/out/import_results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
SEED_BASE = 900

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
mode, pkg = sys.argv[1], Path(sys.argv[2])
from expro import db
engine = db.get_engine()
t0 = time.perf_counter()
if mode == "expro":
    from supervision.package.service import import_package
    with engine.begin() as conn:
        result, _ = import_package(conn, pkg, progress=False)
    rows = sum(result.row_counts.values())
else:
    import geopandas as gpd, pandas as pd, pyogrio
    rows = 0
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS bench_peer CASCADE; CREATE SCHEMA bench_peer")
    for f in sorted(pkg.iterdir()):
        if f.suffix == ".csv" and f.name != "truth.csv":
            df = pd.read_csv(f, dtype=str, keep_default_na=False)
            df.to_sql(f.stem, engine, schema="bench_peer", index=False, chunksize=10000)
            rows += len(df)
        elif f.suffix == ".gpkg":
            gdf = pyogrio.read_dataframe(f)
            gdf.to_postgis(f.stem, engine, schema="bench_peer", index=False, chunksize=10000)
            rows += len(gdf)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA bench_peer CASCADE")
seconds = time.perf_counter() - t0
print(json.dumps({{"mode": mode, "seconds": seconds, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def generate(n: int) -> Path:
    """The package of ``n`` households (generated once, reused)."""
    target = OUT / f"district_{n}"
    if (target / "truth.csv").exists():
        return target
    from expro.synthetic.district import generate_district

    t0 = time.perf_counter()
    generate_district(target, households=n, seed=SEED_BASE + n % 97, imagery=False, overwrite=True)
    print(f"generated {n} households in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return target


def measure(mode: str, pkg: Path) -> dict:
    """Run one import in a fresh process; its time, rows and peak RSS."""
    res = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, str(pkg)],
                         capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{mode} import of {pkg} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def cleanup(codes: list[str]) -> None:
    """Drop the benchmark projects again."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from expro import db

    with db.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM project WHERE code = ANY(:c)"), {"c": codes})


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--keep", action="store_true", help="keep the imported projects")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    OUT.mkdir(exist_ok=True)
    results = []
    codes = []
    for n in args.sizes:
        pkg = generate(n)
        codes.append(next(line.split("=")[1].strip().strip('"') for line in
                          (pkg / "project.toml").read_text(encoding="utf-8").splitlines() if line.startswith("code")))
        row = {"households": n, **{f"expro_{k}": v for k, v in measure("expro", pkg).items() if k != "mode"}}
        if n in args.peer_sizes:
            row.update({f"peer_{k}": v for k, v in measure("peer", pkg).items() if k != "mode"})
        row["machine"] = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
        results.append(row)
        with open(OUT / "import_results.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M"), **row}) + "\n")
    if not args.keep:
        cleanup(codes)
    print("| households | rows | expro import s | expro peak RSS MB | peer s | peer peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['households']:,} | {r['expro_rows']:,} | {r['expro_seconds']:.1f} | {r['expro_peak_rss_mb']:.0f} | "
              f"{r.get('peer_seconds', float('nan')):.1f} | {r.get('peer_peak_rss_mb', float('nan')):.0f} |")


if __name__ == "__main__":
    main()
