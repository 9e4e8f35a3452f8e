"""The collection pipeline: extract -> pairs -> match pairs -> database -> reconstruct.

Each stage is a function over files and can be run alone
(:func:`~lightglue.collection.extract.extract_collection`, :func:`make_pairs`,
:func:`~lightglue.collection.match.match_collection`,
:func:`~lightglue.collection.colmap_db.build_database`,
:func:`~lightglue.collection.reconstruct.incremental_mapping`); :func:`reconstruct_collection`
chains them. Every stage stores its results atomically, so a re-run skips what is done and
a run killed at any moment resumes. The run holds the output folder's lock
(:mod:`~lightglue.collection.lock`) and uses exactly the images in the folder now: removed
images leave the features, pairs, database and model, replaced ones are extracted and
matched again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lightglue.collection import pairs as pairs_lib
from lightglue.collection.colmap_db import build_database
from lightglue.collection.extract import EmptyCollectionError, ExtractEngine, extract_collection, list_images
from lightglue.collection.features_h5 import open_features
from lightglue.collection.h5store import item_keys
from lightglue.collection.lock import folder_lock
from lightglue.collection.mappers import check_mapper
from lightglue.collection.match import MatchEngine, match_collection
from lightglue.collection.presets import Preset
from lightglue.collection.reconstruct import ReconstructionSummary, incremental_mapping
from lightglue.collection.render import render_reconstruction
from lightglue.collection.retrieval import vlad_from_features
from lightglue.collection.viewer_matches import write_matches_html
from lightglue.collection.viewer_reconstruction import write_reconstruction_html

logger = logging.getLogger(__name__)

PAIR_STRATEGIES = ("exhaustive", "sequential", "retrieval", "file")

T = TypeVar("T")


def make_pairs(
    strategy: str,
    features_path: str | os.PathLike,
    window: int = 5,
    num_neighbors: int = 10,
    pairs_file: str | os.PathLike | None = None,
    num_clusters: int = 16,
    images: Sequence[str] | None = None,
) -> list[pairs_lib.Pair]:
    """Choose the pairs to match among the images of ``features.h5``.

    Args:
        strategy: ``"exhaustive"``, ``"sequential"`` (``window`` next images, sorted names),
            ``"retrieval"`` (``num_neighbors`` nearest by VLAD of the local descriptors with
            ``num_clusters`` words) or ``"file"`` (``pairs_file``, restricted to known images).
        features_path: hloc-layout features.
        images: only these images (default: every image of ``features_path``).
    """
    if strategy not in PAIR_STRATEGIES:
        raise ValueError(f"Unknown pairs strategy {strategy!r}; choose from {PAIR_STRATEGIES}.")
    with open_features(features_path) as f:
        names = sorted(item_keys(f) if images is None else set(images) & item_keys(f))
        if strategy == "retrieval":  # one image in memory at a time
            global_descriptors = vlad_from_features(f, names, num_clusters)
    if strategy == "exhaustive":
        return pairs_lib.exhaustive_pairs(names)
    if strategy == "sequential":
        return pairs_lib.sequential_pairs(names, window)
    if strategy == "retrieval":
        return pairs_lib.retrieval_pairs(names, global_descriptors, num_neighbors)
    if pairs_file is None:
        raise ValueError("The 'file' strategy needs a pairs file.")
    known = set(names)
    listed = pairs_lib.read_pairs(pairs_file)
    missing = sorted({n for p in listed for n in p} - known)
    if missing:
        logger.warning(
            "%d image(s) of the pairs file have no features and are left out: %s", len(missing), missing[:5]
        )
    return [p for p in listed if p[0] in known and p[1] in known]


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
    pairs_options: PairsOptions | None = None,
    batch_size: int = 4,
    camera_mode: str = "per-image",
    progress: bool = True,
    verbose: bool = False,
    device: str | None = None,
    log: Callable[[str], Any] = logger.info,
    engines: tuple[ExtractEngine | None, MatchEngine | None] = (None, None),
    mapper: str = "incremental",
    mapper_threads: int = -1,
) -> ReconstructionSummary:
    """Photos to a 3D model: every stage, resumable, into ``out_dir``.

    ``out_dir`` receives ``features.h5``, ``pairs.txt``, ``matches.h5``, ``database.db``,
    ``sparse/`` (COLMAP model), ``points.ply``, ``reconstruction.png``, ``reconstruction.html``
    (interactive 3D viewer), ``matches.html`` (match browser) and ``summary.json``.
    It is locked for the run; when nothing can be reconstructed, the model, PLY, picture and
    3D viewer of an earlier run are removed. ``engines`` (extraction, matching) do those
    stages elsewhere, e.g. on a Ray cluster (see :mod:`lightglue.collection.cluster`; the
    driver, this process, holds the lock and writes every record); ``mapper`` is
    ``"incremental"`` or ``"global"``. ``mapper_threads`` is the mapper's thread count (-1:
    all cores); 1 makes the mapping repeat exactly, as pycolmap's multi-threaded mapper is
    not deterministic (the same database can give models of different sizes).

    Raises:
        EmptyCollectionError: fewer than 2 images in ``image_dir``, or fewer than 2 readable.
        ValueError: ``out_dir`` is ``image_dir``; no pairs to match.
        FolderBusyError: another process writes into ``out_dir``.
    """
    check_mapper(mapper)
    out = Path(out_dir)
    names = list_images(image_dir, exclude=out)
    if len(names) < 2:
        raise EmptyCollectionError(
            f"A reconstruction needs at least 2 images; {str(image_dir)!r} has {len(names)} ({names[0]})."
        )
    with folder_lock(out):
        return _reconstruct_locked(
            Path(image_dir), out, names, preset, pairs_options or PairsOptions(), batch_size, camera_mode, progress,
            verbose, device, log, engines, mapper, mapper_threads,
        )


def _reconstruct_locked(
    image_dir: Path, out: Path, names: list[str], preset: Preset, pairs_options: PairsOptions, batch_size: int,
    camera_mode: str, progress: bool, verbose: bool, device: str | None, log: Callable[[str], Any],
    engines: tuple[ExtractEngine | None, MatchEngine | None], mapper: str, mapper_threads: int,
) -> ReconstructionSummary:
    seconds: dict[str, float] = {}
    log(f"{len(names)} images in {image_dir}")
    ext = _timed(
        seconds, "extract", lambda: extract_collection(
            image_dir, out / "features.h5", preset, names, progress, device, engine=engines[0]
        ),
    )
    if len(ext.names) < 2:
        unreadable = "; ".join(f"{n}: {r}" for n, r in ext.skipped.items())
        raise EmptyCollectionError(
            f"A reconstruction needs at least 2 readable images; {len(ext.names)} of the {len(names)} images in "
            f"{str(image_dir)!r} could be read (unreadable: {unreadable})."
        )
    pairs = _timed(
        seconds,
        "pairs",
        lambda: make_pairs(
            pairs_options.strategy,
            out / "features.h5",
            pairs_options.window,
            pairs_options.num_neighbors,
            pairs_options.pairs_file,
            images=ext.names,
        ),
    )
    if not pairs:
        raise ValueError(f"No pairs to match among the {len(ext.names)} images (strategy {pairs_options.strategy}).")
    pairs_lib.write_pairs(pairs, out / "pairs.txt")
    log(f"{len(pairs)} pairs ({pairs_options.strategy})")
    _timed(
        seconds,
        "match",
        lambda: match_collection(
            out / "features.h5", pairs, out / "matches.h5", preset, batch_size, progress=progress, device=device,
            engine=engines[1],
        ),
    )
    db = _timed(
        seconds,
        "database",
        lambda: build_database(
            out / "database.db", out / "features.h5", out / "matches.h5", pairs, camera_mode, verbose=verbose,
            images=ext.names,
        ),
    )
    log(f"database: {db.num_images} images, {db.num_matched_pairs} matched pairs, {db.num_verified_pairs} verified")
    rec, summary = _timed(
        seconds,
        "mapping",
        lambda: incremental_mapping(
            out / "database.db", image_dir, out, num_threads=mapper_threads, verbose=verbose, mapper=mapper
        ),
    )
    if rec is not None:
        _timed(seconds, "render", lambda: render_reconstruction(rec, out / "reconstruction.png"))
        title = f"Reconstruction of {Path(image_dir).resolve().name}"
        _timed(seconds, "render", lambda: write_reconstruction_html(rec, out / "reconstruction.html", summary,
                                                                    title=title))
    else:
        for stale in ("reconstruction.png", "reconstruction.html"):
            (out / stale).unlink(missing_ok=True)
    _timed(seconds, "render", lambda: write_matches_html(
        out / "matches.html", out / "features.h5", out / "matches.h5", pairs, image_dir, out / "database.db",
        title=f"Matches of {Path(image_dir).resolve().name}",
    ))
    summary.unreadable = dict(ext.skipped)
    summary.stage_seconds = seconds
    summary.write_json(out / "summary.json")
    return summary
