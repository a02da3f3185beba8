"""Footprint extraction scored on real labelled imagery and on held-out rendered styles (issue 10).

    nice -n 15 .venv/bin/python benchmarks/footprints/run.py --extractor classical      # round 1
    nice -n 15 .venv/bin/python benchmarks/footprints/run.py --extractor model          # the U-Net (imagery.cnn)
    nice -n 15 .venv/bin/python benchmarks/footprints/run.py --extractor gbm            # pixel-classifier baseline

With ``--extractor model`` (or ``gbm``) each real drone set is scored with the leave-one-set-out model that never
saw it (``benchmarks/out/footprint_folds/unet_without_<set>.onnx``, written by
``scripts/train_footprints_cnn.py --folds``; ``footprints_without_<set>.txt`` by ``scripts/train_footprints.py``);
everything else (held-out styles, Atlanta) with the committed model, which saw no held-out style and no Atlanta.
Alexandria has only a surface model: scored with the height path of ``extract_footprints``.
One JSON line per data set goes to ``benchmarks/out/footprints_<extractor>.jsonl``; a Markdown table is printed.
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
sys.path.insert(0, str(ROOT / "benchmarks" / "area_check"))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import shapely  # noqa: E402

from benchmarks.footprints.evaluate import DRONE_SETS, REAL_DIR, atlanta_as_rgb, drone_paths, score, score_set  # noqa: E402,E501
from imagery.footprints import extract_footprints  # noqa: E402
from imagery.segment import SegmentParams  # noqa: E402
from memwatch import peak_rss_mb  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def classical(path: Path) -> list:
    """Round 1's extractor (colour contrast against the local ground, no learnt model)."""
    return extract_footprints(rgb_path=path, method="classical")


def model_extractor(model_path: Path | None = None):
    """The U-Net (the committed network unless ``model_path``)."""
    from imagery.cnn import RoofSegmenter

    return RoofSegmenter(model_path).extract


def gbm_extractor(model_path: Path | None = None):
    """The gradient-boosted pixel classifier (imagery.learnt), a baseline."""
    from imagery.learnt import FootprintModel

    return FootprintModel.load(model_path).extract


def alexandria() -> dict:
    """Round 1's height path on the 2 m height above ground, scored in the labelled area (as the imagery bench)."""
    hag = REAL_DIR / "elev_alexandria_hag.tif"
    found = extract_footprints(height_path=hag, params=SegmentParams(min_area_m2=20.0, min_rectangularity=0.5))
    with rasterio.open(hag) as src:
        labels = gpd.read_file(REAL_DIR / "elev_alexandria_buildings.geojson").to_crs(src.crs)
    truth = labels.geometry.to_numpy()
    area = shapely.convex_hull(shapely.union_all(shapely.make_valid(truth)))
    measured = np.array([f.geometry for f in found if area.contains(f.geometry.centroid)], dtype=object)
    return score(measured, truth)


def held_out_styles(extract, resolution_m: float, count: int) -> list[dict]:
    """Render ``count`` districts in held-out styles and score ``extract`` against the generator's outlines."""
    from imagery.render import HELD_OUT, render_scene

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            scene = render_scene(Path(tmp) / f"held_{i}.tif", seed=10_000 + i, split=HELD_OUT,
                                 resolution_m=resolution_m)
            t0 = time.perf_counter()
            s = score_set(extract, scene.path, scene.footprints)
            s.update(set=f"held-out style {i} ({scene.style.summary()})", seconds=time.perf_counter() - t0)
            rows.append(s)
    return rows


def main() -> None:
    """Score one extractor on every set; JSON lines and a Markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--extractor", choices=["classical", "model", "gbm"], default="classical")
    ap.add_argument("--sets", nargs="*", default=list(DRONE_SETS))
    ap.add_argument("--styles", type=int, default=6, help="held-out rendered districts (0: none)")
    ap.add_argument("--resolution", type=float, default=0.15)
    ap.add_argument("--no-atlanta", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    rows = []
    folds = ROOT / "benchmarks" / "out" / "footprint_folds"
    if args.extractor == "classical":
        default = classical
    elif args.extractor == "model":
        default = model_extractor()
    else:
        gbm = folds / "footprints_all.txt"
        default = gbm_extractor(gbm) if gbm.exists() else None
    for name in args.sets:
        rgb, labels = drone_paths(name)
        extract = default
        if args.extractor != "classical":
            fold = folds / (f"unet_without_{name}.onnx" if args.extractor == "model"
                            else f"footprints_without_{name}.txt")
            extract = (model_extractor if args.extractor == "model" else gbm_extractor)(fold) \
                if fold.exists() else None
            if extract is None:
                print(f"no leave-one-set-out model for {name}: skipped", file=sys.stderr)
                continue
        t0 = time.perf_counter()
        s = score_set(extract, rgb, labels)
        s.update(set=f"drone_{name}", seconds=time.perf_counter() - t0)
        rows.append(s)
        print(json.dumps(s), file=sys.stderr)
    if default is None:
        args.no_atlanta, args.styles = True, 0
    if not args.no_atlanta:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = score_set(default, atlanta_as_rgb(out_dir=Path(tmp)), REAL_DIR / "spacenet_atlanta_buildings.geojson")
            s.update(set="atlanta (0.5 m panchromatic as grey RGB)", seconds=time.perf_counter() - t0)
            rows.append(s)
    if args.styles:
        rows.extend(held_out_styles(default, args.resolution, args.styles))
    s = alexandria()
    s.update(set="alexandria (2 m height above ground, height path)", seconds=0.0)
    rows.append(s)
    with open(OUT / f"footprints_{args.extractor}.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"| set | reference | measured | precision | recall | F1 | median IoU | median area error | s |  "
          f"(extractor: {args.extractor}, peak RSS {peak_rss_mb():.0f} MB)")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        err = "—" if r["median_area_error"] is None else f"{r['median_area_error']:+.2f}"
        print(f"| {r['set']} | {r['reference']} | {r['measured']} | {r['precision']:.3f} | {r['recall']:.3f} | "
              f"{r['f1']:.3f} | {r['median_iou']:.3f} | {err} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
