"""Imagery benchmark: tiles against titiler, zonal statistics against rasterstats and exactextract, a 2 GB ingest,
and the figures on real imagery.

Usage (from the repository root, after ``scripts/bootstrap.sh``)::

    .venv/bin/python benchmarks/imagery/run.py            # full: a 2 GiB orthophoto (about 20 minutes)
    .venv/bin/python benchmarks/imagery/run.py --quick    # a 48 MB orthophoto, fewer tiles (about 2 minutes)

On a shared machine wrap the full run as ``flock /tmp/expro-bench.lock .venv/bin/python ...``.

1. The peer environment ``benchmarks/out/titiler-venv`` (titiler.core, uvicorn, rasterstats, exactextract)
   is created when missing; Expro's ``.venv`` never gets titiler.
2. A synthetic village orthophoto of ``--size-gib`` GiB of raw RGB pixels (EPSG:4550, 0.15 m) is rendered
   strip by strip with ``imagery.synthetic.render_orthophoto`` (reused when already there) over the scope of
   a benchmark project ``BENCH-IMG-SYNTH``.
3. Ingest: ``imagery.ingest.ingest_orthophoto`` in a child process: wall time, MB/s, peak RSS (VmHWM).
4. Tiles: Expro (``uvicorn api.app:create_app``, bearer token of a benchmark user) and titiler
   (``uvicorn titiler_app:app`` from the peer environment) serve the same COG; one client, warm-up, then
   the same random tiles at the three deepest zooms, interleaved (latency p50/p95), then with
   ``--concurrency`` client threads (tiles/s).
5. Zonal statistics: mean and count of band 1 per building over the same raster and polygons: Expro's
   technique (``zonal.py``, checked against ``imagery.change.compare``), rasterstats, exactextract.
6. Real imagery: the Pix4D drone orthomosaic ingested and a tile served by both servers; the NAIP
   2009/2020 change map; Alexandria footprints against 84 labelled buildings.

Results: JSON lines in ``benchmarks/out/imagery_results.jsonl``, the Markdown table in
``benchmarks/out/imagery_results.md`` and, for a full run, in the results section of
``benchmarks/imagery/README.md``. The benchmark projects, user and COGs are deleted at the end (unless
``--keep``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "out"
WORK = OUT / "imagery"
PEER_VENV = OUT / "titiler-venv"
PEER_PACKAGES = ("titiler.core", "uvicorn", "rasterstats", "exactextract")


def _real_data() -> Path:
    """The shared real rasters: EXPRO_REAL_DATA, next to the clone (../shared), or /work/shared."""
    env = os.environ.get("EXPRO_REAL_DATA")
    candidates = ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data" / "real",
                                                 Path("/work/shared/data/real")]
    return next((p for p in candidates if p.is_dir()), candidates[0])


REAL = _real_data()
BENCH_USER = "bench-imagery"
CODE_PREFIX = "BENCH-IMG-"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from benchmarks.readme_results import replace_results  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from sqlalchemy import text  # noqa: E402

from expro import db  # noqa: E402

GOAL_INGEST_RSS_MB = 1024
GOAL_ZONAL_RATIO = 1.5
GOAL_COLD_TILE_RATIO = 0.5
GOAL_WARM_TILE_MS = 10.0


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- environment ------------------------------------------------------------------------------------

def peer_python() -> Path:
    """The peer environment's interpreter, created (venv + pip install) when missing or incomplete."""
    python = PEER_VENV / "bin" / "python"
    probe = "import titiler.core, uvicorn, rasterstats, exactextract"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python
    log(f"creating the peer environment {PEER_VENV} (pip install {' '.join(PEER_PACKAGES)}) ...")
    OUT.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    with open(OUT / "titiler-venv-install.log", "w") as fh:
        subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", *PEER_PACKAGES],
                       check=True, stdout=fh, stderr=subprocess.STDOUT)
    subprocess.run([python, "-c", probe], check=True)
    return python


