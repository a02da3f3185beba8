"""Area-check benchmark: the four area models of `expro check` against plain geopandas, side by side.

Usage (from the repository root)::

    /tmp/devvenv/bin/python benchmarks/area_check/run.py --sizes 10000 100000 1000000

For each size N a synthetic project ``BENCH-AREA-N`` of N buildings is written straight into PostGIS
(``synth.py``: numpy + COPY, then ANALYZE). Then, each in a fresh process so that its peak RSS is its own:

* ``expro`` (``expro_side.py``): AREA_INFLATED, NOT_AT_BASELINE, NOT_DEMOLISHED, OUTSIDE_SCOPE run as
  ``supervision.models.run_all`` runs them (``MODEL.run(conn, project)``, the shared per-building
  figures materialised once by ``area_metrics.ensure``, then ``area_metrics.drop``), one transaction,
  committed; the project's alerts are deleted first so every run inserts them afresh. Wall time, time
  per step, client peak RSS, and the PostgreSQL backend's peak private memory (RssAnon sampled from
  /proc every 0.2 s, parallel workers included);
* ``peer`` (``peer_side.py``): the same tables read with ``geopandas.read_postgis`` (load time), the
  same four rules in geopandas (compute time); stopped after ``--peer-timeout`` seconds.

The SQL alert sets (firing alerts of the project) are compared with the peer's and with what the
generator planted. Results: a Markdown table on stdout, JSON lines appended to
``benchmarks/out/area_results.jsonl``. The ``BENCH-AREA-*`` projects are deleted at the end
(unless ``--keep``), with ``benchmarks/bench_cleanup.py`` (a plain cascading DELETE of a million-building
project does not finish in reasonable time: unindexed foreign keys).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import text  # noqa: E402

from bench_cleanup import delete_projects  # noqa: E402
from expro import db  # noqa: E402

RULES = ("AREA_INFLATED", "NOT_AT_BASELINE", "NOT_DEMOLISHED", "OUTSIDE_SCOPE")


def machine() -> dict:
    """CPU count, RAM and server versions."""
    with db.get_engine().connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar_one()
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        geos = conn.execute(text("SELECT postgis_geos_version()")).scalar_one()
        settings = {s: conn.execute(text(f"SHOW {s}")).scalar_one()
                    for s in ("max_parallel_workers_per_gather", "work_mem", "shared_buffers", "jit")}
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cpus": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1), "machine": platform.machine(),
            "postgresql": pg, "postgis": postgis, "geos_postgis": geos, "pg_settings": settings}


def run_child(script: str, args: list[str], timeout: float | None = None, mem_gb: float | None = None) -> dict:
    """Run a child script; its JSON line, or {'error': ...} on failure or timeout."""
    def limit() -> None:
        if mem_gb:
            resource.setrlimit(resource.RLIMIT_AS, (int(mem_gb * 2**30), int(mem_gb * 2**30)))

    t0 = time.perf_counter()
    try:
        res = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                             cwd=ROOT, timeout=timeout, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout:.0f} s (timeout)", "wall_seconds": time.perf_counter() - t0}
    if res.returncode != 0:
        return {"error": f"exit {res.returncode}: {res.stderr.strip()[-1500:]}", "wall_seconds": time.perf_counter() - t0}
    return json.loads(res.stdout.strip().splitlines()[-1])


def sql_alerts(code: str) -> dict[str, set[str]]:
    """The project's firing alerts per area rule."""
    with db.get_engine().connect() as conn:
        rows = conn.execute(text("""
            SELECT a.rule_code, a.subject_key FROM alert a JOIN project p ON p.id = a.project_id
            WHERE p.code = :c AND a.firing AND a.rule_code = ANY(:r)"""), {"c": code, "r": list(RULES)}).all()
    out: dict[str, set[str]] = {r: set() for r in RULES}
    for rule, key in rows:
        out[rule].add(key)
    return out


def diff(a: dict[str, set[str]], b: dict[str, set[str]]) -> dict:
    """Per rule: keys only in ``a``, only in ``b`` (counts and a few examples); empty when equal."""
    out = {}
    for rule in RULES:
        only_a, only_b = a.get(rule, set()) - b.get(rule, set()), b.get(rule, set()) - a.get(rule, set())
        if only_a or only_b:
            out[rule] = {"only_first": len(only_a), "only_second": len(only_b),
                         "examples_first": sorted(only_a)[:5], "examples_second": sorted(only_b)[:5]}
    return out


