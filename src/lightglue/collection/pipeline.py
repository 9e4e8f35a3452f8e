"""The collection pipeline: extract -> pairs -> match pairs -> database -> reconstruct.

Each stage is a function over files and can be run alone; :func:`reconstruct_collection`
chains them. Work is overlapped on one machine: a prefetch thread decodes images (or reads
features) while the model runs in the main thread on all cores, and a writer thread stores
results. Features are extracted once per image; matching runs pairs in padded batches
through the batched matcher. Every result is stored by atomic appends
(:class:`~lightglue.collection.h5store.H5Store`), so a re-run skips what is done and a run
killed at any moment resumes. An image that cannot be read is reported and skipped.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np
import torch
from tqdm import tqdm

from lightglue.collection import pairs as pairs_lib
from lightglue.collection.colmap_db import build_database
from lightglue.collection.features_h5 import ImageFeatures, feature_record, read_features
from lightglue.collection.h5store import H5Store, Record, item_keys
from lightglue.collection.matches_h5 import match_record, names_to_pair
from lightglue.collection.presets import Preset
from lightglue.collection.reconstruct import ReconstructionSummary, incremental_mapping
from lightglue.collection.render import render_reconstruction
from lightglue.utils import batch_features

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp")
PAIR_STRATEGIES = ("exhaustive", "sequential", "retrieval", "file")

T = TypeVar("T")


class EmptyCollectionError(ValueError):
    """A folder without a single image file."""


def list_images(image_dir: str | os.PathLike) -> list[str]:
    """Image files under ``image_dir`` (recursively), as sorted relative POSIX paths.

    Raises:
        FileNotFoundError: the folder does not exist.
        NotADirectoryError: it is a file.
        EmptyCollectionError: it holds no file with an image extension.
    """
    root = Path(image_dir)
    if not root.exists():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of images.")
    names = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )
    if not names:
        raise EmptyCollectionError(
            f"No images found in {str(root)!r} (looked for {', '.join(IMAGE_EXTENSIONS)}, sub-folders included)."
        )
    return names


# ----------------------------------------------------------------------------- threads


class _Prefetcher(Iterator[T]):
    """Runs ``produce`` in a thread, handing its items over through a bounded queue."""

    _DONE = object()

    def __init__(self, produce: Iterable[T], depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce,), daemon=True)
        self._thread.start()

    def _run(self, produce: Iterable[T]) -> None:
        try:
            for item in produce:
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as err:  # re-raised in the consumer
            self._error = err
        self._queue.put(self._DONE)

    def __next__(self) -> T:
        item = self._queue.get()
        if item is self._DONE:
            if self._error is not None:
                raise self._error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (if still running) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass


class _Writer:
    """Stores lists of records as atomic parts of an :class:`H5Store`, in a thread.

    Each list given to :meth:`put` is written whole within one part (lists that pile up while
    the disk is busy are merged into one part), so a batch is either fully stored or not at all.
    """

    def __init__(self, store: H5Store):
        self._store = store
        self._queue: queue.Queue[list[Record] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        finished = False
        while not finished:
            batch = self._queue.get()
            records: list[Record] = []
            while batch is not None:
                records.extend(batch)
                try:
                    batch = self._queue.get_nowait()
                except queue.Empty:
                    break
            finished = batch is None
            if records and self._error is None:
                try:
                    self._store.append(records)
                except BaseException as err:  # re-raised in the main thread
                    self._error = err

    def put(self, records: list[Record]) -> None:
        """Queue records for writing; raises a previous write's error."""
        if self._error is not None:
            raise self._error
        self._queue.put(records)

    def close(self) -> None:
        """Write what is queued, stop, and raise a write error if one occurred."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _progress(total: int, desc: str, unit: str, enabled: bool) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, smoothing=0.1)


# ----------------------------------------------------------------------------- extract


@dataclass
class ExtractReport:
    """Outcome of :func:`extract_collection`.

    Attributes:
        names: images whose features are in the file (old and new).
        extracted: images extracted by this run.
        skipped: image -> reason, for images that could not be read or processed.
    """

    names: list[str]
    extracted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _to_image_features(feats: dict[str, torch.Tensor]) -> ImageFeatures:
    """Our per-image arrays from an extractor's batched output (first image, real keypoints)."""
    mask = feats["keypoint_mask"][0] if "keypoint_mask" in feats else slice(None)

    def arr(key: str) -> np.ndarray | None:
        return feats[key][0][mask].float().cpu().numpy() if key in feats else None

    return ImageFeatures(
        keypoints=arr("keypoints"),
        descriptors=arr("descriptors"),
        scores=arr("keypoint_scores"),
        image_size=feats["image_size"][0].round().long().cpu().numpy(),
        scales=arr("scales"),
        oris=arr("oris"),
    )


