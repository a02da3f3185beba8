"""Report and Dask-engine benchmark (issue 14 item 4): `expro check` and `expro report`, local (PostGIS) against
the Dask engine on a 2-worker ``LocalCluster``, for N buildings, with wall time and peak memory.

Usage (from the repository root; its own database, never the shared one)::

    export EXPRO_DATABASE_URL=postgresql+psycopg2://expro:…@127.0.0.1:54661/expro_reportbench
    OMP_NUM_THREADS=1 flock /tmp/expro-bench.lock nice -n 10 .venv/bin/python benchmarks/reports/run.py --sizes 10000 100000

For each size N a project ``BENCH-REPORT-N`` of N buildings is written straight into PostGIS by the area
benchmark's generator (``benchmarks/area_check/synth.py``: numpy + COPY, set-based; kept for re-runs unless
``--rebuild``). Then four measured runs, each the real CLI in its own child process:

1. ``expro check BENCH-REPORT-N`` (local: the models in PostGIS);
2. ``expro check BENCH-REPORT-N --engine dask --scheduler tcp://…`` against a fresh ``LocalCluster``
   (2 worker processes, 1 thread each, started by this script before the run and closed after it);
3. ``expro report --project … --recompute --overwrite`` (local);
4. the same with ``--engine dask --scheduler …`` (a fresh cluster again).

The project's alerts are deleted before each check run, so every run is a first check. Peak memory: the child's
VmHWM (``ru_maxrss`` returned by ``wait4`` for that child, which is the kernel's VmHWM at exit), and for the
Dask runs each worker's VmHWM read from ``/proc/<pid>/status`` after the run (fresh workers per run, so it is
this run's peak), plus the scheduler's (this process's own growth is not counted). After each run the
project's firing alert set (rule, subject type, subject key) is hashed; the local and Dask runs must agree.

Results: a Markdown table on stdout, JSON lines appended to ``benchmarks/out/reports/results.jsonl``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "out" / "reports"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "area_check"))
from memwatch import vm_hwm_mb  # noqa: E402

from sqlalchemy import text  # noqa: E402

from expro import db  # noqa: E402

PERIOD = "2026-12"
EXPRO = str(ROOT / ".venv" / "bin" / "expro")




def alert_set(code: str) -> tuple[int, str, dict[str, int]]:
    """Count, SHA-256 and per-rule counts of the project's firing alerts."""
    with db.get_engine().connect() as conn:
        rows = conn.execute(text(
            "SELECT rule_code, subject_type, subject_key FROM alert a JOIN project p ON p.id = a.project_id "
            "WHERE p.code = :c AND a.firing ORDER BY 1, 2, 3"), {"c": code}).all()
    digest = hashlib.sha256("\n".join("|".join(r) for r in rows).encode()).hexdigest()
    per_rule: dict[str, int] = {}
    for r in rows:
        per_rule[r[0]] = per_rule.get(r[0], 0) + 1
    return len(rows), digest, per_rule


def clear_alerts(code: str) -> None:
    """Delete the project's alerts and report runs: the next run is the project's first check."""
    with db.get_engine().begin() as conn:
        pid = conn.execute(text("SELECT id FROM project WHERE code = :c"), {"c": code}).scalar_one()
        conn.execute(text("DELETE FROM report_item WHERE run_id IN (SELECT id FROM report_run WHERE project_id = :p)"),
                     {"p": pid})
        conn.execute(text("DELETE FROM report_run WHERE project_id = :p"), {"p": pid})
        conn.execute(text("DELETE FROM alert WHERE project_id = :p"), {"p": pid})
        conn.execute(text("ANALYZE alert"))


def prepare(code: str, n: int, rebuild: bool) -> dict:
    """The synthetic project of ``n`` buildings (built once, kept)."""
    import synth

    engine = db.get_engine()
    with engine.begin() as conn:
        count = conn.execute(text("SELECT count(*) FROM building b JOIN project p ON p.id = b.project_id "
                                  "WHERE p.code = :c"), {"c": code}).scalar_one()
    if count == n and not rebuild:
        return {"reused": True}
    with engine.begin() as conn:
        s = synth.build(conn, code, n, seed=42)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE"))
    return {"build_seconds": round(s.seconds, 1), "rows": s.rows}


