"""Train the roof U-Net of imagery.cnn on randomised renderings and the real labelled drone sets; export to ONNX.

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python scripts/train_footprints_cnn.py --folds --final

Needs torch (training only: ``pip install torch==2.13.0``, the CPU build on this machine's disk) and onnx.
Data recipe (seed 20261203): ``--scenes`` renderings of the TRAIN split of imagery.render (seeds 1..N, drawn at
0.05-0.3 m, never a HELD_OUT style or seed) and every real drone set of ../shared/data/real with its OpenStreetMap
outlines, all read onto the 0.25 m working grid (averaging). First a base network on the renderings alone
(``--pretrain-minutes``; it sees no real set); every network then starts from it: batches of 8 crops of
128 × 128 px, 70 % from the real sets, 30 % rendered, with flips, quarter turns, per-channel gain, gamma and
noise; targets: roof, and a band of about 0.5 m
along each outline (to keep touching roofs apart). ``--folds`` trains one network per real set without that set
(leave-one-set-out; benchmarks/out/footprint_folds/unet_without_<set>.onnx) and scores it on that set;
``--final`` trains on everything and writes imagery/models/footprints_unet.{onnx,json}.
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
import torch  # noqa: E402
from rasterio.features import rasterize  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.footprints.evaluate import DRONE_SETS, drone_paths, labels_inside, score_set  # noqa: E402
from imagery.cnn import MODEL_PATH, WORK_RES_M, RoofSegmenter, normalise, read_rgb, work_grid  # noqa: E402
from imagery.render import TRAIN, render_scene  # noqa: E402

SEED = 20261203
PATCH = 128
CACHE = ROOT / "benchmarks" / "out" / "footprint_cnn_data"
FOLDS = ROOT / "benchmarks" / "out" / "footprint_folds"
torch.set_num_threads(1)


def targets(geoms, grid) -> tuple[np.ndarray, np.ndarray]:
    """(roof, edge band) masks of outlines on ``grid``."""
    shape = (grid.height, grid.width)
    if not len(geoms):
        return np.zeros(shape, bool), np.zeros(shape, bool)
    ids = rasterize([(g, i + 1) for i, g in enumerate(geoms)], out_shape=shape, transform=grid.transform,
                    dtype="int32")
    hi, lo = ndi.maximum_filter(ids, 3), ndi.minimum_filter(ids, 3)
    edge = (hi != lo) & ((ids > 0) | (hi > 0))
    edge = ndi.binary_dilation(edge) & (ndi.maximum_filter(ids, 5) > 0)
    return ids > 0, edge


def load_image(rgb_path: Path, geoms) -> dict:
    """One training image on the working grid."""
    grid = work_grid(rgb_path, WORK_RES_M)
    rgb, valid = read_rgb(rgb_path, grid)
    roof, edge = targets(list(geoms), grid)
    return {"rgb": rgb, "valid": valid, "roof": roof, "edge": edge}


def build(scenes: int) -> dict[str, list[dict]]:
    """Images per source: each real set, and the renderings (cached in benchmarks/out)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    data: dict[str, list[dict]] = {}
    for name in DRONE_SETS:
        cache = CACHE / f"{name}.npz"
        if not cache.exists():
            rgb, labels = drone_paths(name)
            np.savez_compressed(cache, **load_image(rgb, labels_inside(rgb, labels)))
        data[name] = [dict(np.load(cache))]
    cache = CACHE / f"render_{scenes}.npz"
    if not cache.exists():
        images = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(1, scenes + 1):
                scene = render_scene(Path(tmp) / "s.tif", seed=seed, split=TRAIN)
                images.append(load_image(scene.path, scene.footprints.geometry.to_numpy()))
        np.savez_compressed(cache, **{f"{k}_{i}": v for i, im in enumerate(images) for k, v in im.items()})
    z = np.load(cache)
    data["render"] = [{k: z[f"{k}_{i}"] for k in ("rgb", "valid", "roof", "edge")} for i in range(scenes)]
    return data