def extract_collection(
    image_dir: str | os.PathLike,
    features_path: str | os.PathLike,
    preset: Preset,
    names: Sequence[str] | None = None,
    progress: bool = True,
) -> ExtractReport:
    """Extract local features of every image once, into an hloc-layout ``features.h5``.

    Images already in the file are skipped. Decoding runs in a prefetch thread, the
    extractor in the calling thread, writing in a writer thread.

    Args:
        image_dir: the image folder.
        features_path: the ``features.h5`` to create or complete.
        preset: the extractor configuration (stored in the file; a different one is an error).
        names: images to process (relative to ``image_dir``); default: :func:`list_images`.
        progress: show a progress bar.
    """
    from lightglue.image import load_image

    image_dir = Path(image_dir)
    names = list(names) if names is not None else list_images(image_dir)
    features_path = Path(features_path)
    features_path.parent.mkdir(parents=True, exist_ok=True)
    store = H5Store(features_path, {"lightglue_extractor": preset.extractor_fingerprint()})
    store.consolidate()
    done = store.keys()
    todo = [n for n in names if n not in done]
    report = ExtractReport(names=[n for n in names if n in done])
    if not todo:
        return report

    def load(name: str) -> tuple[str, torch.Tensor | Exception]:
        try:
            return name, load_image(image_dir / name)
        except (OSError, ValueError) as err:
            return name, err

    extractor = preset.build_extractor()
    loader = _Prefetcher(load(n) for n in todo)
    writer = _Writer(store)
    bar = _progress(len(todo), "extract", "img", progress)
    try:
        for name, image in loader:
            if not isinstance(image, Exception):
                try:
                    with torch.inference_mode():
                        feats = extractor.extract(image, resize=preset.resize)
                except (ValueError, RuntimeError) as err:
                    image = err
            if isinstance(image, Exception):
                report.skipped[name] = str(image)
                logger.warning("Skipping image %s: %s", name, image)
            else:
                size = max(image.shape[-2:])
                uncertainty = size / preset.resize if preset.resize else 1.0
                writer.put([feature_record(name, _to_image_features(feats), uncertainty)])
                report.extracted.append(name)
            bar.update(1)
    finally:
        bar.close()
        loader.close()
        writer.close()
    store.consolidate()
    stored = done | set(report.extracted)
    report.names = [n for n in names if n in stored]
    return report


# ----------------------------------------------------------------------------- pairs


def make_pairs(
    strategy: str,
    features_path: str | os.PathLike,
    window: int = 5,
    num_neighbors: int = 10,
    pairs_file: str | os.PathLike | None = None,
    num_clusters: int = 16,
) -> list[pairs_lib.Pair]:
    """Choose the pairs to match among the images of ``features.h5``.

    Args:
        strategy: ``"exhaustive"``, ``"sequential"`` (``window`` next images, sorted names),
            ``"retrieval"`` (``num_neighbors`` nearest by VLAD of the local descriptors with
            ``num_clusters`` words) or ``"file"`` (``pairs_file``, restricted to known images).
        features_path: hloc-layout features.
    """
    if strategy not in PAIR_STRATEGIES:
        raise ValueError(f"Unknown pairs strategy {strategy!r}; choose from {PAIR_STRATEGIES}.")
    with h5py.File(features_path, "r") as f:
        names = sorted(item_keys(f))
        if strategy == "retrieval":
            descs = [read_features(f, n).descriptors for n in names]
    if strategy == "exhaustive":
        return pairs_lib.exhaustive_pairs(names)
    if strategy == "sequential":
        return pairs_lib.sequential_pairs(names, window)
    if strategy == "retrieval":
        return pairs_lib.retrieval_pairs(names, pairs_lib.vlad_descriptors(descs, num_clusters), num_neighbors)
    if pairs_file is None:
        raise ValueError("The 'file' strategy needs a pairs file.")
    known = set(names)
    listed = pairs_lib.read_pairs(pairs_file)
    missing = sorted({n for p in listed for n in p} - known)
    if missing:
        logger.warning("%d image(s) of the pairs file have no features and are left out: %s", len(missing), missing[:5])
    return [p for p in listed if p[0] in known and p[1] in known]


# ----------------------------------------------------------------------------- match


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
    skipped: list[pairs_lib.Pair] = field(default_factory=list)
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


