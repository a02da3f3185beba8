"""Post-processing of the U-Net's maps chosen on training sets only (issue 10, no retraining).

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/footprints/postproc.py --left-out kampala

The network that never saw the left-out set X computes its probability maps once per tile on every *other* real
set (its training sets; ``--skip`` leaves some out to save time). Each combination of roof threshold, edge
threshold (cores of touching roofs), opening and minimum area is scored there; the one with the best mean F1
over those sets is then applied once to X. X is never looked at while choosing. One JSON line per combination
to ``benchmarks/out/footprints_postproc_<X>.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.footprints.evaluate import DRONE_SETS, drone_paths, labels_inside, score  # noqa: E402
from benchmarks.footprints.tta import tiles  # noqa: E402
from imagery.cnn import PARAMS, RoofSegmenter, outlines  # noqa: E402

GRID = {"threshold": (0.4, 0.5, 0.6), "edge_threshold": (0.3, 0.5, 0.7), "opening_m": (0.5, 0.75, 1.0),
        "min_area_m2": (4.0, 6.0, 10.0)}


def found(cached: list, threshold: float, edge_threshold: float, opening_m: float, min_area_m2: float,
          res: float = 0.25) -> np.ndarray:
    params = dataclasses.replace(PARAMS, opening_m=opening_m, min_area_m2=min_area_m2)
    kept = []
    for roof, edge, valid, tr, (cx0, cy0, cx1, cy1) in cached:
        for poly, _, _ in outlines(roof, edge, valid, tr, res, threshold, params, edge_threshold):
            c = poly.centroid
            if cx0 <= c.x < cx1 and cy0 < c.y <= cy1:
                kept.append(poly)
    return np.array(kept, dtype=object)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--left-out", required=True, choices=DRONE_SETS)
    ap.add_argument("--model", type=Path, help="default: benchmarks/out/footprint_folds/unet_without_<X>.onnx")
    ap.add_argument("--skip", nargs="*", default=[], help="training sets not used for the choice (time)")
    args = ap.parse_args()
    x = args.left_out
    seg = RoofSegmenter(args.model or ROOT / "benchmarks" / "out" / "footprint_folds" / f"unet_without_{x}.onnx")
    train = [n for n in DRONE_SETS if n not in (x, *args.skip)]
    cached = {n: tiles(seg, drone_paths(n)[0], False) for n in train}
    truth = {n: labels_inside(*drone_paths(n)) for n in train}
    rows = []
    for combo in itertools.product(*GRID.values()):
        kw = dict(zip(GRID, combo))
        f1 = {n: score(found(cached[n], **kw), truth[n])["f1"] for n in train}
        rows.append({**kw, "f1": f1, "mean_f1": float(np.mean(list(f1.values())))})
    best = max(rows, key=lambda r: r["mean_f1"])
    default = next(r for r in rows if (r["threshold"], r["edge_threshold"], r["opening_m"], r["min_area_m2"])
                   == (0.5, 0.5, 0.75, 6.0))
    kw = {k: best[k] for k in GRID}
    s_best = score(found(tiles(seg, drone_paths(x)[0], False), **kw), labels_inside(*drone_paths(x)))
    s_def = score(found(tiles(seg, drone_paths(x)[0], False), 0.5, 0.5, 0.75, 6.0), labels_inside(*drone_paths(x)))
    out = ROOT / "benchmarks" / "out" / f"footprints_postproc_{x}.jsonl"
    with open(out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(json.dumps({"left_out": x, "chosen_on": train, "chosen": kw, "training_mean_f1": best["mean_f1"],
                      "default_training_mean_f1": default["mean_f1"],
                      "left_out_chosen": {k: s_best[k] for k in ("precision", "recall", "f1", "median_iou")},
                      "left_out_default": {k: s_def[k] for k in ("precision", "recall", "f1", "median_iou")}}))


if __name__ == "__main__":
    main()