def prepare(code: str, n: int, reuse: bool, seed: int) -> dict:
    """Build (or reuse) the project; delete its alerts so the check inserts them afresh."""
    import synth

    engine = db.get_engine()
    with engine.begin() as conn:
        count = conn.execute(text("SELECT count(*) FROM building b JOIN project p ON p.id = b.project_id "
                                  "WHERE p.code = :c"), {"c": code}).scalar_one()
    info: dict = {}
    if not (reuse and count == n):
        with engine.begin() as conn:
            s = synth.build(conn, code, n, seed=seed)
        info = {"build_seconds": s.seconds, "rows": s.rows,
                "planted": {r: sorted(v) for r, v in s.planted.items()}}
        (OUT / f"area_planted_{n}.json").write_text(json.dumps(info["planted"]), encoding="utf-8")
    else:
        planted_file = OUT / f"area_planted_{n}.json"
        info = {"reused": True, "planted": json.loads(planted_file.read_text()) if planted_file.exists() else None}
    clear_alerts(code)
    return info


def clear_alerts(code: str) -> None:
    """Delete the project's alerts (and re-analyze): the check then runs as the first check of a project."""
    with db.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM alert WHERE project_id = (SELECT id FROM project WHERE code = :c)"), {"c": code})
        conn.execute(text("ANALYZE alert"))


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=None, help="sizes the peer runs (default: all)")
    parser.add_argument("--peer-timeout", type=float, default=900.0, help="seconds before the peer is stopped")
    parser.add_argument("--peer-mem-gb", type=float, default=16.0, help="address-space limit of the peer")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reuse", action="store_true", help="reuse a BENCH-AREA-N project of the right size")
    parser.add_argument("--keep", action="store_true", help="keep the projects")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    peer_sizes = args.sizes if args.peer_sizes is None else args.peer_sizes
    env = machine()
    print(json.dumps(env), file=sys.stderr)
    results = []
    codes = []
    try:
        for n in args.sizes:
            code = f"BENCH-AREA-{n}"
            codes.append(code)
            info = prepare(code, n, args.reuse, args.seed)
            print(f"{code}: data ready {info.get('build_seconds', 0):.0f} s {info.get('rows', '')}", file=sys.stderr)
            expro = run_child("expro_side.py", [code])
            print(f"{code}: expro {json.dumps(expro)}", file=sys.stderr)
            sql = sql_alerts(code)
            row = {"at": time.strftime("%Y-%m-%d %H:%M"), "buildings": n, "code": code,
                   **{k: v for k, v in info.items() if k != "planted"}, "expro": expro,
                   "expro_alerts": {r: len(v) for r, v in sql.items()}}
            if info.get("planted") is not None:
                row["sql_vs_planted"] = diff(sql, {r: set(v) for r, v in info["planted"].items()})
            if n in peer_sizes:
                alerts_file = OUT / f"area_peer_alerts_{n}.json"
                alerts_file.unlink(missing_ok=True)
                peer = run_child("peer_side.py", [code, str(alerts_file)], timeout=args.peer_timeout,
                                 mem_gb=args.peer_mem_gb)
                print(f"{code}: peer {json.dumps(peer)}", file=sys.stderr)
                row["peer"] = peer
                if "error" not in peer:
                    row["sql_vs_peer"] = diff(sql, {r: set(v) for r, v in json.loads(alerts_file.read_text()).items()})
            row["env"] = env
            results.append(row)
            with open(OUT / "area_results.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        with db.get_engine().begin() as conn:
            if not args.keep:
                for code in codes:
                    delete_projects(conn, code)
    print_table(results)


def _f(v, fmt: str = ".1f") -> str:
    return "—" if v is None else format(v, fmt)


def print_table(results: list[dict]) -> None:
    """The Markdown table of a run."""
    print(f"\nmachine: {results[0]['env'] if results else ''}\n")
    print("| buildings | expro s | of which metrics s | expro client RSS MB | backend peak MB | "
          "peer load s | peer compute s | peer total s | peer RSS MB | alerts AI / NAB / ND / OS | SQL = peer |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        e, p = r["expro"], r.get("peer", {})
        alerts = " / ".join(str(r["expro_alerts"][k]) for k in RULES)
        if "error" in e:
            print(f"| {r['buildings']:,} | {e['error']} | | | | | | | | | |")
            continue
        if "error" in p:
            peer_cells = f"{p['error']} | | | |"
            same = "—"
        elif p:
            peer_cells = (f"{_f(p['load_seconds'])} | {_f(p['compute_seconds'])} | {_f(p['seconds'])} | "
                          f"{_f(p['peak_rss_mb'], '.0f')} |")
            same = "yes" if not r.get("sql_vs_peer") else f"NO: {json.dumps(r['sql_vs_peer'])}"
        else:
            peer_cells, same = "not run | | | |", "—"
        print(f"| {r['buildings']:,} | {_f(e['seconds'])} | {_f(e['steps']['area_metrics'])} | "
              f"{_f(e['peak_rss_mb'], '.0f')} | {_f(e['backend_workers_peak_anon_mb'], '.0f')} | "
              f"{peer_cells} {alerts} | {same} |")


if __name__ == "__main__":
    main()