def versions(python: Path, names: tuple[str, ...]) -> dict:
    """Installed versions of ``names`` in the environment of ``python``."""
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\nfor n in sys.argv[1:]:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: out[n] = None\n"
            "import rasterio; out['gdal'] = rasterio.__gdal_version__\nprint(json.dumps(out))")
    res = subprocess.run([python, "-c", code, *names], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def machine(peer: Path) -> dict:
    """CPU, RAM, load, and the versions on both sides."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    names = ("rasterio", "rio-tiler", "fastapi", "uvicorn", "numpy", "shapely")
    return {"cpus": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 2**20, 1),
            "loadavg_at_start": os.getloadavg(), "python": platform.python_version(),
            "expro_env": versions(Path(sys.executable), names),
            "peer_env": versions(peer, (*names, "titiler.core", "rasterstats", "exactextract"))}


def child(cmd: list, timeout: float | None = None) -> dict:
    """Run a measured step in a fresh process; its last stdout line as JSON (SystemExit on failure)."""
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd[1:3]))} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def expro_side(*args) -> dict:
    """A step of expro_side.py with Expro's interpreter."""
    return child([sys.executable, HERE / "expro_side.py", *args])


# --- database fixtures ------------------------------------------------------------------------------

def cleanup_db() -> int:
    """Delete the benchmark projects (cascading: catalogue rows go too) and the benchmark user."""
    with db.get_engine().begin() as conn:
        n = conn.execute(text("DELETE FROM project WHERE code LIKE :c"), {"c": CODE_PREFIX + "%"}).rowcount
        conn.execute(text("DELETE FROM app_user WHERE username = :u"), {"u": BENCH_USER})
    return n


def add_project(code: str, srid: int, bounds: tuple[float, float, float, float]) -> int:
    """A bare project whose scope is ``bounds`` in ``srid`` (as tests/imagery/conftest.py's add_project)."""
    with db.get_engine().begin() as conn:
        pid = conn.execute(text("""
            INSERT INTO project (code, name, county_code, srid, pre_announcement_date)
            VALUES (:c, :c, '210112', :s, DATE '2020-01-01') RETURNING id"""), {"c": code, "s": srid}).scalar_one()
        conn.execute(text("INSERT INTO project_scope (project_id, geom) "
                          "VALUES (:p, ST_Multi(ST_SetSRID(ST_GeomFromWKB(:g), :s)))"),
                     {"p": pid, "g": shapely.to_wkb(shapely.box(*bounds)), "s": srid})
    return pid


def add_user_token() -> str:
    """The benchmark's GIS officer (as ``expro user add``) and a bearer token for it.

    The token is signed with ``api.security.create_token`` and Expro's settings (the server reads the same
    secret), not fetched from ``POST /auth/token``: a sign-in appends to the audit chain under a
    transaction-level advisory lock, so on a database shared with other runs it can wait for minutes.
    """
    from api.security import create_token
    from expro.settings import get_settings
    from supervision.accounts import upsert_user

    with db.get_engine().begin() as conn:
        user_id = upsert_user(conn, username=BENCH_USER, name="imagery benchmark", role="gis_officer",
                              password=secrets.token_urlsafe(16))
    return create_token(get_settings(), user_id, "gis_officer")


# --- tile servers and client ------------------------------------------------------------------------

def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A uvicorn server in a child process (started and stopped by this benchmark only)."""

    def __init__(self, name: str, python: Path, app: str, app_dir: Path, ready_path: str, factory: bool = False):
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [str(python), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
               "--app-dir", str(app_dir), "--no-access-log", "--log-level", "warning", "--workers", "1"]
        if factory:
            cmd.append("--factory")
        self.log_path = WORK / f"server_{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.base + ready_path, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"{name} server did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        """Terminate the server process (by its pid) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def vmhwm_mb(pid: int) -> float | None:
    """Peak resident set (VmHWM) of a running process, in MB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class TileSource:
    """How one server names the tiles of one COG."""

    def __init__(self, server: Server, url_of, headers: dict | None = None):
        self.server, self.url_of, self.headers = server, url_of, headers or {}

    @property
    def name(self) -> str:
        return self.server.name


def expro_source(server: Server, ortho_id: int, token: str) -> TileSource:
    """Expro's tile route for an orthophoto."""
    return TileSource(server, lambda z, x, y, maxz: f"{server.base}/tiles/{ortho_id}/{z}/{x}/{y}.png",
                      {"Authorization": f"Bearer {token}"})


def titiler_source(server: Server, cog_path: str) -> TileSource:
    """titiler's tile route for the same COG, asking for what Expro renders (bands 1-3, bilinear at the
    deepest zoom, nearest above: imagery.readers.OrthoTileReader)."""
    def url(z, x, y, maxz):
        resampling = "&resampling=bilinear" if z >= maxz else ""
        return (f"{server.base}/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={cog_path}"
                f"&bidx=1&bidx=2&bidx=3{resampling}")
    return TileSource(server, url)


def sample_tiles(cog_path: str, n: int, zooms: int, rng: random.Random, exclude: frozenset = frozenset(),
                 ) -> tuple[list[tuple[int, int, int]], int]:
    """``n`` distinct random tiles (with their zoom) at the ``zooms`` deepest zooms, inside the COG's bounds, none
    of ``exclude`` (so that measured tiles are cold for Expro's tile cache); and maxzoom."""
    import rasterio
    from rasterio.warp import transform_bounds

    from imagery.tiles import tile_at, zoom_range

    _, maxz = zoom_range(cog_path)
    with rasterio.open(cog_path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    tiles = []
    per = [n // zooms + (i < n % zooms) for i in range(zooms)]
    for z, k in zip(range(maxz - zooms + 1, maxz + 1), per):
        _, x0, y0 = tile_at(west, north, z)
        _, x1, y1 = tile_at(east, south, z)
        if x1 - x0 >= 2:  # whole tiles only: not the partly covered edge tiles
            x0, x1 = x0 + 1, x1 - 1
        if y1 - y0 >= 2:
            y0, y1 = y0 + 1, y1 - 1
        chosen: set[tuple[int, int, int]] = set()
        room = (x1 - x0 + 1) * (y1 - y0 + 1) - sum(1 for t in exclude if t[0] == z)
        while len(chosen) < min(k, room):
            t = (z, rng.randint(x0, x1), rng.randint(y0, y1))
            if t not in exclude:
                chosen.add(t)
        tiles += sorted(chosen)
    rng.shuffle(tiles)
    return tiles, maxz


_local = threading.local()


def _client(headers: dict) -> httpx.Client:
    key = tuple(sorted(headers.items()))
    clients = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    if key not in clients:
        clients[key] = httpx.Client(headers=headers, timeout=60)
    return clients[key]


def fetch(src: TileSource, tile: tuple[int, int, int], maxz: int) -> tuple[float, bytes]:
    """Seconds to get one tile (status 200 required) and its body."""
    z, x, y = tile
    client = _client(src.headers)
    t0 = time.perf_counter()
    res = client.get(src.url_of(z, x, y, maxz))
    elapsed = time.perf_counter() - t0
    if res.status_code != 200:
        raise SystemExit(f"{src.name} answered {res.status_code} for tile {z}/{x}/{y}: {res.text[:300]}")
    return elapsed, res.content


def decode(png: bytes) -> np.ndarray:
    """RGBA pixels of a tile."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def compare_tiles(a: bytes, b: bytes) -> dict:
    """Whether two servers drew the same tile: size, opaque share, mean RGB difference where both are opaque."""
    pa, pb = decode(a), decode(b)
    both = (pa[..., 3] > 0) & (pb[..., 3] > 0)
    diff = float(np.abs(pa[..., :3].astype(int) - pb[..., :3].astype(int))[both].mean()) if both.any() else None
    return {"same_size": pa.shape == pb.shape, "opaque_a": float((pa[..., 3] > 0).mean()),
            "opaque_b": float((pb[..., 3] > 0).mean()), "mean_abs_rgb_diff": diff}


def tile_benchmark(sources: list[TileSource], cog_path: str, n: int, zooms: int, concurrency: int,
                   warmup: int, seed: int = 1) -> dict:
    """Latency (interleaved, one connection per server) of cold tiles (never asked before) and of the same
    tiles asked again (warm), then throughput (``concurrency`` threads) per source."""
    rng = random.Random(seed)
    warm_up, _ = sample_tiles(cog_path, warmup, zooms, random.Random(seed + 1))
    tiles, maxz = sample_tiles(cog_path, n, zooms, rng, exclude=frozenset(warm_up))
    for src in sources:
        for t in warm_up:
            fetch(src, t, maxz)
    lat: dict[str, dict[str, list[float]]] = {s.name: {"cold": [], "warm": []} for s in sources}
    sizes: dict[str, list[int]] = {s.name: [] for s in sources}
    diffs = []
    for rnd in ("cold", "warm"):
        for i, t in enumerate(tiles):
            order = sources[:]
            rng.shuffle(order)
            bodies = {}
            for src in order:
                seconds, body = fetch(src, t, maxz)
                lat[src.name][rnd].append(seconds)
                if rnd == "cold":
                    sizes[src.name].append(len(body))
                bodies[src.name] = body
            if rnd == "cold" and i % max(1, n // 20) == 0:  # every source against the last one (the peer)
                for src in sources[:-1]:
                    diffs.append(compare_tiles(bodies[src.name], bodies[sources[-1].name]))
    out: dict = {"tiles": len(tiles), "zooms": sorted({z for z, _, _ in tiles}), "maxzoom": maxz,
                 "concurrency": concurrency, "per_source": {}}
    for src in sources:
        v = np.array(lat[src.name]["cold"]) * 1000
        w = np.array(lat[src.name]["warm"]) * 1000
        out["per_source"][src.name] = {"p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95)),
                                       "mean_ms": float(v.mean()), "sequential_tiles_per_s": float(1000 / v.mean()),
                                       "warm_p50_ms": float(np.percentile(w, 50)),
                                       "warm_p95_ms": float(np.percentile(w, 95)),
                                       "warm_tiles_per_s": float(1000 / w.mean()),
                                       "mean_png_bytes": float(np.mean(sizes[src.name])), "throughput_runs": []}
    # throughput: A B B A, each run the whole list with `concurrency` threads
    for src in sources + sources[::-1]:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda t: fetch(src, t, maxz), tiles))
        out["per_source"][src.name]["throughput_runs"].append(len(tiles) / (time.perf_counter() - t0))
    for src in sources:
        runs = out["per_source"][src.name]["throughput_runs"]
        out["per_source"][src.name]["tiles_per_s"] = float(statistics.mean(runs))
    out["pixel_agreement"] = {  # of Expro's tiles with titiler's
        "tiles_compared": len(diffs), "all_same_size": all(d["same_size"] for d in diffs),
        "max_mean_abs_rgb_diff": max((d["mean_abs_rgb_diff"] or 0.0) for d in diffs) if diffs else None,
        "median_mean_abs_rgb_diff": float(np.median([d["mean_abs_rgb_diff"] or 0.0 for d in diffs])) if diffs else None}
    return out


def centre_tile(cog_path: str) -> tuple[tuple[int, int, int], int]:
    """The tile at the centre of a COG at its deepest zoom (as tests/imagery/test_tiles.py), and maxzoom."""
    import rasterio
    from rasterio.warp import transform_bounds

    from imagery.tiles import tile_at, zoom_range

    _, maxz = zoom_range(cog_path)
    with rasterio.open(cog_path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return tile_at((west + east) / 2, (south + north) / 2, maxz), maxz


def one_tile(sources: list[TileSource], cog_path: str) -> dict:
    """The centre tile from each server (cold for this COG): latency, size, non-blank check."""
    tile, maxz = centre_tile(cog_path)
    out: dict = {"tile": list(tile)}
    bodies = {}
    for src in sources:
        seconds, body = fetch(src, tile, maxz)
        px = decode(body)
        opaque = px[..., 3] > 0
        out[src.name] = {"ms": seconds * 1000, "png_bytes": len(body), "opaque_share": float(opaque.mean()),
                         "rgb_std": float(px[..., :3][opaque].std()) if opaque.any() else 0.0}
        bodies[src.name] = body
    out["agreement"] = compare_tiles(bodies[sources[0].name], bodies[sources[-1].name])
    return out


# --- zonal statistics -------------------------------------------------------------------------------

def write_buildings_geojson(gpkg: Path, out: Path) -> int:
    """The roofs of the synthetic orthophoto as GeoJSON in EPSG:4550 coordinates (for both environments)."""
    import geopandas as gpd

    frame = gpd.read_file(gpkg)
    out.write_text(frame[["building", "geometry"]].to_json(drop_id=True))
    return len(frame)


def warm_page_cache(path: Path) -> None:
    """Read a file once so that every zonal implementation starts with it in the page cache."""
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


def zonal_benchmark(peer: Path, tif: Path, buildings: Path, check_px: int) -> dict:
    """Expro's technique, rasterstats and exactextract on the same raster and polygons; agreement of the means."""
    warm_page_cache(tif)
    res = {"expro": expro_side("zonal", tif, buildings, WORK / "zonal_expro.npz", "--check-px", check_px)}
    log(f"zonal expro: {res['expro']['seconds']:.1f} s")
    for peer_name in ("rasterstats", "exactextract"):
        res[peer_name] = child([peer, HERE / "peer_side.py", peer_name, tif, buildings,
                                WORK / f"zonal_{peer_name}.npz"])
        log(f"zonal {peer_name}: {res[peer_name]['seconds']:.1f} s")
    e = np.load(WORK / "zonal_expro.npz")
    for peer_name in ("rasterstats", "exactextract"):
        p = np.load(WORK / f"zonal_{peer_name}.npz")
        both = np.isfinite(e["mean"]) & np.isfinite(p["mean"])
        res[peer_name]["agreement_with_expro"] = {
            "max_abs_mean_diff": float(np.abs(e["mean"][both] - p["mean"][both]).max()),
            "median_abs_mean_diff": float(np.median(np.abs(e["mean"][both] - p["mean"][both]))),
            "median_rel_count_diff": float(np.median(np.abs(e["count"][both] - p["count"][both]) /
                                                     np.maximum(p["count"][both], 1e-9))),
            "identical_counts": bool(np.array_equal(e["count"], p["count"]))}
    return res


# --- report -----------------------------------------------------------------------------------------

def _f(v, fmt=".1f") -> str:
    return "—" if v is None else format(v, fmt)


def report(r: dict) -> str:
    """The Markdown results section."""
    m, s, ing = r["machine"], r["synthetic"], r["ingest"]
    tb, z, real = r["tiles"], r["zonal"], r["real"]
    ex, ti = tb["per_source"]["expro"], tb["per_source"]["titiler"]
    ee, rs, xx = z["expro"], z["rasterstats"], z["exactextract"]
    goals = r["goals"]
    yes = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
    raw_mb = s["raw_bytes"] / 1e6
    lines = [
        f"Run {r['at']} ({'quick' if r['quick'] else 'full'}): {m['cpus']} × {m['cpu']}, {m['ram_gb']} GB RAM, "
        f"load average at start {' / '.join(f'{v:.1f}' for v in m['loadavg_at_start'])}; Python {m['python']}, "
        f"GDAL {m['expro_env']['gdal']}, rasterio {m['expro_env']['rasterio']}, rio-tiler "
        f"{m['expro_env']['rio-tiler']} (Expro) / {m['peer_env']['rio-tiler']} (titiler.core "
        f"{m['peer_env']['titiler.core']}), rasterstats {m['peer_env']['rasterstats']}, exactextract "
        f"{m['peer_env']['exactextract']}.",
        "",
        f"Synthetic orthophoto: {s['width']:,} × {s['height']:,} px RGB uint8 at 0.15 m in EPSG:4550 "
        f"({raw_mb:,.0f} MB of pixels = {s['raw_bytes'] / 2**30:.2f} GiB; {s['file_bytes'] / 1e6:,.0f} MB as a "
        f"tiled deflate GeoTIFF), {s['buildings']:,} buildings; rendered in {s['render_seconds']:.0f} s"
        f"{' (reused from an earlier run)' if s['reused'] else ''}.",
        "",
        "| what | Expro | peer (same run) | goal | met? |",
        "|---|---:|---:|---|---|",
        f"| cold tile latency p50, {tb['tiles']} distinct random tiles never asked before, zooms "
        f"{', '.join(map(str, tb['zooms']))} (ms) | "
        f"{ex['p50_ms']:.1f} | titiler {ti['p50_ms']:.1f} | at most half of titiler's "
        f"(Expro/titiler = {ex['p50_ms'] / ti['p50_ms']:.2f}) | {yes(goals['tile_cold'])} |",
        f"| cold tile latency p95 (ms) | {ex['p95_ms']:.1f} | titiler {ti['p95_ms']:.1f} | | |",
        f"| warm tile latency p50, the same tiles asked again (ms) | {ex['warm_p50_ms']:.1f} | "
        f"titiler {ti['warm_p50_ms']:.1f} | under {GOAL_WARM_TILE_MS:g} ms | {yes(goals['tile_warm'])} |",
        f"| warm tile latency p95 (ms) | {ex['warm_p95_ms']:.1f} | titiler {ti['warm_p95_ms']:.1f} | | |",
        f"| tiles/s, one connection, cold; warm | {ex['sequential_tiles_per_s']:.1f}; {ex['warm_tiles_per_s']:.0f} | "
        f"titiler {ti['sequential_tiles_per_s']:.1f}; {ti['warm_tiles_per_s']:.1f} | | |",
        f"| tiles/s, {tb['concurrency']} client threads (warm) | {ex['tiles_per_s']:.1f} | "
        f"titiler {ti['tiles_per_s']:.1f} | | |",
        f"| Web-Mercator pyramid of the COG (built once after ingest): wall time (s); size (MB); peak RSS (MB) | "
        f"{r['pyramid']['seconds']:.0f}; {r['pyramid']['bytes'] / 1e6:,.0f}; {r['pyramid']['vmhwm_mb']:.0f} | — | "
        f"< {GOAL_INGEST_RSS_MB} MB | {yes(goals['pyramid_rss'])} |",
        f"| Expro tile server peak RSS after the tiles, VmHWM (MB) | {_f(tb.get('expro_server_vmhwm_mb'), '.0f')} "
        f"| — | bounded (tile cache {tb.get('tile_cache_mb', 256)} MB) | — |",
        f"| zonal mean+count of band 1, {ee['buildings']:,} buildings (s) | {ee['seconds']:.1f} | exactextract "
        f"{xx['seconds']:.1f}; rasterstats {rs['seconds']:.1f} | within {GOAL_ZONAL_RATIO}× of exactextract "
        f"(Expro/exactextract = {ee['seconds'] / xx['seconds']:.1f}×) | {yes(goals['zonal'])} |",
        f"| zonal buildings/s | {ee['buildings_per_s']:,.0f} | exactextract {xx['buildings_per_s']:,.0f}; "
        f"rasterstats {rs['buildings_per_s']:,.0f} | | |",
        f"| ingest of the {raw_mb / 1000:.1f} GB orthophoto to a COG: wall time (s) | {ing['seconds']:.0f} | — | | |",
        f"| ingest throughput (MB/s of raw pixels; of the source file) | {raw_mb / ing['seconds']:.1f}; "
        f"{s['file_bytes'] / 1e6 / ing['seconds']:.1f} | — | | |",
        f"| ingest peak RSS, VmHWM of the child process (MB) | {ing['vmhwm_mb']:.0f} | — | < {GOAL_INGEST_RSS_MB} MB | "
        f"{yes(goals['ingest_rss'])} |",
        f"| Pix4D drone orthomosaic ({real['pix4d']['width']}×{real['pix4d']['height']} px RGBA): ingest (s) | "
        f"{real['pix4d']['seconds']:.2f} | — | ingests | {yes(True)} |",
        f"| Pix4D centre tile z{real['pix4d_tile']['tile'][0]} over HTTP, first request (ms; opaque share) | "
        f"{real['pix4d_tile']['expro']['ms']:.0f}; {real['pix4d_tile']['expro']['opaque_share']:.2f} | titiler "
        f"{real['pix4d_tile']['titiler']['ms']:.0f}; {real['pix4d_tile']['titiler']['opaque_share']:.2f} | "
        f"serves tiles | {yes(goals['pix4d_tile'])} |",
        f"| NAIP 2009 → 2020 change map: changed share of the observed area | {real['naip']['changed_share']:.3f} "
        f"({real['naip']['changed_ha']:.0f} ha, observed {real['naip']['observed_share_of_grid']:.2f} of the "
        f"{real['naip']['grid_px'][0]}×{real['naip']['grid_px'][1]} grid) | — | a change map | {yes(True)} |",
        f"| Alexandria footprints from height above ground vs 84 labels: precision / recall (IoU ≥ 0.5) | "
        f"{real['alexandria']['precision']:.3f} / {real['alexandria']['recall']:.3f} | — | reported | — |",
        f"| Alexandria median IoU (per label; per found footprint) | {real['alexandria']['median_iou']:.3f}; "
        f"{real['alexandria']['median_iou_of_found']:.3f} | — | reported | — |",
        f"| Alexandria pixel precision / recall / IoU | {real['alexandria']['pixel_precision']:.3f} / "
        f"{real['alexandria']['pixel_recall']:.3f} / {real['alexandria']['pixel_iou']:.3f} | — | reported | — |",
        "",
        f"Tiles, pixels of Expro's against titiler's ({tb['pixel_agreement']['tiles_compared']} "
        f"comparisons: same size {tb['pixel_agreement']['all_same_size']}, mean |ΔRGB| median "
        f"{_f(tb['pixel_agreement']['median_mean_abs_rgb_diff'], '.2f')}, max "
        f"{_f(tb['pixel_agreement']['max_mean_abs_rgb_diff'], '.2f')}); mean PNG {ex['mean_png_bytes'] / 1000:.0f} kB "
        f"(Expro) / {ti['mean_png_bytes'] / 1000:.0f} kB (titiler). "
        f"Zonal agreement: Expro's counts equal rasterstats' "
        f"{'exactly' if rs['agreement_with_expro']['identical_counts'] else 'NOT exactly'} (max |Δmean| "
        f"{rs['agreement_with_expro']['max_abs_mean_diff']:.3g}); exactextract weights edge pixels by coverage "
        f"(median |Δcount|/count {xx['agreement_with_expro']['median_rel_count_diff']:.3f}, median |Δmean| "
        f"{xx['agreement_with_expro']['median_abs_mean_diff']:.3g}). Expro's zonal loop gives the same per-building "
        f"counts as `imagery.change.compare` on a {z['expro']['check_against_compare']['grid_px'][0]} px sub-grid: "
        f"{z['expro']['check_against_compare']['identical_counts']}; the child's peak RSS after its loop (before that "
        f"check) {_f(ee.get('vmhwm_mb'), ',.0f')} MB (VmHWM). Ingest: COG {ing['cog_bytes'] / 1e6:,.0f} MB "
        f"(JPEG). Peak memory is VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's peak (Linux keeps "
        f"it across fork and exec), so it reports run.py's own peak from rendering.",
    ]
    return "\n".join(lines) + "\n"


def update_readme(section: str) -> None:
    """Replace the results section of benchmarks/imagery/README.md (between the two markers)."""
    replace_results(HERE / "README.md", section)


# --- main -------------------------------------------------------------------------------------------

def main() -> None:
    """Run every part of the benchmark; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for development")
    parser.add_argument("--size-gib", type=float, default=None, help="raw pixel size of the synthetic orthophoto")
    parser.add_argument("--tiles", type=int, default=None, help="measured tiles per server")
    parser.add_argument("--zooms", type=int, default=3, help="the deepest zooms sampled")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads for tiles/s")
    parser.add_argument("--keep", action="store_true", help="keep the projects, user and COGs")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite the tables from the last line of benchmarks/out/imagery_results.jsonl")
    args = parser.parse_args()
    if args.report:
        last = json.loads((OUT / "imagery_results.jsonl").read_text(encoding="utf-8").strip().splitlines()[-1])
        section = report(last)
        (OUT / "imagery_results.md").write_text(section, encoding="utf-8")
        if not last["quick"]:
            update_readme(section)
        print(section)
        return
    size_gib = args.size_gib or (48e6 / 2**30 if args.quick else 2.0)
    n_tiles = args.tiles or (60 if args.quick else 200)
    WORK.mkdir(parents=True, exist_ok=True)
    peer = peer_python()
    env = machine(peer)
    log(f"machine: {json.dumps(env)}")
    if not REAL.is_dir():
        raise SystemExit(f"the real rasters are missing: {REAL}")
    import synth

    log(f"synthetic orthophoto of {size_gib:.3f} GiB raw pixels ...")
    synth_dir = WORK / f"synth_{synth.side_px_for(size_gib * 2**30)}"
    s = synth.build(synth_dir, size_gib * 2**30)
    log(f"synthetic orthophoto: {s['width']}×{s['height']} px, {s['buildings']} buildings, "
        f"{s['file_bytes'] / 1e6:.0f} MB file, rendered in {s['render_seconds']} s"
        + (" (reused)" if s["reused"] else ""))
    buildings = synth_dir / "buildings.geojson"
    write_buildings_geojson(synth_dir / "buildings.gpkg", buildings)
    store = WORK / "store"
    leftover = cleanup_db()
    if leftover:
        log(f"deleted {leftover} benchmark project(s) left by an earlier run")
    shutil.rmtree(store, ignore_errors=True)
    servers: list[Server] = []
    result: dict = {"at": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "machine": env, "synthetic": s}
    try:
        synth_pid = add_project(CODE_PREFIX + "SYNTH", 4550, tuple(s["bounds"]))
        import rasterio

        with rasterio.open(REAL / "drone_ortho_pix4d_bali.tif") as src:
            pix4d_pid = add_project(CODE_PREFIX + "PIX4D", src.crs.to_epsg(), tuple(src.bounds))
        token = add_user_token()

        log("ingest of the synthetic orthophoto (child process) ...")
        result["ingest"] = expro_side("ingest", synth_pid, synth_dir / "ortho.tif", store)
        log(f"ingest: {result['ingest']['seconds']:.0f} s, VmHWM {result['ingest']['vmhwm_mb']:.0f} MB")
        log("Web-Mercator pyramid of the COG (child process) ...")
        result["pyramid"] = expro_side("pyramid", result["ingest"]["cog_path"])
        log(f"pyramid: {result['pyramid']['seconds']:.0f} s, {result['pyramid']['bytes'] / 1e6:.0f} MB, "
            f"VmHWM {result['pyramid']['vmhwm_mb']:.0f} MB")
        log("Pix4D ingest ...")
        pix = expro_side("pix4d", pix4d_pid, REAL / "drone_ortho_pix4d_bali.tif", store)
        result["real"] = {"pix4d": pix}

        log("starting the tile servers ...")
        expro_server = Server("expro", Path(sys.executable), "api.app:create_app", ROOT, "/health", factory=True)
        servers.append(expro_server)
        titiler_server = Server("titiler", peer, "titiler_app:app", HERE, "/cog/tilematrixsets")
        servers.append(titiler_server)
        cog = result["ingest"]["cog_path"]
        sources = [expro_source(expro_server, result["ingest"]["ortho_id"], token),
                   titiler_source(titiler_server, cog)]
        log(f"tiles: {n_tiles} per server, then {args.concurrency} threads ...")
        result["tiles"] = tile_benchmark(sources, cog, n_tiles, args.zooms, args.concurrency,
                                         warmup=10 if args.quick else 30)
        result["tiles"]["expro_server_vmhwm_mb"] = vmhwm_mb(expro_server.proc.pid)
        log("tiles: " + json.dumps({k: {m: round(v[m], 1) for m in ("p50_ms", "p95_ms", "warm_p50_ms", "tiles_per_s")}
                                    for k, v in result["tiles"]["per_source"].items()}))
        result["real"]["pix4d_tile"] = one_tile(
            [expro_source(expro_server, pix["ortho_id"], token), titiler_source(titiler_server, pix["cog_path"])],
            pix["cog_path"])
        for srv in servers:
            srv.stop()
        servers.clear()

        log("zonal statistics ...")
        result["zonal"] = zonal_benchmark(peer, synth_dir / "ortho.tif", buildings, 2048 if args.quick else 4096)
        log("NAIP change ...")
        result["real"]["naip"] = expro_side("naip", REAL, WORK / "naip")
        log("Alexandria footprints ...")
        result["real"]["alexandria"] = expro_side("alexandria", REAL)
    finally:
        for srv in servers:
            srv.stop()
        if not args.keep:
            cleanup_db()
            shutil.rmtree(store, ignore_errors=True)
            shutil.rmtree(WORK / "naip", ignore_errors=True)

    ex, ti = result["tiles"]["per_source"]["expro"], result["tiles"]["per_source"]["titiler"]
    pt = result["real"]["pix4d_tile"]["expro"]
    result["goals"] = {
        "tile_cold": ex["p50_ms"] <= GOAL_COLD_TILE_RATIO * ti["p50_ms"],
        "tile_warm": ex["warm_p50_ms"] < GOAL_WARM_TILE_MS,
        "pyramid_rss": result["pyramid"]["vmhwm_mb"] < GOAL_INGEST_RSS_MB,
        "zonal": result["zonal"]["expro"]["seconds"] <= GOAL_ZONAL_RATIO * result["zonal"]["exactextract"]["seconds"],
        "ingest_rss": result["ingest"]["vmhwm_mb"] < GOAL_INGEST_RSS_MB,
        "pix4d_tile": pt["opaque_share"] > 0.5 and pt["rgb_std"] > 5}
    with open(OUT / "imagery_results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, default=str) + "\n")
    section = report(result)
    (OUT / "imagery_results.md").write_text(section, encoding="utf-8")
    if not args.quick:
        update_readme(section)
    print(section)


if __name__ == "__main__":
    main()
