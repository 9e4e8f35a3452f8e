"""Matching throughput on Ray: local path vs 1 and 2 workers, and the driver's ceiling.

Part 1: pairs/s of ``match_collection`` (local path, torch with all cores) against the Ray
engine with 1 and 2 workers (1 CPU, 1 torch thread each) on an in-process Ray instance, on
synthetic features; runs interleaved, median of ``--repeats``; wall-clock time includes
starting the actors (loading the matcher), and the per-worker rate (pairs per second of
worker busy time) is printed too.

Part 2: the driver's ceiling: matching replaced by a no-op (a worker that returns
"no match" records of the right sizes at once), on a synthetic 2 000-image collection:
what reading features, putting them in the object store, scheduling, getting results back
and writing ``matches.h5`` parts sustain, in pairs/s.

    python benchmarks/bench_cluster.py [--repeats 3] [--pairs 40] [--ceiling-images 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import ray
import torch

from lightglue.collection.cluster.actors import MatchWorker, ShardResult, _worker_id
from lightglue.collection.cluster.connect import ClusterOptions
from lightglue.collection.cluster.driver import ClusterMatcher
from lightglue.collection.features_h5 import ImageFeatures, feature_record
from lightglue.collection.h5store import H5Store
from lightglue.collection.match import match_collection
from lightglue.collection.matches_h5 import match_record
from lightglue.collection.pairs import Pair, sequential_pairs
from lightglue.collection.presets import get_preset

PRESET = get_preset("aliked+lightglue")


def make_features(path: Path, num_images: int, num_keypoints: int, seed: int = 0) -> list[str]:
    """Noisy views of one random scene (so matching does real work), ALIKED-sized descriptors."""
    rng = np.random.default_rng(seed)
    base, desc = rng.uniform(0, 1000, (num_keypoints, 2)), rng.normal(size=(num_keypoints, 128))
    names = [f"img{i:05d}.jpg" for i in range(num_images)]
    store = H5Store(path)
    for start in range(0, num_images, 200):
        records = []
        for i in range(start, min(num_images, start + 200)):
            d = desc + 0.4 * rng.normal(size=desc.shape)
            records.append(feature_record(names[i], ImageFeatures(
                (base + rng.normal(size=base.shape) * 2).astype(np.float32),
                (d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32),
                rng.uniform(size=num_keypoints).astype(np.float32), np.array([1024, 768]))))
        store.append(records)
    store.consolidate()
    return names


class NoOpMatchWorker(MatchWorker):
    """Fetches the features like the real worker, then returns "no match" for every pair."""

    def __init__(self, preset, threads: int = 1, device: str | None = None):  # no matcher to load
        torch.set_num_threads(threads)

    def match(self, batches: Sequence[Sequence[Pair]], features: Mapping[str, ImageFeatures], scheme: str,
              hashes: Mapping[str, str]) -> ShardResult:
        start = time.perf_counter()
        records = [match_record(a, b, np.full(len(features[a]), -1, np.int32), np.zeros(len(features[a]), np.float32),
                                scheme, (hashes[a], hashes[b]))
                   for batch in batches for a, b in batch]
        return ShardResult(records, seconds=time.perf_counter() - start, worker=_worker_id())


class NoOpMatcher(ClusterMatcher):
    worker_cls = NoOpMatchWorker


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=40, help="pairs per throughput run")
    parser.add_argument("--keypoints", type=int, default=512)
    parser.add_argument("--ceiling-images", type=int, default=2000)
    parser.add_argument("--ceiling-keypoints", type=int, default=1024)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"torch {torch.__version__}, local path: {threads} torch threads; Ray workers: 1 CPU, 1 thread each; "
          f"ray {ray.__version__}, in-process instance with 2 CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        names = make_features(tmp / "features.h5", 12, args.keypoints)
        pairs = sequential_pairs(names, 11)[: args.pairs]
        walls: dict[str, list[float]] = {"local": [], "ray-1": [], "ray-2": []}
        worker_rate: dict[str, list[float]] = {"ray-1": [], "ray-2": []}
        for r in range(args.repeats):  # interleaved
            for label in walls:
                out = tmp / f"{label}-{r}.h5"
                if label == "local":
                    walls[label].append(timed(lambda: match_collection(
                        tmp / "features.h5", pairs, out, PRESET, 4, progress=False)))
                    continue
                engine = ClusterMatcher(PRESET, ClusterOptions("local", workers=int(label[-1]), match_shard=8))
                walls[label].append(timed(lambda: match_collection(
                    tmp / "features.h5", pairs, out, PRESET, 4, progress=False, engine=engine)))
                worker_rate[label].append(statistics.mean(s.items / s.seconds for s in engine.stats if s.seconds))
        print(f"\n1) matching {len(pairs)} pairs of {args.keypoints} keypoints, batch 4, {args.repeats} runs (median):")
        base = len(pairs) / statistics.median(walls["local"])
        for label, times in walls.items():
            rate = len(pairs) / statistics.median(times)
            extra = (f", per-worker rate {statistics.median(worker_rate[label]):.2f} pairs/s of busy time"
                     if label in worker_rate else "")
            print(f"  {label:<6} {rate:6.2f} pairs/s wall  ({rate / base:.2f}x local){extra}")

        names = make_features(tmp / "big.h5", args.ceiling_images, args.ceiling_keypoints, seed=1)
        pairs = sequential_pairs(names, 10)
        ceilings = []
        for r in range(args.repeats):
            engine = NoOpMatcher(PRESET, ClusterOptions("local", workers=2))
            seconds = timed(lambda: match_collection(tmp / "big.h5", pairs, tmp / f"noop-{r}.h5", PRESET, 4,
                                                     progress=False, engine=engine))
            ceilings.append(len(pairs) / seconds)
        mb = args.ceiling_keypoints * (128 + 2 + 1) * 4 / 2**20
        print(f"\n2) driver ceiling, no-op matching: {len(names)} images ({args.ceiling_keypoints} keypoints, "
              f"{mb:.2f} MB of features each), {len(pairs)} pairs, 2 no-op workers, shards of 256 pairs:")
        print(f"  {statistics.median(ceilings):.0f} pairs/s (median of {args.repeats}; "
              f"runs: {', '.join(f'{c:.0f}' for c in ceilings)})")
    ray.shutdown()


if __name__ == "__main__":
    main()
