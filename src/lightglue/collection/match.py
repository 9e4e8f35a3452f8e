"""Stage 3: the chosen pairs matched in batches, into ``matches.h5``.

Pairs are cut into fixed batches; a prefetch thread reads the batch's features (through an
LRU cache, never re-extracted) and pads them, the matcher runs in the calling thread, a
writer thread stores each batch as an atomic part.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import h5py
import numpy as np
import torch

from lightglue.collection.features_h5 import ImageFeatures, read_features
from lightglue.collection.h5store import H5Store, Record, item_keys
from lightglue.collection.matches_h5 import match_record, names_to_pair
from lightglue.collection.pairs import Pair, unique_pairs
from lightglue.collection.presets import Preset, resolve_device
from lightglue.collection.workers import Prefetcher, RecordWriter, progress_bar
from lightglue.utils import batch_features, batch_to_device

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class MatchReport:
    """Outcome of :func:`match_collection`.

    Attributes:
        num_pairs: pairs that have matches in the file after the run.
        matched: pairs matched by this run.
        skipped: pairs left out because an image has no features.
        seconds: wall-clock seconds of the run.
    """

    num_pairs: int
    matched: int = 0
    skipped: list[Pair] = field(default_factory=list)
    seconds: float = 0.0


def _to_tensors(feats: ImageFeatures) -> dict[str, torch.Tensor]:
    """Matcher inputs of one image: ``keypoints [N, 2]``, ``descriptors [N, D]``, ``image_size [2]``."""
    out = {
        "keypoints": torch.from_numpy(feats.keypoints),
        "descriptors": torch.from_numpy(feats.descriptors),
        "image_size": torch.from_numpy(feats.image_size.astype(np.float32)),
    }
    if feats.scales is not None and feats.oris is not None:
        out["scales"] = torch.from_numpy(feats.scales)
        out["oris"] = torch.from_numpy(feats.oris)
    return out


class _FeatureCache:
    """Per-image matcher inputs read from an open features file, least recently used evicted."""

    def __init__(self, f: h5py.File, capacity: int):
        self._f = f
        self._capacity = capacity
        self._items: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()

    def get(self, name: str) -> dict[str, torch.Tensor]:
        if name in self._items:
            self._items.move_to_end(name)
        else:
            self._items[name] = _to_tensors(read_features(self._f, name))
            if len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return self._items[name]


MatchEngine = Callable[[list[list[Pair]], Path, H5Store, bool], int]


def _batches(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def load_batch(
    batch: Sequence[Pair], get: Callable[[str], dict[str, torch.Tensor]], device: torch.device
) -> tuple[dict, dict]:
    """Padded matcher inputs of a batch of pairs (``get``: image name -> :func:`_to_tensors`)."""
    data0 = batch_to_device(batch_features([get(a) for a, _ in batch]), device)
    data1 = batch_to_device(batch_features([get(b) for _, b in batch]), device)
    return data0, data1


def match_batch(matcher: torch.nn.Module, batch: Sequence[Pair], data0: dict, data1: dict) -> list[Record]:
    """Match one padded batch (from :func:`load_batch`); one ``matches.h5`` record per pair."""
    with torch.inference_mode():
        out = matcher({"image0": data0, "image1": data1})
    counts0 = data0["keypoint_mask"].sum(1).tolist()
    return [
        match_record(
            a,
            b,
            out["matches0"][i, : counts0[i]].cpu().numpy(),
            out["matching_scores0"][i, : counts0[i]].float().cpu().numpy(),
        )
        for i, (a, b) in enumerate(batch)
    ]


def match_collection(
    features_path: str | os.PathLike,
    pairs: Sequence[Pair],
    matches_path: str | os.PathLike,
    preset: Preset,
    batch_size: int = 4,
    cache_size: int = 512,
    progress: bool = True,
    device: torch.device | str | None = None,
    engine: MatchEngine | None = None,
) -> MatchReport:
    """Match image pairs in batches, into an hloc-layout ``matches.h5``.

    Pairs are cut into fixed batches in the given order, so a resumed run recomputes exactly
    the batches an uninterrupted run would (same padding, same numbers); a batch whose pairs
    are all stored is skipped. Features are read by a prefetch thread (through an LRU cache,
    never recomputed), matched in the calling thread, written by a writer thread.

    Args:
        features_path: hloc-layout features of every image.
        pairs: pairs to match.
        matches_path: the ``matches.h5`` to create or complete.
        preset: gives the matcher (stored in the file; a different one is an error).
        batch_size: pairs per matcher call.
        cache_size: images kept in memory.
        progress: show a progress bar.
        device: where the matcher runs (default: a CUDA GPU if there is one, else the CPU).
        engine: does the batches left instead of this process, e.g. on a cluster
            (:class:`lightglue.collection.cluster.driver.ClusterMatcher`): called as
            ``engine(batches, features_path, store, progress)``, returns the pairs matched.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    start = time.perf_counter()
    matches_path = Path(matches_path)
    matches_path.parent.mkdir(parents=True, exist_ok=True)
    store = H5Store(matches_path, {"lightglue_matcher": preset.matcher_fingerprint()})
    store.consolidate()
    done = store.keys()
    with h5py.File(features_path, "r") as f:
        known = item_keys(f)
        made_by = f.attrs.get("lightglue_extractor")
    if made_by is not None and json.loads(str(made_by))["extractor"] != preset.extractor:
        raise ValueError(
            f"{features_path} holds {json.loads(str(made_by))['extractor']} features; preset {preset.name!r} "
            f"matches {preset.extractor} features. Pick the preset the features were extracted with."
        )
    valid = [p for p in unique_pairs(pairs) if p[0] in known and p[1] in known]
    report = MatchReport(num_pairs=0, skipped=[p for p in pairs if p[0] not in known or p[1] not in known])
    if report.skipped:
        logger.warning(
            "%d pair(s) skipped: an image has no features (e.g. %s).", len(report.skipped), report.skipped[0]
        )

    def is_done(p: Pair) -> bool:
        return names_to_pair(*p) in done or names_to_pair(p[1], p[0]) in done

    todo = [b for b in _batches(valid, batch_size) if not all(is_done(p) for p in b)]
    if todo and engine is not None:
        report.matched = engine(todo, Path(features_path), store, progress)
    elif todo:
        dev = resolve_device(device)
        matcher = preset.build_matcher(dev)
        with h5py.File(features_path, "r") as f:
            cache = _FeatureCache(f, cache_size)

            def load(batch: list[Pair]) -> tuple[list[Pair], dict, dict]:
                return batch, *load_batch(batch, cache.get, dev)

            loader = Prefetcher(load(b) for b in todo)
            writer = RecordWriter(store)
            bar = progress_bar(sum(len(b) for b in todo), "match", "pair", progress)
            try:
                for batch, data0, data1 in loader:
                    writer.put(match_batch(matcher, batch, data0, data1))
                    report.matched += len(batch)
                    bar.update(len(batch))
            finally:
                bar.close()
                loader.close()
                writer.close()
    store.consolidate()
    report.num_pairs = len(valid)
    report.seconds = time.perf_counter() - start
    return report
