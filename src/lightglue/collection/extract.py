"""Stage 1: local features of every image, extracted once, into ``features.h5``.

A prefetch thread decodes images while the extractor runs in the calling thread (on all
cores) and a writer thread stores each image's features as an atomic part. Images already
stored are skipped; an image that cannot be read is reported and skipped. The file follows
the folder: features of an image that was removed are dropped, an image replaced by another
file (see :mod:`~lightglue.collection.fingerprint`) and a damaged record are extracted again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from lightglue.collection.features_h5 import ImageFeatures, feature_record
from lightglue.collection.fingerprint import is_unchanged, read_with_fingerprint
from lightglue.collection.h5store import H5Store, Record, item_keys
from lightglue.collection.lock import folder_lock
from lightglue.collection.presets import Preset, resolve_device
from lightglue.collection.workers import Prefetcher, RecordWriter, progress_bar
from lightglue.image import decode_image, numpy_image_to_torch

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp")


class EmptyCollectionError(ValueError):
    """A folder without a single image file."""


def list_images(image_dir: str | os.PathLike, exclude: str | os.PathLike | None = None) -> list[str]:
    """Image files under ``image_dir`` (recursively), as sorted relative POSIX paths.

    Hidden files and folders (name starting with ``.``) are left out, and so is everything
    under ``exclude`` (the output folder, when it lies inside the image folder: its pictures
    are not photos of the scene).

    Raises:
        FileNotFoundError: the folder does not exist.
        NotADirectoryError: it is a file.
        ValueError: ``exclude`` is the image folder itself.
        EmptyCollectionError: it holds no file with an image extension.
    """
    root = Path(image_dir)
    if not root.exists():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of images.")
    skip = Path(exclude).resolve() if exclude is not None else None
    if skip is not None and skip == root.resolve():
        raise ValueError(
            f"The output folder {str(exclude)!r} is the image folder itself; choose another one "
            "(a sub-folder is fine: it is not taken for photos)."
        )
    if skip is not None and not skip.is_relative_to(root.resolve()):
        skip = None  # outside the image folder (or above it): nothing to leave out
    names = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and not (skip is not None and p.resolve().is_relative_to(skip))
    )
    if not names:
        raise EmptyCollectionError(
            f"No images found in {str(root)!r} (looked for {', '.join(IMAGE_EXTENSIONS)}, sub-folders included)."
        )
    return names


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


ExtractEngine = Callable[[Path, list[str], H5Store, "ExtractReport", bool], None]


def extract_record(
    extractor: torch.nn.Module,
    preset: Preset,
    name: str,
    image: torch.Tensor,
    fingerprint: Mapping[str, Any] | None = None,
) -> Record:
    """The ``features.h5`` record of one image ``[3, H, W]`` (ValueError/RuntimeError if it fails).

    ``fingerprint``: the image file's attributes
    (:func:`~lightglue.collection.fingerprint.read_with_fingerprint`), stored on the record's group.
    """
    with torch.inference_mode():
        feats = extractor.extract(image, resize=preset.resize)
    uncertainty = max(image.shape[-2:]) / preset.resize if preset.resize else 1.0
    record = feature_record(name, _to_image_features(feats), uncertainty)
    return dataclasses.replace(record, group_attrs=dict(fingerprint or {}))


def _stale_items(
    store: H5Store, image_dir: Path, names: Sequence[str], prune: bool
) -> tuple[set[str], dict[str, str]]:
    """Stored images to drop: removed from ``names`` (if ``prune``), replaced or damaged.

    Only metadata is read (group attributes, dataset shapes) and images are hashed only
    when their size or mtime changed. Returns the stored keys and image -> reason to drop.
    """
    if not store.path.is_file():
        return set(), {}
    wanted = set(names)
    stale: dict[str, str] = {}
    with h5py.File(store.path, "r") as f:
        stored = item_keys(f)
        for name in sorted(stored):
            if name not in wanted:
                if prune:
                    stale[name] = "no longer in the image folder"
                continue
            problem = _feature_record_problem(f[name])
            if problem is None and not is_unchanged(image_dir / name, f[name].attrs):
                problem = "the image file was replaced"
            if problem is not None:
                stale[name] = problem
    return stored, stale


def _feature_record_problem(group: h5py.Group) -> str | None:
    """What is wrong with a stored image record (metadata only), or None if it is whole."""
    shapes = {k: v.shape for k, v in group.items() if isinstance(v, h5py.Dataset)}
    for key in ("keypoints", "descriptors", "image_size"):
        if key not in shapes:
            return f"no {key!r} dataset"
    if "scores" not in shapes and "keypoint_scores" not in shapes:
        return "no 'scores' dataset"
    n = shapes["keypoints"][0] if len(shapes["keypoints"]) == 2 else -1
    if shapes["keypoints"] != (n, 2) or len(shapes["descriptors"]) != 2 or shapes["descriptors"][1] != n:
        return f"keypoints {shapes['keypoints']} and descriptors {shapes['descriptors']} do not agree"
    return None


def extract_collection(
    image_dir: str | os.PathLike,
    features_path: str | os.PathLike,
    preset: Preset,
    names: Sequence[str] | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    prune: bool = True,
    engine: ExtractEngine | None = None,
) -> ExtractReport:
    """Extract local features of every image once, into an hloc-layout ``features.h5``.

    Images already in the file are skipped, unless their file was replaced (another content
    under the same name) or their record is damaged: those are extracted again. With
    ``prune``, images stored but not in ``names`` (removed from the folder) are dropped from
    the file. Decoding runs in a prefetch thread, the extractor in the calling thread,
    writing in a writer thread. The folder of ``features_path`` is locked for the run
    (:func:`~lightglue.collection.lock.folder_lock`).

    Args:
        image_dir: the image folder.
        features_path: the ``features.h5`` to create or complete.
        preset: the extractor configuration (stored in the file; a different one is an error).
        names: images to process (relative to ``image_dir``); default: :func:`list_images`.
        progress: show a progress bar.
        device: where the extractor runs (default: a CUDA GPU if there is one, else the CPU).
        prune: drop stored images that are not in ``names``.
        engine: extracts the images left instead of this process, e.g. on a cluster
            (:class:`lightglue.collection.cluster.driver.ClusterExtractor`): called as
            ``engine(image_dir, names, store, report, progress)`` once stale records are
            dropped, under the folder lock; it stores records with the image fingerprints and
            fills ``report``.

    Raises:
        FolderBusyError: another process writes into the same folder.
    """
    image_dir = Path(image_dir)
    names = list(names) if names is not None else list_images(image_dir)
    features_path = Path(features_path)
    with folder_lock(features_path.parent):
        return _extract_locked(image_dir, features_path, preset, names, progress, device, prune, engine)


def _extract_locked(
    image_dir: Path, features_path: Path, preset: Preset, names: list[str], progress: bool,
    device: torch.device | str | None, prune: bool, engine: ExtractEngine | None,
) -> ExtractReport:
    store = H5Store(features_path, {"lightglue_extractor": preset.extractor_fingerprint()})
    store.consolidate()
    stored, stale = _stale_items(store, image_dir, names, prune)
    for name, reason in stale.items():
        logger.info("Dropping the features of %s: %s", name, reason)
    store.consolidate(drop=stale)
    done = stored - set(stale)
    todo = [n for n in names if n not in done]
    report = ExtractReport(names=[n for n in names if n in done])
    if engine is not None and todo:
        engine(image_dir, todo, store, report, progress)
        todo = []
    if not todo:
        store.consolidate()
        stored = done | set(report.extracted)
        report.names = [n for n in names if n in stored]
        return report

    def load(name: str) -> tuple[str, dict, torch.Tensor | Exception]:
        try:
            data, fingerprint = read_with_fingerprint(image_dir / name)  # one read: hash and decode
            return name, fingerprint, numpy_image_to_torch(decode_image(data, image_dir / name))
        except (OSError, ValueError) as err:
            return name, {}, err

    extractor = preset.build_extractor(resolve_device(device))
    loader = Prefetcher(load(n) for n in todo)
    writer = RecordWriter(store)
    bar = progress_bar(len(todo), "extract", "img", progress)
    try:
        for name, fingerprint, image in loader:
            if not isinstance(image, Exception):
                try:
                    record = extract_record(extractor, preset, name, image, fingerprint)
                except (ValueError, RuntimeError) as err:
                    image = err
            if isinstance(image, Exception):
                report.skipped[name] = str(image)
                logger.warning("Skipping image %s: %s", name, image)
            else:
                writer.put([record])
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
