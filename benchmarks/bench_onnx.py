"""ONNX Runtime with early exit and pruning against our PyTorch matcher and a whole-graph export.

Usage::

    .venv/bin/python benchmarks/bench_onnx.py [--features aliked] [--sizes 512 1024 2048] [--repeats 5] [--threads 2]

Exports the matcher twice into a temporary folder (or ``--exports DIR``, reused when present):
the adaptive pieces (``lightglue export onnx``) and one full-depth graph (``--whole-graph``,
the public ONNX port's approach). Features are the reference extractor's outputs in
``tests/data/motorcycle.npz``, the strongest ``n`` keypoints of each image. For every size
the four matchers run in alternation on the same input (PyTorch adaptive, ORT adaptive,
PyTorch full depth, ORT whole graph) and the median of each is printed, with ratios (> 1:
the ORT adaptive runtime is faster) and the agreement of ``stop`` and ``matches0``.
PyTorch and ONNX Runtime use the same number of threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_matcher import MODES, load_features  # noqa: E402

from lightglue import LightGlue  # noqa: E402
from lightglue.onnx import OnnxLightGlue, export_onnx  # noqa: E402


def timed(model, data) -> tuple[float, dict]:
    start = time.perf_counter()
    out = model(data)
    return time.perf_counter() - start, out


def exported(model: LightGlue, folder: Path, whole_graph: bool) -> Path:
    if not (folder / "lightglue-onnx.json").is_file():
        start = time.perf_counter()
        export_onnx(model, folder, whole_graph=whole_graph)
        print(f"exported {'whole graph' if whole_graph else 'adaptive pieces'} to {folder} in {time.perf_counter() - start:.1f} s")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", default="aliked", choices=["aliked", "disk"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--exports", type=Path, default=None, help="Folder for the exports (kept and reused).")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)
    import onnxruntime

    with tempfile.TemporaryDirectory() as tmp:
        root = args.exports or Path(tmp)
        torch_models = {mode: LightGlue(args.features, **conf).eval() for mode, conf in MODES.items()}
        adaptive_dir = exported(torch_models["adaptive"], root / f"{args.features}-adaptive", False)
        whole_dir = exported(torch_models["full"], root / f"{args.features}-whole", True)
        models = {
            "torch adaptive": torch_models["adaptive"],
            "ORT adaptive": OnnxLightGlue(adaptive_dir, threads=args.threads),
            "torch full": torch_models["full"],
            "ORT whole graph": OnnxLightGlue(whole_dir, threads=args.threads),
        }
        print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} threads for both, "
              f"features {args.features}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print("times: median ms of interleaved runs; ratios > 1 mean the ORT adaptive runtime is faster")
        head = (f"{'kpts':>5} {'torch adapt':>11} {'ORT adapt':>9} {'torch/ORT':>9} {'torch full':>10} {'ORT whole':>9} "
                f"{'whole/ORT adapt':>15} {'stop torch/ORT':>14} {'same m0':>7} {'whole=full m0':>13}")
        print(head)
        for n in args.sizes:
            data = load_features(args.features, n, "cpu")
            times = {name: [] for name in models}
            outs = {name: timed(model, data)[1] for name, model in models.items()}  # warm-up
            for _ in range(args.repeats):
                for name, model in models.items():
                    t, outs[name] = timed(model, data)
                    times[name].append(t * 1000)
            med = {name: statistics.median(t) for name, t in times.items()}
            same = (outs["torch adaptive"]["matches0"] == outs["ORT adaptive"]["matches0"]).float().mean().item()
            whole_same = (outs["torch full"]["matches0"] == outs["ORT whole graph"]["matches0"]).float().mean().item()
            stops = f"{int(outs['torch adaptive']['stop'][0])}/{int(outs['ORT adaptive']['stop'][0])}"
            print(f"{n:>5} {med['torch adaptive']:>11.0f} {med['ORT adaptive']:>9.0f} "
                  f"{med['torch adaptive'] / med['ORT adaptive']:>9.2f} {med['torch full']:>10.0f} {med['ORT whole graph']:>9.0f} "
                  f"{med['ORT whole graph'] / med['ORT adaptive']:>15.2f} {stops:>14} {same:>7.2%} {whole_same:>13.2%}")


if __name__ == "__main__":
    main()