def crop(image: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (input, target) pair of PATCH × PATCH px."""
    h, w = image["valid"].shape
    ph, pw = min(PATCH, h), min(PATCH, w)
    for _ in range(10):
        r, c = rng.integers(0, h - ph + 1), rng.integers(0, w - pw + 1)
        valid = image["valid"][r:r + ph, c:c + pw]
        if valid.mean() > 0.5:
            break
    sl = (slice(r, r + ph), slice(c, c + pw))
    rgb = image["rgb"][:, sl[0], sl[1]].astype(np.float32)
    y = np.stack([image["roof"][sl], image["edge"][sl]]).astype(np.float32)
    rgb = 255 * (np.clip(rgb * rng.uniform(0.8, 1.2, (3, 1, 1)), 0, 255) / 255) ** rng.uniform(0.75, 1.3)
    rgb += rng.normal(0, rng.uniform(0, 6), rgb.shape)
    x = normalise(np.clip(rgb, 0, 255).astype(np.uint8), valid)
    k = int(rng.integers(4))
    x, y, v = np.rot90(x, k, (1, 2)), np.rot90(y, k, (1, 2)), np.rot90(valid, k)
    if rng.random() < 0.5:
        x, y, v = x[:, :, ::-1], y[:, :, ::-1], v[:, ::-1]
    out_x = np.zeros((3, PATCH, PATCH), np.float32)
    out_y = np.zeros((3, PATCH, PATCH), np.float32)  # roof, edge, weight (valid)
    out_x[:, :x.shape[1], :x.shape[2]] = x
    out_y[:2, :y.shape[1], :y.shape[2]] = y
    out_y[2, :v.shape[0], :v.shape[1]] = v
    return out_x, out_y


def _block(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                         nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A small U-Net: 4 levels, 16-64 channels, roof and edge logits."""

    def __init__(self, ch: tuple[int, ...] = (16, 32, 48, 64)) -> None:
        super().__init__()
        self.down = nn.ModuleList([_block(3, ch[0])] + [_block(a, b) for a, b in zip(ch, ch[1:])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(ch, ch[1:])])
        self.dec = nn.ModuleList([_block(2 * a, a) for a in ch[:-1]])
        self.head = nn.Conv2d(ch[0], 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(reversed(self.up), reversed(self.dec)):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Masked BCE on roof and edge, plus soft Dice on roof."""
    w = y[:, 2]
    bce = nn.functional.binary_cross_entropy_with_logits
    roof = (bce(logits[:, 0], y[:, 0], reduction="none") * w).sum() / w.sum().clamp(min=1)
    edge = (bce(logits[:, 1], y[:, 1], reduction="none", pos_weight=torch.tensor(3.0)) * w).sum() \
        / w.sum().clamp(min=1)
    p = torch.sigmoid(logits[:, 0]) * w
    dice = 1 - (2 * (p * y[:, 0]).sum() + 1) / (p.sum() + (y[:, 0] * w).sum() + 1)
    return roof + 0.5 * edge + dice


def from_onnx(path: Path, calib: torch.Tensor) -> UNet:
    """A UNet holding the weights of an exported network (``torch.onnx.export`` folds each BatchNorm into its
    convolution): the folded kernels and biases go into the convolutions and BatchNorms, whose batch statistics
    are calibrated on ``calib`` (each BatchNorm's running mean and variance set to the statistics of its input
    there, its scale to their standard deviation) so that the network computes the same function in eval mode and,
    up to the batch, in training mode. Used by ``--resume`` when only the ONNX file is left."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    model = UNet().eval()
    order: list[nn.Conv2d] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in model.modules()
             if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert len(order) == len(convs), (len(order), len(convs))
    bns = {m[1][0]: m[1][1] for m in ((None, (seq[k], seq[k + 1])) for seq in model.modules()
                                       if isinstance(seq, nn.Sequential) for k in range(len(seq) - 1)
                                       if isinstance(seq[k], nn.Conv2d) and isinstance(seq[k + 1], nn.BatchNorm2d))}
    bias: dict[nn.Conv2d, np.ndarray] = {}
    with torch.no_grad():
        for conv, node in zip(order, convs):
            w = init[node.input[1]]
            assert tuple(w.shape) == tuple(conv.weight.shape), (w.shape, conv.weight.shape)
            conv.weight.copy_(torch.from_numpy(w))
            b = init[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            if conv in bns:
                bn = bns[conv]
                bn.running_mean.zero_()
                bn.running_var.fill_(1 - bn.eps)
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(b))
                bias[conv] = b
            else:
                conv.bias.copy_(torch.from_numpy(b))
        for u, name in zip(model.up, ("up.0", "up.1", "up.2")):
            u.weight.copy_(torch.from_numpy(init[f"{name}.weight"]))
            u.bias.copy_(torch.from_numpy(init[f"{name}.bias"]))
        stats: dict[nn.Conv2d, tuple[torch.Tensor, torch.Tensor]] = {}
        hooks = [c.register_forward_hook(lambda m, i, o: stats.__setitem__(m, (o.mean((0, 2, 3)), o.var((0, 2, 3)))))
                 for c in bns]
        model(calib)  # eval mode: the exported function
        for h in hooks:
            h.remove()
        for conv, bn in bns.items():
            mean, var = stats[conv]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_((var + bn.eps).sqrt())
            bn.bias.copy_(mean + torch.from_numpy(bias[conv]))
    return model


def train(data: dict, without: str | None, minutes: float, out: Path, batch: int = 8, real_share: float = 0.7,
          init: Path | None = None, lr: float = 3e-3, steps_before: int = 0) -> Path:
    """Train for ``minutes`` of wall time on every source but ``without`` (``real_share`` of each batch from the
    real sets, none when 0), starting from the weights at ``init``; export to ONNX at ``out``."""
    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)
    real = [im for n, ims in data.items() if n not in ("render", without) for im in ims]
    weights = np.array([im["valid"].sum() for im in real], float) ** 0.5  # small sets are not drowned
    weights /= weights.sum()
    rendered = data["render"]
    model = UNet()
    if init is not None and init.suffix == ".onnx":
        calib = np.random.default_rng(SEED + 1)
        pairs = [crop(real[calib.choice(len(real), p=weights)] if calib.random() < real_share else
                      rendered[int(calib.integers(len(rendered)))], calib) for i in range(32)]
        model = from_onnx(init, torch.from_numpy(np.stack([p[0] for p in pairs])))
        model.train()
    elif init is not None:
        model.load_state_dict(torch.load(init))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    t0, step, losses = time.perf_counter(), 0, []
    budget = minutes * 60
    while (elapsed := time.perf_counter() - t0) < budget:
        for g in opt.param_groups:  # cosine decay over the wall-time budget
            g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * elapsed / budget)))
        pairs = [crop(real[rng.choice(len(real), p=weights)] if rng.random() < real_share else
                      rendered[int(rng.integers(len(rendered)))], rng) for i in range(batch)]
        x = torch.from_numpy(np.stack([p[0] for p in pairs]))
        y = torch.from_numpy(np.stack([p[1] for p in pairs]))
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            print(f"  step {step} loss {np.mean(losses[-100:]):.3f} ({elapsed:.0f} s)", flush=True)
        if step % 200 == 0:  # checkpoint (not committed): a stopped run loses at most 200 steps
            FOLDS.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), FOLDS / f"{out.stem}.pt")
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    FOLDS.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), FOLDS / f"{out.stem}.pt")  # to start other networks from (not committed)
    torch.onnx.export(model, torch.zeros(1, 3, 256, 256), str(out), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {2: "h", 3: "w"}, "logits": {2: "h", 3: "w"}}, opset_version=17,
                      dynamo=False)
    names = [n for n in data if n != without and (real_share > 0 or n == "render")]
    card = {"threshold": 0.5, "trained_on": names, "never_saw": [n for n in DRONE_SETS if n not in names],
            "initialised_from": init.name if init else None, "real_share": real_share, "steps": step,
            "batch": batch, "patch_px": PATCH, "minutes": minutes, "seed": SEED,
            "work_res_m": WORK_RES_M, "final_loss": float(np.mean(losses[-100:])),
            "parameters": int(sum(p.numel() for p in model.parameters()))}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    print(f"trained {out.name} ({step} steps, {card['parameters']} parameters) without {without}", flush=True)
    return out


