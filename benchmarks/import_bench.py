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

The generated package is made safe to import on a shared database first: its project code becomes
``BENCH-IMPORT-<N>`` and its staff numbers ``BENCH-IMP-S…`` (staff accounts are global and an import
upserts them, so the generator's ``S001``… would overwrite other projects' accounts, roles included).
The benchmark's projects and staff accounts are deleted at the end, also after a failure. Peak RSS is
each child's own ``VmHWM`` (``ru_maxrss`` of a child would include the parent's peak, inherited
across ``exec`` on Linux, here the generator's). Timings start after the imports of the libraries.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
SEED_BASE = 900
STAFF_PREFIX = "BENCH-IMP-"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
mode, pkg = sys.argv[1], Path(sys.argv[2])
from expro import db
from supervision.package.service import import_package
import geopandas as gpd, pandas as pd, pyogrio
import supervision.audit as audit_mod
import supervision.package.service as service_mod
engine = db.get_engine()
phases = {{}}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
    return wrapper
# validation, load, and the wait for the audit chain's advisory lock (held by any other session's
# open transaction that appended an audit event: on a shared database that wait is not the import's)
service_mod.validate_package = timed("validate_seconds", service_mod.validate_package)
service_mod.load_package = timed("load_seconds", service_mod.load_package)
audit_mod.append = timed("audit_wait_seconds", audit_mod.append)
t0 = time.perf_counter()
if mode == "expro":
    with engine.begin() as conn:
        result, _ = import_package(conn, pkg, progress=False)
        t_commit = time.perf_counter()
    phases["commit_seconds"] = time.perf_counter() - t_commit
    rows = sum(result.row_counts.values())
else:
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
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"mode": mode, "seconds": seconds, "rows": rows, "peak_rss_mb": hwm / 1024, **phases}}))
"""


def generate(n: int) -> tuple[Path, str]:
    """The package of ``n`` households (generated once, reused), made safe to import; its project code."""
    target = OUT / f"district_{n}"
    if not (target / "truth.csv").exists():
        from expro.synthetic.district import generate_district

        t0 = time.perf_counter()
        generate_district(target, households=n, seed=SEED_BASE + n % 97, imagery=False, overwrite=True)
        print(f"generated {n} households in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return target, make_bench_safe(target, n)


def make_bench_safe(pkg: Path, n: int, *, code: str | None = None, staff_prefix: str = STAFF_PREFIX) -> str:
    """Rename the project to ``code`` (BENCH-IMPORT-<n>) and the staff numbers to ``staff_prefix``…, in place."""
    code = code or f"BENCH-IMPORT-{n}"
    toml = pkg / "project.toml"
    lines = toml.read_text(encoding="utf-8").splitlines()
    lines = [f'code = "{code}"' if line.startswith("code") else line for line in lines]
    toml.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, cols in (("staff.csv", ("staff_id", "supervisor_staff_id")), ("assignments.csv", ("staff_id",))):
        path = pkg / name
        if not path.exists():
            continue
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
            fields = list(rows[0].keys()) if rows else []
        for row in rows:
            for col in cols:
                if row.get(col) and not row[col].startswith(staff_prefix):
                    row[col] = staff_prefix + row[col]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    return code


def measure(mode: str, pkg: Path, timeout: float | None = None) -> dict:
    """Run one import in a fresh process; its time, rows and peak RSS (or the timeout)."""
    try:
        res = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, str(pkg)],
                             capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"mode": mode, "error": f"stopped after {timeout:.0f} s"}
    if res.returncode != 0:
        raise SystemExit(f"{mode} import of {pkg} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def cleanup(codes: list[str]) -> None:
    """Drop the benchmark projects and staff accounts again (the audit events of the imports stay: append-only)."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from expro import db

    from bench_cleanup import delete_projects

    with db.get_engine().begin() as conn:
        for code in codes:
            delete_projects(conn, code)
        conn.execute(text("DELETE FROM app_user WHERE username LIKE :p"), {"p": STAFF_PREFIX + "%"})
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS bench_peer CASCADE")


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--keep", action="store_true", help="keep the imported projects")
    parser.add_argument("--peer-timeout", type=float, default=1800.0, help="seconds before a peer load is stopped")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    OUT.mkdir(exist_ok=True)
    results = []
    codes = []
    cleanup([f"BENCH-IMPORT-{n}" for n in args.sizes])   # leftovers of an interrupted run
    try:
        for n in args.sizes:
            pkg, code = generate(n)
            codes.append(code)
            row = {"households": n, "project_code": code,
                   **{f"expro_{k}": v for k, v in measure("expro", pkg).items() if k != "mode"}}
            print(f"{code}: expro {row}", file=sys.stderr)
            if n in args.peer_sizes:
                row.update({f"peer_{k}": v for k, v in measure("peer", pkg, args.peer_timeout).items() if k != "mode"})
                print(f"{code}: peer {row}", file=sys.stderr)
            row["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
            results.append(row)
            with open(OUT / "import_results.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M"), **row}) + "\n")
    finally:
        if not args.keep:
            cleanup(codes)
    print("| households | rows | expro import s | validation s | load s | audit-lock wait s | expro peak RSS MB "
          "| peer s | peer peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        peer = (r["peer_error"] + " | |" if "peer_error" in r else
                f"{r.get('peer_seconds', float('nan')):.1f} | {r.get('peer_peak_rss_mb', float('nan')):.0f} |")
        print(f"| {r['households']:,} | {r['expro_rows']:,} | {r['expro_seconds']:.1f} | "
              f"{r.get('expro_validate_seconds', float('nan')):.1f} | {r.get('expro_load_seconds', float('nan')):.1f} | "
              f"{r.get('expro_audit_wait_seconds', float('nan')):.1f} | {r['expro_peak_rss_mb']:.0f} | {peer}")

if __name__ == "__main__":
    main()
