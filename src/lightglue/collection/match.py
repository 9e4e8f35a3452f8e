"""Stage 3: the chosen pairs matched in batches, into ``matches.h5``.

Pairs are cut into fixed batches; a prefetch thread reads the batch's features (through an
LRU cache, never re-extracted) and pads them, the matcher runs in the calling thread, a
writer thread stores each batch as an atomic part. On resume every stored record of a wanted
pair is checked (metadata only: datasets present, shapes, the image hashes it was computed
for); a damaged record, or one computed before an image was replaced, is matched again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import h5py
import numpy as np
import torch

from lightglue.collection.features_h5 import ImageFeatures, open_features, read_features
from lightglue.collection.fingerprint import HASH_ATTR
from lightglue.collection.h5store import H5Store, Record, item_keys
from lightglue.collection.lock import folder_lock
from lightglue.collection.matches_h5 import (
    PAIR_KEYS_ATTR,
    find_pair,
    hloc_key_collisions,
    key_scheme,
    match_record,
    record_problem,
)
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


MatchEngine = Callable[[list[list[Pair]], Path, H5Store, bool, str, dict[str, str]], int]


def _batches(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def load_batch(
    batch: Sequence[Pair], get: Callable[[str], dict[str, torch.Tensor]], device: torch.device
) -> tuple[dict, dict]:
    """Padded matcher inputs of a batch of pairs (``get``: image name -> :func:`_to_tensors`)."""
    data0 = batch_to_device(batch_features([get(a) for a, _ in batch]), device)
    data1 = batch_to_device(batch_features([get(b) for _, b in batch]), device)
    return data0, data1


def match_batch(
    matcher: torch.nn.Module, batch: Sequence[Pair], data0: dict, data1: dict, scheme: str,
    hashes: Mapping[str, str],
) -> list[Record]:
    """Match one padded batch (from :func:`load_batch`); one ``matches.h5`` record per pair.

    ``scheme`` is the file's pair-key scheme (``"hloc"`` or ``"quoted"``), ``hashes`` the
    content hash of each image of the batch (stamped on its records).
    """
    with torch.inference_mode():
        out = matcher({"image0": data0, "image1": data1})
    counts0 = data0["keypoint_mask"].sum(1).tolist()
    return [
        match_record(
            a,
            b,
            out["matches0"][i, : counts0[i]].cpu().numpy(),
            out["matching_scores0"][i, : counts0[i]].float().cpu().numpy(),
            scheme,
            (hashes[a], hashes[b]),
        )
        for i, (a, b) in enumerate(batch)
    ]


def _choose_key_scheme(names: Sequence[str], matches_path: Path) -> str:
    """hloc's pair keys unless two image names share one (then the collision-free scheme).

    An existing file keeps its scheme; a file in hloc's scheme that new names would make
    ambiguous is refused (its records cannot be told apart).
    """
    existing = None
    if matches_path.is_file():
        with h5py.File(matches_path, "r") as f:
            existing = key_scheme(f)
    if existing == "quoted":
        return existing
    clashes = hloc_key_collisions(names)
    if not clashes:
        return "hloc"
    shown = "; ".join(" and ".join(repr(n) for n in group) for group in clashes[:3])
    if existing == "hloc":
        raise ValueError(
            f"{matches_path} stores pairs under hloc's keys, which cannot tell apart the images {shown} "
            "(hloc writes '/' in a name as '-'). Delete it (or use another output folder) to match "
            "again with collision-free keys."
        )
    logger.warning(
        "hloc's pair keys cannot tell apart the images %s: %s uses collision-free (percent-encoded) "
        "pair keys; hloc will not find the pairs of names with '/', '-' or '%%'.", shown, matches_path
    )
    return "quoted"


def _stale_records(
    matches_path: Path, pairs: Sequence[Pair], num_keypoints: dict[str, int], hashes: dict[str, str]
) -> tuple[set[Pair], dict[str, str]]:
    """Pairs whose stored record is whole and current, and keys of damaged or outdated records."""
    done: set[Pair] = set()
    stale: dict[str, str] = {}
    if not matches_path.is_file():
        return done, stale
    with h5py.File(matches_path, "r") as f:
        for a, b in pairs:
            found = find_pair(f, a, b)
            if found is None:
                continue
            key, reverse = found
            first, second = (b, a) if reverse else (a, b)
            problem = record_problem(f, key, num_keypoints[first], (hashes[first], hashes[second]))
            if problem is None:
                done.add((a, b))
            else:
                stale[key] = problem
    return done, stale


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
    are all stored (whole, and for the current image contents) is skipped; damaged or
    outdated records are dropped and matched again. Features are read by a prefetch thread
    (through an LRU cache, never recomputed), matched in the calling thread, written by a
    writer thread. The folder of ``matches_path`` is locked for the run.

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
            ``engine(batches, features_path, store, progress, scheme, hashes)`` once stale
            records are dropped, under the folder lock; returns the pairs matched.

    Raises:
        FolderBusyError: another process writes into the same folder.
        ValueError: features of another extractor, or hloc pair keys that new image names
            make ambiguous.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    matches_path = Path(matches_path)
    with folder_lock(matches_path.parent):
        return _match_locked(
            features_path, pairs, matches_path, preset, batch_size, cache_size, progress, device, engine
        )


def _match_locked(
    features_path: str | os.PathLike, pairs: Sequence[Pair], matches_path: Path, preset: Preset, batch_size: int,
    cache_size: int, progress: bool, device: torch.device | str | None, engine: MatchEngine | None,
) -> MatchReport:
    start = time.perf_counter()
    store = H5Store(
        matches_path,
        {"lightglue_matcher": preset.matcher_fingerprint(), "lightglue_weights": preset.matcher_weights()},
    )
    store.consolidate()
    with open_features(features_path) as f:
        known = item_keys(f)
        num_keypoints = {n: int(f[n]["keypoints"].shape[0]) for n in known}
        hashes = {n: str(f[n].attrs.get(HASH_ATTR, "")) for n in known}
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
    scheme = _choose_key_scheme(sorted(known), matches_path)
    store.metadata[PAIR_KEYS_ATTR] = scheme
    done, stale = _stale_records(matches_path, valid, num_keypoints, hashes)
    for key, problem in stale.items():
        logger.warning("Matching %s again: its record is %s.", key, problem)
    store.consolidate(drop=stale)

    todo = [b for b in _batches(valid, batch_size) if not all(p in done for p in b)]
    if todo and engine is not None:
        report.matched = engine(todo, Path(features_path), store, progress, scheme, hashes)
    elif todo:
        dev = resolve_device(device)
        matcher = preset.build_matcher(dev)
        with open_features(features_path) as f:
            cache = _FeatureCache(f, cache_size)

            def load(batch: list[Pair]) -> tuple[list[Pair], dict, dict]:
                return batch, *load_batch(batch, cache.get, dev)

            loader = Prefetcher(load(b) for b in todo)
            writer = RecordWriter(store)
            bar = progress_bar(sum(len(b) for b in todo), "match", "pair", progress)
            try:
                for batch, data0, data1 in loader:
                    writer.put(match_batch(matcher, batch, data0, data1, scheme, hashes))
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