def _batches(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def match_collection(
    features_path: str | os.PathLike,
    pairs: Sequence[pairs_lib.Pair],
    matches_path: str | os.PathLike,
    preset: Preset,
    batch_size: int = 4,
    cache_size: int = 512,
    progress: bool = True,
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
    valid = [p for p in pairs_lib.unique_pairs(pairs) if p[0] in known and p[1] in known]
    report = MatchReport(num_pairs=0, skipped=[p for p in pairs if p[0] not in known or p[1] not in known])
    if report.skipped:
        logger.warning("%d pair(s) skipped: an image has no features (e.g. %s).", len(report.skipped), report.skipped[0])

    def is_done(p: pairs_lib.Pair) -> bool:
        return names_to_pair(*p) in done or names_to_pair(p[1], p[0]) in done

    todo = [b for b in _batches(valid, batch_size) if not all(is_done(p) for p in b)]
    if todo:
        matcher = preset.build_matcher()
        with h5py.File(features_path, "r") as f:
            cache = _FeatureCache(f, cache_size)

            def load(batch: list[pairs_lib.Pair]) -> tuple[list[pairs_lib.Pair], dict, dict]:
                data0 = batch_features([cache.get(a) for a, _ in batch])
                data1 = batch_features([cache.get(b) for _, b in batch])
                return batch, data0, data1

            loader = _Prefetcher(load(b) for b in todo)
            writer = _Writer(store)
            bar = _progress(sum(len(b) for b in todo), "match", "pair", progress)
            try:
                for batch, data0, data1 in loader:
                    with torch.inference_mode():
                        out = matcher({"image0": data0, "image1": data1})
                    counts0 = data0["keypoint_mask"].sum(1).tolist()
                    records = [
                        match_record(
                            a,
                            b,
                            out["matches0"][i, : counts0[i]].cpu().numpy(),
                            out["matching_scores0"][i, : counts0[i]].float().cpu().numpy(),
                        )
                        for i, (a, b) in enumerate(batch)
                    ]
                    writer.put(records)
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


# ----------------------------------------------------------------------------- all


@dataclass(frozen=True)
class PairsOptions:
    """How :func:`reconstruct_collection` chooses pairs (see :func:`make_pairs`)."""

    strategy: str = "exhaustive"
    window: int = 5
    num_neighbors: int = 10
    pairs_file: str | None = None


def _timed(stage_seconds: dict[str, float], stage: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    try:
        return fn()
    finally:
        stage_seconds[stage] = stage_seconds.get(stage, 0.0) + time.perf_counter() - start


def reconstruct_collection(
    image_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    preset: Preset,
    pairs_options: PairsOptions = PairsOptions(),
    batch_size: int = 4,
    camera_mode: str = "per-image",
    progress: bool = True,
    verbose: bool = False,
    log: Callable[[str], Any] = logger.info,
) -> ReconstructionSummary:
    """Photos to a 3D model: every stage, resumable, into ``out_dir``.

    ``out_dir`` receives ``features.h5``, ``pairs.txt``, ``matches.h5``, ``database.db``,
    ``sparse/`` (COLMAP model), ``points.ply``, ``reconstruction.png`` and ``summary.json``.

    Raises:
        EmptyCollectionError: no image in ``image_dir``, or none could be read.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    names = list_images(image_dir)
    log(f"{len(names)} images in {image_dir}")
    ext = _timed(seconds, "extract", lambda: extract_collection(image_dir, out / "features.h5", preset, names, progress))
    if not ext.names:
        raise EmptyCollectionError(f"None of the {len(names)} images in {str(image_dir)!r} could be read.")
    pairs = _timed(
        seconds,
        "pairs",
        lambda: make_pairs(
            pairs_options.strategy,
            out / "features.h5",
            pairs_options.window,
            pairs_options.num_neighbors,
            pairs_options.pairs_file,
        ),
    )
    pairs_lib.write_pairs(pairs, out / "pairs.txt")
    log(f"{len(pairs)} pairs ({pairs_options.strategy})")
    _timed(
        seconds,
        "match",
        lambda: match_collection(out / "features.h5", pairs, out / "matches.h5", preset, batch_size, progress=progress),
    )
    db = _timed(
        seconds,
        "database",
        lambda: build_database(
            out / "database.db", out / "features.h5", out / "matches.h5", pairs, camera_mode, verbose=verbose
        ),
    )
    log(f"database: {db.num_images} images, {db.num_matched_pairs} matched pairs, {db.num_verified_pairs} verified")
    rec, summary = _timed(
        seconds, "mapping", lambda: incremental_mapping(out / "database.db", image_dir, out, verbose=verbose)
    )
    if rec is not None:
        _timed(seconds, "render", lambda: render_reconstruction(rec, out / "reconstruction.png"))
    summary.stage_seconds = seconds
    summary.write_json(out / "summary.json")
    return summary
