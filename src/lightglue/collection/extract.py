"""Stage 1: local features of every image, extracted once, into ``features.h5``.

A prefetch thread decodes images while the extractor runs in the calling thread (on all
cores) and a writer thread stores each image's features as an atomic part. Images already
stored are skipped; an image that cannot be read is reported and skipped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lightglue.collection.features_h5 import ImageFeatures, feature_record
from lightglue.collection.h5store import H5Store, Record
from lightglue.collection.presets import Preset, resolve_device
from lightglue.collection.workers import Prefetcher, RecordWriter, progress_bar
from lightglue.image import load_image

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
        EmptyCollectionError: it holds no file with an image extension.
    """
    root = Path(image_dir)
    if not root.exists():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of images.")
    skip = Path(exclude).resolve() if exclude is not None else None
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


def extract_record(extractor: torch.nn.Module, preset: Preset, name: str, image: torch.Tensor) -> Record:
    """The ``features.h5`` record of one image ``[3, H, W]`` (ValueError/RuntimeError if it fails)."""
    with torch.inference_mode():
        feats = extractor.extract(image, resize=preset.resize)
    uncertainty = max(image.shape[-2:]) / preset.resize if preset.resize else 1.0
    return feature_record(name, _to_image_features(feats), uncertainty)


def extract_collection(
    image_dir: str | os.PathLike,
    features_path: str | os.PathLike,
    preset: Preset,
    names: Sequence[str] | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    engine: ExtractEngine | None = None,
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
        device: where the extractor runs (default: a CUDA GPU if there is one, else the CPU).
        engine: extracts the images left instead of this process, e.g. on a cluster
            (:class:`lightglue.collection.cluster.driver.ClusterExtractor`): called as
            ``engine(image_dir, names, store, report, progress)``, fills ``report``.
    """
    image_dir = Path(image_dir)
    names = list(names) if names is not None else list_images(image_dir)
    features_path = Path(features_path)
    features_path.parent.mkdir(parents=True, exist_ok=True)
    store = H5Store(features_path, {"lightglue_extractor": preset.extractor_fingerprint()})
    store.consolidate()
    done = store.keys()
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

    def load(name: str) -> tuple[str, torch.Tensor | Exception]:
        try:
            return name, load_image(image_dir / name)
        except (OSError, ValueError) as err:
            return name, err

    extractor = preset.build_extractor(resolve_device(device))
    loader = Prefetcher(load(n) for n in todo)
    writer = RecordWriter(store)
    bar = progress_bar(len(todo), "extract", "img", progress)
    try:
        for name, image in loader:
            if not isinstance(image, Exception):
                try:
                    record = extract_record(extractor, preset, name, image)
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
