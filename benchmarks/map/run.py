"""Map benchmark: first paint of a 100,000-parcel project in headless Chromium, vector tiles against inline GeoJSON.

    EXPRO_DATABASE_URL=postgresql+psycopg2://... .venv/bin/python benchmarks/map/run.py [--parcels N] [--runs N]

1. A project ``BENCH-MAP-<N>`` with N parcels (27 × 22 m homesteads on a 30 × 25 m grid near Hunnan,
   EPSG:4550) and an open alert on every 37th parcel, made by ``generate_series`` in one INSERT each;
   kept for the next run (``--fresh`` rebuilds it). A benchmark inspector signs in through the sign-in form.
2. One uvicorn worker serves ``bench_app:create_bench_app``: the API as it is, plus ``/bench/inline/{code}``.
   The vector page is the product's own ``/map/{code}`` (above ``VECTOR_TILE_THRESHOLD`` parcels it draws them
   as ``web_map.vector_tiles.parcels_vector_layer``); the inline page is the same ``web_map.project_map`` page
   with every parcel inlined as GeoJSON.
3. Debian's Chromium (Playwright, headless, 1280 × 800) opens each page ``--runs`` times, alternating, each
   in a fresh browser context (no HTTP cache) after signing in. A script installed before the page's own
   records, on every animation frame, when parcels first show on screen (a canvas of the parcels with a
   painted pixel: the overlay canvas of the inline page, a tile canvas of the vector page) and, for the
   vector page, when every tile in view is drawn. Both counted from the navigation's start (server time,
   transfer, parsing and scripts included); Chromium's first contentful paint and load event beside them.
4. Results: ``benchmarks/out/map_results.jsonl``, ``benchmarks/out/map/*.png`` (a screenshot per page),
   and the section between the markers of ``benchmarks/map/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "out"
WORK = OUT / "map"
sys.path.insert(0, str(ROOT))
from benchmarks.readme_results import replace_results  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from expro import db  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
USER, PASSWORD = "bench-map", "bench-map-password-42"
GOAL_FIRST_PAINT_S = 3.0
COLS, CELL_X, CELL_Y = 320, 30.0, 25.0
X0, Y0 = 546_000.0, 4_619_000.0

#: Runs before the page's scripts: records when parcels first show and when every vector tile is drawn.
PAINT_PROBE = """
(() => {
  const selector = %s, tiles = %s;
  const marks = window.__bench = {first: null, complete: null};
  function painted(canvas) {
    if (!canvas.width || !canvas.height) return false;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4 * 7) if (data[i] > 0) return true;
    return false;
  }
  function frame() {
    const canvases = Array.from(document.querySelectorAll(selector));
    if (marks.first === null && canvases.some(painted)) marks.first = performance.now();
    if (marks.first !== null && marks.complete === null) {
      if (!tiles) marks.complete = marks.first;
      else if (canvases.length && canvases.every(c => c.classList.contains('leaflet-tile-loaded'))) {
        marks.complete = performance.now();
      }
    }
    if (marks.complete === null) requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();
"""
PAGES = {
    "vector": {"path": "/map/{code}", "selector": ".leaflet-tile-container canvas", "tiles": True},
    "inline": {"path": "/bench/inline/{code}", "selector": ".leaflet-overlay-pane > canvas", "tiles": False},
}


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_project(engine, n: int, fresh: bool) -> tuple[str, float]:
    """The benchmark project of ``n`` parcels (made unless it exists); its code and the seconds it took."""
    code = f"BENCH-MAP-{n // 1000}K" if n % 1000 == 0 else f"BENCH-MAP-{n}"
    rows = -(-n // COLS)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        have = conn.execute(text("SELECT p.id, (SELECT count(*) FROM parcel WHERE project_id = p.id) "
                                 "FROM project p WHERE code = :c"), {"c": code}).one_or_none()
        if have is not None and have[1] == n and not fresh:
            return code, 0.0
        conn.execute(text("DELETE FROM project WHERE code = :c"), {"c": code})
        pid = conn.execute(text("""
            INSERT INTO project (code, name, county_code, srid, pre_announcement_date)
            VALUES (:c, :name, '210112', 4550, DATE '2025-01-01') RETURNING id"""),
            {"c": code, "name": f"压力测试项目（{n:,} 宗地）"}).scalar_one()
        conn.execute(text("""
            INSERT INTO project_scope (project_id, geom)
            VALUES (:p, ST_Multi(ST_MakeEnvelope(:x0 - 50, :y0 - 50, :x0 + :cols * :cx + 50, :y0 + :rows * :cy + 50,
                                                 4550)))"""),
            {"p": pid, "x0": X0, "y0": Y0, "cols": COLS, "rows": rows, "cx": CELL_X, "cy": CELL_Y})
        conn.execute(text("""
            INSERT INTO parcel (project_id, parcel_code, village_code, land_class, household_no, geom)
            SELECT :p, '210112101201JC' || lpad(i::text, 6, '0'), '210112101201',
                   CASE WHEN i % 7 = 0 THEN 'farmland' ELSE 'homestead' END, 'H' || lpad((i / 2)::text, 8, '0'),
                   ST_Multi(ST_MakeEnvelope(:x0 + (i % :cols) * :cx, :y0 + (i / :cols) * :cy,
                                            :x0 + (i % :cols) * :cx + :cx - 3, :y0 + (i / :cols) * :cy + :cy - 3, 4550))
            FROM generate_series(0, :n - 1) AS i"""),
            {"p": pid, "n": n, "x0": X0, "y0": Y0, "cols": COLS, "cx": CELL_X, "cy": CELL_Y})
        conn.execute(text("""
            INSERT INTO alert (project_id, rule_code, severity, subject_type, subject_key, message, state, firing)
            SELECT :p, 'BENCH', (ARRAY['report', 'internal', 'prompt'])[1 + (i / 37) % 3], 'parcel',
                   '210112101201JC' || lpad(i::text, 6, '0'), '压力测试预警', 'new', true
            FROM generate_series(0, :n - 1, 37) AS i"""), {"p": pid, "n": n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE parcel"))
        conn.execute(text("ANALYZE alert"))
    return code, time.perf_counter() - t0


def add_user(engine) -> None:
    """The benchmark inspector (signs in through the form, like an inspector)."""
    from supervision.accounts import upsert_user

    with engine.begin() as conn:
        upsert_user(conn, username=USER, name="压测核查员", role="inspector", password=PASSWORD)


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str) -> tuple[subprocess.Popen, str, Path]:
    """uvicorn with one worker serving bench_app (the API plus the vector page)."""
    port = free_port()
    WORK.mkdir(parents=True, exist_ok=True)
    log_path = WORK / "server.log"
    env = {**os.environ, "EXPRO_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_app:create_bench_app", "--factory",
                             "--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code < 500:
                return proc, base, log_path
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("server did not start")


def measure(browser, base: str, code: str, kind: str, screenshot: Path | None, timeout_s: float) -> dict:
    """One visit of one page in a fresh context: paint marks, Chromium's timings, requests, console errors."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    spec = PAGES[kind]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    tiles = {"requests": 0, "bytes": 0, "not_200": 0}

    def on_response(res) -> None:
        if "/tiles/parcels/" in res.url:
            tiles["requests"] += 1
            tiles["not_200"] += res.status != 200
            tiles["bytes"] += int(res.headers.get("content-length") or 0)
    page.on("response", on_response)
    page.add_init_script(PAINT_PROBE % (json.dumps(spec["selector"]), "true" if spec["tiles"] else "false"))
    t0 = time.perf_counter()
    response = page.goto(base + str(spec["path"]).format(code=code), timeout=timeout_s * 1000, wait_until="commit")
    html_bytes = int(response.headers.get("content-length") or 0) if response is not None else 0
    try:
        page.wait_for_function("() => window.__bench && window.__bench.complete !== null",
                               timeout=timeout_s * 1000, polling=100)
    except PlaywrightTimeout:   # never painted within the timeout: recorded as such
        context.close()
        return {"page": kind, "first_paint_ms": None, "complete_ms": None, "fcp_ms": None, "response_end_ms": None,
                "dom_content_loaded_ms": None, "load_ms": None, "wall_s": time.perf_counter() - t0,
                "html_bytes": html_bytes, "tiles": tiles, "console_errors": errors, "timed_out_s": timeout_s}
    wall = time.perf_counter() - t0
    marks = page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        return {first: window.__bench.first, complete: window.__bench.complete,
                fcp: fcp ? fcp.startTime : null, response_end: nav ? nav.responseEnd : null,
                dom_content_loaded: nav ? nav.domContentLoadedEventEnd : null,
                load: nav ? nav.loadEventEnd : null};
    }""")
    page.wait_for_timeout(300)
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
    context.close()
    return {"page": kind, "first_paint_ms": marks["first"], "complete_ms": marks["complete"], "fcp_ms": marks["fcp"],
            "response_end_ms": marks["response_end"], "dom_content_loaded_ms": marks["dom_content_loaded"],
            "load_ms": marks["load"], "wall_s": wall, "html_bytes": html_bytes, "tiles": tiles,
            "console_errors": errors}


def summarise(runs: list[dict]) -> dict:
    """Per page: the first (cold server cache) run, and the median of all."""
    out: dict = {}
    for kind in PAGES:
        mine = [r for r in runs if r["page"] == kind]
        if not mine:
            continue
        med = lambda key: statistics.median([r[key] for r in mine if r[key] is not None] or [None])  # noqa: E731
        out[kind] = {"runs": len(mine), "first_paint_ms_first_run": mine[0]["first_paint_ms"],
                     "first_paint_ms_median": med("first_paint_ms"), "complete_ms_median": med("complete_ms"),
                     "fcp_ms_median": med("fcp_ms"), "response_end_ms_median": med("response_end_ms"),
                     "load_ms_median": med("load_ms"), "html_bytes": mine[0]["html_bytes"],
                     "tile_requests": mine[0]["tiles"]["requests"], "tile_bytes": mine[0]["tiles"]["bytes"],
                     "tiles_not_200": sum(r["tiles"]["not_200"] for r in mine),
                     "console_errors": sorted({e for r in mine for e in r["console_errors"]}),
                     "timed_out": sum(1 for r in mine if r.get("timed_out_s")), "timeout_s": mine[0].get("timed_out_s")}
    return out


def report(r: dict) -> str:
    """The Markdown results section."""
    v, i = r["summary"]["vector"], r["summary"]["inline"]
    ok = (v["first_paint_ms_median"] is not None and v["first_paint_ms_first_run"] is not None
          and v["first_paint_ms_median"] / 1000 < GOAL_FIRST_PAINT_S
          and v["first_paint_ms_first_run"] / 1000 < GOAL_FIRST_PAINT_S)
    yes = "**met**" if ok else "**not met**"
    s = lambda ms: "not painted in time" if ms is None else f"{ms / 1000:.2f}"  # noqa: E731
    lines = [
        f"Run {r['at']}: {r['machine']['cpus']} CPUs, load average at start "
        f"{' / '.join(f'{x:.1f}' for x in r['machine']['loadavg_at_start'])}; Chromium {r['machine']['chromium']}, "
        f"viewport 1280 × 800, {r['runs']} visits per page alternating, each in a fresh browser context. "
        f"Project `{r['code']}`: {r['parcels']:,} parcels, {r['alerts']:,} open alerts"
        + (f" (made in {r['setup_seconds']:.0f} s)." if r['setup_seconds'] else " (made by an earlier run)."),
        "",
        "| what (s from the navigation's start) | vector tiles | inline GeoJSON (same run) | goal | met? |",
        "|---|---:|---:|---|---|",
        f"| parcels first on screen, median | {s(v['first_paint_ms_median'])} | {s(i['first_paint_ms_median'])} | "
        f"vector page under {GOAL_FIRST_PAINT_S:g} s | {yes} |",
        f"| parcels first on screen, first visit (server's tile cache cold) | {s(v['first_paint_ms_first_run'])} | "
        f"{s(i['first_paint_ms_first_run'])} | | |",
        f"| every parcel in view drawn, median | {s(v['complete_ms_median'])} | {s(i['complete_ms_median'])} | | |",
        f"| Chromium first contentful paint, median | {s(v['fcp_ms_median'])} | {s(i['fcp_ms_median'])} | | |",
        f"| page received (responseEnd), median | {s(v['response_end_ms_median'])} | "
        f"{s(i['response_end_ms_median'])} | | |",
        f"| load event, median | {s(v['load_ms_median'])} | {s(i['load_ms_median'])} | | |",
        f"| page size (MB) | {v['html_bytes'] / 1e6:.3f} | {i['html_bytes'] / 1e6:.1f} | | |",
        f"| vector tiles of the first view: requests; MB | {v['tile_requests']}; {v['tile_bytes'] / 1e6:.2f} | — | "
        f"| |",
        f"| visits not painted within the timeout ({args_timeout(r)} s) | {v['timed_out']} | {i['timed_out']} | | |",
        f"| console errors; tiles answered other than 200 | {len(v['console_errors'])}; {v['tiles_not_200']} | "
        f"{len(i['console_errors'])}; — | none | "
        f"{'**met**' if not v['console_errors'] and not v['tiles_not_200'] else '**not met**'} |",
    ]
    return "\n".join(lines) + "\n"


def args_timeout(r: dict) -> str:
    """The per-page timeout of the run."""
    return f"{r.get('timeout_s', 0):g}"


def update_readme(section: str) -> None:
    """Replace the results section of benchmarks/map/README.md (between the two markers)."""
    replace_results(HERE / "README.md", section)


def main() -> None:
    """Make the project, serve it, measure both pages, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="visits per page")
    parser.add_argument("--fresh", action="store_true", help="rebuild the benchmark project")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a page may take")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    url = db.database_url(start=False)
    engine = db.engine_for(url)
    with engine.begin() as conn:
        db.migrate(conn)
    machine = {"cpus": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()), "python": platform.python_version(),
               "chromium": subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()}
    log(f"project of {args.parcels:,} parcels ...")
    code, setup_s = make_project(engine, args.parcels, args.fresh)
    add_user(engine)
    with engine.connect() as conn:
        alerts = conn.execute(text("SELECT count(*) FROM alert a JOIN project p ON p.id = a.project_id "
                                   "WHERE p.code = :c"), {"c": code}).scalar_one()
    log(f"{code}: ready ({setup_s:.0f} s), {alerts} alerts; starting the server ...")
    proc, base, _ = start_server(url)
    runs: list[dict] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            order = [k for n in range(args.runs) for k in (("vector", "inline") if n % 2 == 0 else ("inline", "vector"))]
            shots: set[str] = set()
            for kind in order:
                shot = WORK / f"first_paint_{kind}.png" if kind not in shots else None
                shots.add(kind)
                r = measure(browser, base, code, kind, shot, args.timeout)
                log(f"{kind}: parcels on screen {r['first_paint_ms']} ms, complete "
                    f"{r['complete_ms']} ms, page {r['html_bytes'] / 1e6:.1f} MB, "
                    f"{r['tiles']['requests']} tiles, {len(r['console_errors'])} console errors")
                runs.append(r)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    result = {"at": time.strftime("%Y-%m-%d %H:%M"), "machine": machine, "code": code, "parcels": args.parcels,
              "alerts": alerts, "setup_seconds": setup_s, "runs": args.runs, "timeout_s": args.timeout, "visits": runs,
              "summary": summarise(runs)}
    with open(OUT / "map_results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result) + "\n")
    section = report(result)
    update_readme(section)
    print(section)


if __name__ == "__main__":
    main()
