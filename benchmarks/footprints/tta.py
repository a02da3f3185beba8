"""Test-time flips and a probability threshold chosen on training folds only (issue 10, no retraining).

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/footprints/tta.py

For each real drone set X, the leave-one-set-out network that never saw X (``benchmarks/out/footprint_folds/``)
computes its probability maps once per tile on every set, plain and averaged over the four flips. The threshold
(and whether to flip) for X is the one with the best mean F1 over the *other* four sets, which that network was
trained on; X itself is scored only with that choice. One JSON line per (set, flips) to
``benchmarks/out/footprints_tta.jsonl``; a Markdown table is printed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from rasterio.enums import Resampling  # noqa: E402
from rasterio.windows import transform as window_transform  # noqa: E402

from benchmarks.footprints.evaluate import DRONE_SETS, drone_paths, labels_inside, score  # noqa: E402
from imagery.cnn import GDAL_CACHE_MB, OVERLAP_PX, PARAMS, TILE_PX, RoofSegmenter, outlines, read_window, \
    work_grid  # noqa: E402
from imagery.readers import GridReader  # noqa: E402

FOLDS = ROOT / "benchmarks" / "out" / "footprint_folds"
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def tiles(seg: RoofSegmenter, path: Path, flips: bool) -> list:
    """(roof, edge, valid, transform, core bounds) of every tile of ``path``."""
    grid = work_grid(path)
    out = []
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), GridReader(path, grid, resampling=Resampling.average) as reader:
        for read_win, core in grid.tiles(TILE_PX, OVERLAP_PX):
            rgb, valid = read_window(reader, read_win)
            if not valid.any():
                continue
            roof, edge = seg.probabilities(rgb, valid, flips=flips)
            tr = window_transform(read_win, grid.transform)
            cx0, cy1 = grid.transform @ (core.col_off, core.row_off)
            cx1, cy0 = grid.transform @ (core.col_off + core.width, core.row_off + core.height)
            out.append((roof, edge, valid, tr, (cx0, cy0, cx1, cy1)))
    return out


def found_at(cached: list, threshold: float, res: float = 0.25) -> np.ndarray:
    """The outlines of the cached tiles at ``threshold``."""
    kept = []
    for roof, edge, valid, tr, (cx0, cy0, cx1, cy1) in cached:
        for poly, _, _ in outlines(roof, edge, valid, tr, res, threshold, PARAMS):
            c = poly.centroid
            if cx0 <= c.x < cx1 and cy0 < c.y <= cy1:
                kept.append(poly)
    return np.array(kept, dtype=object)


def main() -> None:
    """Choose on training folds, score on the left-out set."""
    rows = []
    truth = {n: labels_inside(*drone_paths(n)) for n in DRONE_SETS}
    for left_out in DRONE_SETS:
        seg = RoofSegmenter(FOLDS / f"unet_without_{left_out}.onnx")
        f1: dict[tuple[bool, float], dict[str, dict]] = {}
        t0 = time.perf_counter()
        for flips in (False, True):
            for name in DRONE_SETS:
                cached = tiles(seg, drone_paths(name)[0], flips)
                for t in THRESHOLDS:
                    f1.setdefault((flips, t), {})[name] = score(found_at(cached, t), truth[name])
        train = [n for n in DRONE_SETS if n != left_out]
        mean = {k: float(np.mean([v[n]["f1"] for n in train])) for k, v in f1.items()}
        best = max(mean, key=lambda k: mean[k])
        best_plain = max((k for k in mean if not k[0]), key=lambda k: mean[k])
        for label, key in (("plain, threshold 0.5", (False, 0.5)), ("plain, threshold from training folds",
                                                                     best_plain),
                           ("flips and threshold from training folds", best),
                           ("flips, threshold 0.5", (True, 0.5))):
            s = dict(f1[key][left_out])
            s.update(set=f"drone_{left_out}", run=label, flips=key[0], threshold=key[1],
                     training_folds_mean_f1=round(mean[key], 3), seconds=round(time.perf_counter() - t0, 1))
            rows.append(s)
            print(json.dumps(s), file=sys.stderr)
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    with open(out / "footprints_tta.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("| set (left out) | run | threshold | training folds' mean F1 | precision | recall | F1 | median IoU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['set']} | {r['run']} | {r['threshold']} | {r['training_folds_mean_f1']:.3f} | "
              f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['median_iou']:.3f} |")


if __name__ == "__main__":
    main()
