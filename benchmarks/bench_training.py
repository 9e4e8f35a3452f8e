"""Training speed and memory of LightGlue (SIFT architecture) on this machine.

One training step is what the trainer does: :func:`lightglue.training.forward.training_forward`,
:func:`lightglue.training.losses.lightglue_loss`, backward, Adam step. The batch is synthetic
(random SIFT-like keypoints, scales, orientations and unit descriptors; labels from a fixed
homography by :func:`gt_from_homography`, about half the points matchable): the cost of a step
does not depend on the descriptors' content, and the data pipeline is left out (its cost is
in the run's own log). Four settings are compared: float32 or bfloat16 autocast (``mp``), each
with and without per-layer gradient checkpointing.

Speed: for each keypoint count, the four settings run in turn, round after round, in one
process (interleaved, after one warm-up step each); the median step time gives pairs/s, and
the ratios are against float32 without checkpointing.

Memory per pair: each setting runs in a fresh subprocess; after a tiny step has allocated the
gradients and Adam's state, the peak resident memory (``ru_maxrss``) of one step above the
resident memory before it, divided by the batch size.

    .venv/bin/python benchmarks/bench_training.py [--keypoints 512,1024,2048] [--speed-keypoints 512]
        [--batch-size 2] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from lightglue import LightGlue
from lightglue.training.forward import training_forward
from lightglue.training.groundtruth import gt_from_homography
from lightglue.training.losses import lightglue_loss

SETTINGS = [("fp32", False, False), ("fp32+ckpt", False, True), ("bf16", True, False), ("bf16+ckpt", True, True)]
SIZE = (640.0, 480.0)


def synthetic_batch(batch_size: int, num_keypoints: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A training batch ``[B, K, ...]`` of the trainer's layout with homography labels."""
    g = torch.Generator().manual_seed(seed)
    b, k = batch_size, num_keypoints
    H = torch.tensor([[0.9, 0.1, 30.0], [-0.05, 1.0, 10.0], [1e-4, 0.0, 1.0]]).expand(b, 3, 3)
    kp0 = torch.rand(b, k, 2, generator=g) * torch.tensor(SIZE)
    warped = torch.cat([kp0, torch.ones(b, k, 1)], -1) @ H.transpose(1, 2)
    kp1 = warped[..., :2] / warped[..., 2:]
    half = k // 2  # the second half of image 1's points is replaced by unmatchable ones
    kp1[:, half:] = torch.rand(b, k - half, 2, generator=g) * torch.tensor(SIZE)
    batch = {"keypoints0": kp0, "keypoints1": kp1, "H_0to1": H.clone()}
    for i in (0, 1):
        batch[f"descriptors{i}"] = torch.nn.functional.normalize(torch.rand(b, k, 128, generator=g), dim=-1)
        batch[f"scales{i}"] = torch.rand(b, k, generator=g) * 8 + 1
        batch[f"oris{i}"] = torch.rand(b, k, generator=g) * 6.28 - 3.14
        batch[f"image_size{i}"] = torch.tensor(SIZE).expand(b, 2).clone()
    gt = gt_from_homography(kp0, kp1, batch["H_0to1"])
    batch.update({key: gt[key] for key in ("gt_matches0", "gt_matches1", "gt_assignment")})
    return batch


def make_model() -> tuple[LightGlue, torch.optim.Optimizer]:
    """The SIFT preset architecture (9 layers, 256-D states, scale + orientation), random weights."""
    torch.manual_seed(0)
    model = LightGlue(features=None, input_dim=128, add_scale_ori=True).train()
    return model, torch.optim.Adam(model.parameters(), lr=1e-4)


def train_step(model: LightGlue, optimizer: torch.optim.Optimizer, batch: dict, mp: bool, ckpt: bool) -> float:
    """One step as the trainer takes it; returns its wall time in seconds."""
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    pred = training_forward(model, batch, checkpointed=ckpt, mp=mp)
    loss = lightglue_loss(pred, batch)["total"].mean()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def speed(keypoints: int, batch_size: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of every setting, interleaved round by round."""
    model, optimizer = make_model()
    batch = synthetic_batch(batch_size, keypoints)
    times: dict[str, list[float]] = {name: [] for name, _, _ in SETTINGS}
    for name, mp, ckpt in SETTINGS:  # warm-up
        train_step(model, optimizer, batch, mp, ckpt)
    for _ in range(rounds):
        for name, mp, ckpt in SETTINGS:
            times[name].append(train_step(model, optimizer, batch, mp, ckpt))
    return {name: statistics.median(t) for name, t in times.items()}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def memory_child(keypoints: int, batch_size: int, mp: bool, ckpt: bool) -> None:
    """Print the peak memory of one step above the memory before it (bytes), in this process."""
    model, optimizer = make_model()
    train_step(model, optimizer, synthetic_batch(1, 8), mp, ckpt)  # gradients + Adam state exist now
    batch = synthetic_batch(batch_size, keypoints)
    before = _rss_bytes()
    train_step(model, optimizer, batch, mp, ckpt)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    print(json.dumps({"peak_above_bytes": peak - before}))


def memory(keypoints: int, batch_size: int, mp: bool, ckpt: bool, threads: int) -> float:
    """Peak memory of one step per pair (MiB), measured in a fresh process."""
    args = [sys.executable, __file__, "--memory-child", f"{keypoints},{batch_size},{int(mp)},{int(ckpt)}"]
    out = subprocess.run([*args, "--threads", str(threads)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_above_bytes"] / batch_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keypoints", default="512,1024,2048", help="keypoint counts of the memory table")
    parser.add_argument("--speed-keypoints", default="512", help="keypoint counts of the speed table")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per setting (median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        k, b, mp, ckpt = (int(v) for v in args.memory_child.split(","))
        memory_child(k, b, bool(mp), bool(ckpt))
        return
    print(f"LightGlue training step (SIFT architecture, 9 layers), CPU, torch threads: {torch.get_num_threads()}, "
          f"batch {args.batch_size} pairs")
    print("\n| keypoints | setting | s/step (median of %d) | pairs/s | speed vs fp32 |" % args.rounds)
    print("|---|---|---|---|---|")
    for k in (int(v) for v in args.speed_keypoints.split(",") if v):
        medians = speed(k, args.batch_size, args.rounds)
        for name, seconds in medians.items():
            print(f"| {k} | {name} | {seconds:.2f} | {args.batch_size / seconds:.2f} | "
                  f"{medians['fp32'] / seconds:.2f}x |", flush=True)
    print("\n| keypoints | setting | peak memory per pair (MiB) |")
    print("|---|---|---|")
    for k in (int(v) for v in args.keypoints.split(",") if v):
        for name, mp, ckpt in SETTINGS:
            print(f"| {k} | {name} | {memory(k, args.batch_size, mp, ckpt, args.threads):.0f} |", flush=True)


if __name__ == "__main__":
    main()
