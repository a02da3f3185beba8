"""Footprints with and without a surface model (issue 10, Build point 3).

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/footprints/with_dsm.py --styles 6

* Held-out rendered styles (snow/wet, seeds ≥ 10,000) at 0.15 m, each with a surface model rendered from the
  generator's truth (``imagery.render.render_surface_model``: buildings raised storeys × 3 m over a gently sloping,
  undulating ground with 0.15 m noise, tree crowns as domes of 3-8 m) at 0.3 m: the committed U-Net alone, and
  fused with the height above ground (``imagery.dsm``); round 1 with its height path for the record.
* Alexandria (real): only a 2 m surface model, no orthophoto: round 1's height path on the DSM itself (its own
  ground estimate) and on the supplied height above ground.

One JSON line per run to ``benchmarks/out/footprints_dsm.jsonl``; a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import shapely  # noqa: E402

from benchmarks.footprints.evaluate import REAL_DIR, score, score_set  # noqa: E402
from imagery.footprints import extract_footprints  # noqa: E402
from imagery.segment import SegmentParams  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def alexandria(raster: str) -> dict:
    """Round 1's height path on one of Alexandria's rasters, scored in the labelled area."""
    path = REAL_DIR / f"elev_alexandria_{raster}.tif"
    found = extract_footprints(height_path=path, params=SegmentParams(min_area_m2=20.0, min_rectangularity=0.5))
    with rasterio.open(path) as src:
        labels = gpd.read_file(REAL_DIR / "elev_alexandria_buildings.geojson").to_crs(src.crs)
    truth = labels.geometry.to_numpy()
    area = shapely.convex_hull(shapely.union_all(shapely.make_valid(truth)))
    measured = np.array([f.geometry for f in found if area.contains(f.geometry.centroid)], dtype=object)
    return score(measured, truth)


def main() -> None:
    """Score the extractors with and without a surface model."""
    from imagery.cnn import RoofSegmenter
    from imagery.render import HELD_OUT, render_scene, render_surface_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--styles", type=int, default=6)
    ap.add_argument("--resolution", type=float, default=0.15)
    ap.add_argument("--dsm-resolution", type=float, default=0.3)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    unet = RoofSegmenter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.styles):
            seed = 10_000 + i
            scene = render_scene(Path(tmp) / f"held_{i}.tif", seed=seed, split=HELD_OUT, resolution_m=args.resolution)
            dsm = render_surface_model(scene, Path(tmp) / f"held_{i}_dsm.tif", seed=seed,
                                       resolution_m=args.dsm_resolution)
            runs = {"U-Net": lambda p: unet.extract(p),
                    "U-Net + DSM": lambda p: unet.extract(p, height_path=dsm),
                    "round 1 + DSM": lambda p: extract_footprints(rgb_path=p, height_path=dsm)}
            for name, extract in runs.items():
                t0 = time.perf_counter()
                s = score_set(extract, scene.path, scene.footprints)
                s.update(set=f"held-out style {i} ({scene.style.summary()})", run=name,
                         seconds=round(time.perf_counter() - t0, 1))
                rows.append(s)
                print(json.dumps(s), file=sys.stderr)
    for raster in ("dsm", "hag"):
        s = alexandria(raster)
        s.update(set=f"alexandria (2 m {raster.upper()}, no orthophoto)", run="round 1 height path", seconds=0.0)
        rows.append(s)
    with open(OUT / "footprints_dsm.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("| set | run | reference | measured | precision | recall | F1 | median IoU | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['set']} | {r['run']} | {r['reference']} | {r['measured']} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['f1']:.3f} | {r['median_iou']:.3f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