def run_cli(args: list[str], cluster=None) -> dict:
    """Run the expro CLI in a child; wall time, the child's VmHWM and (with a cluster) the workers'."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    with open(OUT / "child.out", "w+b") as fo, open(OUT / "child.err", "w+b") as fe:
        proc = subprocess.Popen([EXPRO, *args], cwd=ROOT, env=env, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)      # the rusage of this child alone: ru_maxrss = its VmHWM
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        stdout = fo.read().decode("utf-8", "replace")
        stderr = fe.read().decode("utf-8", "replace")
    res: dict = {"wall_s": round(wall, 2), "client_hwm_mb": round(usage.ru_maxrss / 1024, 1),
                 "rc": proc.returncode}
    if proc.returncode != 0:
        res["error"] = (stderr or stdout).strip()[-1500:]
    res["log"] = [line for line in stderr.splitlines() if "project=" in line][-2:]
    if cluster is not None:
        workers = [vm_hwm_mb(pid) for pid in cluster["worker_pids"]]
        res["worker_hwm_mb"] = [round(w, 1) for w in workers if w is not None]
        res["workers_total_mb"] = round(sum(res["worker_hwm_mb"]), 1)
        res["total_mb"] = round(res["client_hwm_mb"] + res["workers_total_mb"], 1)
    else:
        res["total_mb"] = res["client_hwm_mb"]
    return res


def start_cluster():
    """A fresh 2-worker LocalCluster (processes, one thread each); its client, cluster and worker pids."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    client = Client(cluster)
    pids = list(client.run(os.getpid).values())
    return {"cluster": cluster, "client": client, "worker_pids": pids, "address": cluster.scheduler_address}


def stop_cluster(c: dict) -> None:
    """Close the client and the cluster."""
    c["client"].close()
    c["cluster"].close()


def measured(kind: str, engine: str, code: str, outdir: Path) -> dict:
    """One measured run: ``kind`` (check/report) with ``engine`` (local/dask)."""
    clear_alerts(code)
    cluster = start_cluster() if engine == "dask" else None
    try:
        if kind == "check":
            args = ["check", "--project", code]
        else:
            args = ["report", "--project", code, "-o", str(outdir / engine), "--period", PERIOD,
                    "--recompute", "--overwrite", "--no-progress"]
        if cluster:
            args += ["--engine", "dask", "--scheduler", cluster["address"]]
        res = run_cli(args, cluster)
    finally:
        if cluster:
            stop_cluster(cluster)
    n, digest, per_rule = alert_set(code)
    res.update({"kind": kind, "engine": engine, "alerts": n, "alert_sha256": digest, "per_rule": per_rule})
    return res


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rebuild", action="store_true", help="regenerate the projects")
    opts = parser.parse_args()
    if "expro_reportbench" not in os.environ.get("EXPRO_DATABASE_URL", ""):
        sys.exit("set EXPRO_DATABASE_URL to the benchmark's own database (expro_reportbench)")
    OUT.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    head = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": [round(x, 2) for x in load],
            "cpus": os.cpu_count(), "machine": platform.machine()}
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs", flush=True)
    rows = []
    for n in opts.sizes:
        code = f"BENCH-REPORT-{n}"
        info = prepare(code, n, opts.rebuild)
        print(f"{code}: {info}", flush=True)
        runs = []
        for kind in ("check", "report"):
            for engine in ("local", "dask"):
                r = measured(kind, engine, code, OUT / f"out_{n}")
                print(f"  {kind:6} {engine:5} {r['wall_s']:8.2f} s  total {r['total_mb']:7.1f} MB  "
                      f"alerts {r['alerts']}  rc {r['rc']} {r.get('error', '')[:300]}", flush=True)
                runs.append(r)
        same = {k: len({r["alert_sha256"] for r in runs if r["kind"] == k}) == 1 for k in ("check", "report")}
        rec = {**head, "buildings": n, "prepare": info, "runs": runs, "same_alerts": same}
        with open(OUT / "results.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        rows.append(rec)
    print("\n| buildings | run | engine | wall s | client VmHWM MB | workers VmHWM MB | total MB | alerts | same as local |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---|")
    for rec in rows:
        for r in rec["runs"]:
            workers = "+".join(f"{w:.0f}" for w in r.get("worker_hwm_mb", [])) or "–"
            print(f"| {rec['buildings']:,} | {r['kind']} | {r['engine']} | {r['wall_s']:.1f} | {r['client_hwm_mb']:.0f} "
                  f"| {workers} | {r['total_mb']:.0f} | {r['alerts']:,} | {'yes' if rec['same_alerts'][r['kind']] else 'NO'} |")


if __name__ == "__main__":
    main()
