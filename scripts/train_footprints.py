"""Train the learnt roof segmenter (imagery.learnt) on randomised renderings and the real labelled drone sets.

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python scripts/train_footprints.py --folds --final

Data recipe (seed 20261203): ``--scenes`` renderings of the TRAIN split of imagery.render (seeds 1..N, 0.05-0.3 m,
never a HELD_OUT style), and every real drone set of ../shared/data/real (OpenStreetMap outlines), all read onto
the 0.2 m working grid; per image up to ``--per-image`` roof and as many non-roof pixels, drawn at random away
from a one-pixel band along each outline (where the labels are ambiguous). ``--folds`` trains one model per real
set without that set (leave-one-set-out, written to benchmarks/out/footprint_folds/) and scores it on the set it
never saw; ``--final`` trains on everything and writes benchmarks/out/footprint_folds/footprints_all.{txt,json}.
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
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rasterio.features import rasterize  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from benchmarks.footprints.evaluate import DRONE_SETS, drone_paths, labels_inside, score_set  # noqa: E402
from imagery.learnt import MODEL_PATH, WORK_RES_M, FootprintModel, features, read_rgb, work_grid  # noqa: E402
from imagery.render import TRAIN, render_scene  # noqa: E402

SEED = 20261203
CACHE = ROOT / "benchmarks" / "out" / "footprint_samples"
FOLDS = ROOT / "benchmarks" / "out" / "footprint_folds"
LGB_PARAMS = dict(objective="binary", learning_rate=0.06, num_leaves=63, min_data_in_leaf=100,
                  feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0, num_threads=1,
                  verbose=-1, seed=SEED)


def samples(rgb_path: Path, truth, per_image: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of up to ``per_image`` roof and ``per_image`` other pixels of one image."""
    grid = work_grid(rgb_path, WORK_RES_M)
    rgb, valid = read_rgb(rgb_path, grid)
    shape = (grid.height, grid.width)
    y = rasterize(list(truth), out_shape=shape, transform=grid.transform) > 0 if len(truth) \
        else np.zeros(shape, bool)
    band = ndi.binary_dilation(y) & ~ndi.binary_erosion(y)
    feats = features(rgb, valid, WORK_RES_M)
    keep = valid & ~band
    idx = []
    for cls in (True, False):
        where = np.flatnonzero((keep & (y == cls)).ravel())
        if len(where):
            idx.append(rng.choice(where, size=min(per_image, len(where)), replace=False))
    idx = np.concatenate(idx)
    return feats.reshape(len(feats), -1)[:, idx].T.copy(), y.ravel()[idx].astype(np.uint8)


def build(args) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Samples per source ("render" and each real set), cached in benchmarks/out."""
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    data = {}
    for name in DRONE_SETS:
        cache = CACHE / f"{name}_{args.per_image}.npz"
        if not cache.exists():
            rgb, labels = drone_paths(name)
            x, y = samples(rgb, labels_inside(rgb, labels), args.per_image, rng)
            np.savez(cache, x=x, y=y)
        z = np.load(cache)
        data[name] = (z["x"], z["y"])
        print(f"{name}: {len(z['y'])} samples, {z['y'].mean():.2f} roof", flush=True)
    cache = CACHE / f"render_{args.scenes}_{args.per_scene}.npz"
    if not cache.exists():
        xs, ys = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(1, args.scenes + 1):
                scene = render_scene(Path(tmp) / "s.tif", seed=seed, split=TRAIN)
                x, y = samples(scene.path, scene.footprints.geometry.to_numpy(), args.per_scene, rng)
                xs.append(x)
                ys.append(y)
        np.savez(cache, x=np.concatenate(xs), y=np.concatenate(ys))
    z = np.load(cache)
    data["render"] = (z["x"], z["y"])
    print(f"renderings: {len(z['y'])} samples from {args.scenes} scenes", flush=True)
    return data


def train(data: dict, without: str | None, rounds: int, out: Path) -> Path:
    """Train on every source but ``without``; real sets weighted so that they count as much as the renderings."""
    import lightgbm

    names = [n for n in data if n != without]
    x = np.concatenate([data[n][0] for n in names])
    y = np.concatenate([data[n][1] for n in names])
    real = sum(len(data[n][1]) for n in names if n != "render")
    w = np.concatenate([np.full(len(data[n][1]), 1.0 if n == "render" else len(data["render"][1]) / max(real, 1),
                                np.float32) for n in names])
    t0 = time.perf_counter()
    booster = lightgbm.train(LGB_PARAMS, lightgbm.Dataset(x, y, weight=w), num_boost_round=rounds)
    out.parent.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out))
    card = {"threshold": 0.5, "trained_on": names, "never_saw": [without] if without else [],
            "rounds": rounds, "params": LGB_PARAMS, "samples": int(len(y)), "seed": SEED,
            "train_seconds": round(time.perf_counter() - t0, 1), "work_res_m": WORK_RES_M}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    print(f"trained {out.name} on {names} in {card['train_seconds']} s", flush=True)
    return out


def main() -> None:
    """Build samples, train the folds and/or the final model."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--per-scene", type=int, default=5000)
    ap.add_argument("--per-image", type=int, default=30000)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--folds", action="store_true")
    ap.add_argument("--final", action="store_true")
    args = ap.parse_args()
    data = build(args)
    if args.folds:
        for name in DRONE_SETS:
            path = train(data, name, args.rounds, FOLDS / f"footprints_without_{name}.txt")
            model = FootprintModel.load(path)
            rgb, labels = drone_paths(name)
            s = score_set(model.extract, rgb, labels)
            print(f"LOSO {name}: precision {s['precision']:.3f} recall {s['recall']:.3f} F1 {s['f1']:.3f} "
                  f"median IoU {s['median_iou']:.3f} ({s['measured']} found, {s['reference']} reference)",
                  flush=True)
    if args.final:
        train(data, None, args.rounds, MODEL_PATH)


if __name__ == "__main__":
    main()