def main() -> None:
    """Build the data, train the folds and/or the final network."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=6.0, help="wall time per fold")
    ap.add_argument("--final-minutes", type=float, default=8.0)
    ap.add_argument("--pretrain-minutes", type=float, default=12.0,
                    help="first, a base network on the renderings alone (it sees no real set), which every "
                         "fold and the final network start from")
    ap.add_argument("--folds", action="store_true")
    ap.add_argument("--only", nargs="*", default=list(DRONE_SETS))
    ap.add_argument("--final", action="store_true")
    ap.add_argument("--final-out", type=Path, default=MODEL_PATH,
                    help="where the final network goes (default: the committed imagery/models/footprints_unet.onnx)")
    ap.add_argument("--resume", action="store_true",
                    help="each network continues from its own previous weights (benchmarks/out/footprint_folds/"
                         "<name>.pt) instead of the base network: more steps, same recipe and seed")
    args = ap.parse_args()
    data = build(args.scenes)
    print(f"data: {', '.join(f'{k} {len(v)}' for k, v in data.items())}", flush=True)
    base = FOLDS / "unet_base.pt"
    resume_from = {name: _resume_from(f"unet_without_{name}") for name in (args.only if args.folds else [])}
    if args.final:
        resume_from[None] = _resume_from(MODEL_PATH.stem)
    if not args.resume:
        resume_from = dict.fromkeys(resume_from)
    if args.pretrain_minutes and not base.exists() and not all(resume_from.values()):
        train(data, None, args.pretrain_minutes, base.with_suffix(".onnx"), real_share=0.0)
    init = base if base.exists() else None
    if args.folds:
        for name in args.only:
            path = train(data, name, args.minutes, FOLDS / f"unet_without_{name}.onnx",
                         init=resume_from[name] or init, lr=1.5e-3)
            rgb, labels = drone_paths(name)
            s = score_set(RoofSegmenter(path).extract, rgb, labels)
            print(f"LOSO {name}: precision {s['precision']:.3f} recall {s['recall']:.3f} F1 {s['f1']:.3f} "
                  f"median IoU {s['median_iou']:.3f} ({s['measured']} found, {s['reference']} reference)",
                  flush=True)
    if args.final:
        train(data, None, args.final_minutes, args.final_out, init=resume_from[None] or init, lr=1.5e-3)


def _resume_from(stem: str) -> Path | None:
    """What a network resumes from: its checkpoint in benchmarks/out/footprint_folds, else its ONNX file there,
    else the committed ONNX file (imagery/models, imagery/models/folds); None when there is none."""
    for path in (FOLDS / f"{stem}.pt", FOLDS / f"{stem}.onnx", MODEL_PATH.parent / f"{stem}.onnx",
                 MODEL_PATH.parent / "folds" / f"{stem}.onnx"):
        if path.exists():
            return path
    return None

if __name__ == "__main__":
    main()
