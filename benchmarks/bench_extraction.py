"""ALIKED and DISK extraction and end-to-end pairs: kornia's models and today's path against ours.

Usage::

    .venv/bin/python benchmarks/bench_extraction.py [--repeats 3] [--threads 1] [--images A B]

Every side starts from the image file on disk: decode (``lightglue.image.read_image``), the
extractors' default resize (long side 1024, ``lightglue.image.resize_image``), network and
detection. Sides, run in alternation on the same files, medians of ``--repeats``:

- ``kornia``: ``kornia.feature.ALIKED`` / ``kornia.feature.DISK``'s own forward, with the
  official weights and the same settings (2048 keypoints; kornia's ALIKED keeps strict maxima
  only, so its keypoints differ from the reference's by design and are not compared);
- ``today``: the path our extractors ran before this change, rebuilt here from kornia's modules:
  ALIKED = kornia's ``extract_dense_map`` + our reference detection + kornia's ``desc_head``;
  DISK = kornia's forward (identical to the ``kornia`` side);
- ``ours``: ``lightglue.ALIKED`` / ``lightglue.DISK`` now.

``kpts equal``: ours and today's keypoints and scores are bit-identical; ``min cos``: the
smallest cosine between their descriptors of the same keypoint. The pair columns time two
extractions (from the files) plus our LightGlue (adaptive) on them, today's path against ours,
and say whether ``matches0`` are identical. Single-image times are the first extraction of
each pair run (the bundled example pair by default: Middlebury "Motorcycle", 741x500, shipped
with scikit-image).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from lightglue import ALIKED, DISK, LightGlue
from lightglue.extractors.aliked import refine_keypoints, select_keypoints
from lightglue.extractors.base import pad_and_stack
from lightglue.image import numpy_image_to_torch, read_image, resize_image
from lightglue.weights import load_state_dict

KEYPOINTS = 2048
RESIZE = 1024

Features = dict[str, torch.Tensor]


def example_pair() -> tuple[Path, Path]:
    """The files of the bundled example pair (scikit-image's Motorcycle stereo images)."""
    import skimage.data

    root = Path(skimage.data.__file__).parent
    return root / "motorcycle_left.png", root / "motorcycle_right.png"


def load(path: Path) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Decode and resize as ``Extractor.extract`` does: ``[1, 3, H', W']``, the scale (W'/W, H'/H), [W, H]."""
    image = numpy_image_to_torch(read_image(path))[None]
    return *resize_image(image, RESIZE), [image.shape[-1], image.shape[-2]]


def kornia_aliked() -> Callable[[Path], object]:
    from kornia.feature import ALIKED as KorniaALIKED

    net = KorniaALIKED("aliked-n16", max_num_keypoints=KEYPOINTS, detection_threshold=0.2, nms_radius=2).eval()
    missing, unexpected = net.load_state_dict(load_state_dict("aliked-n16"), strict=False)
    assert not unexpected and set(missing) <= {"dkd.hw_grid"}, (missing, unexpected)
    return lambda path: net(load(path)[0])


def kornia_disk() -> Callable[[Path], object]:
    from kornia.feature import DISK as KorniaDISK

    net = KorniaDISK().eval()
    net.load_state_dict(load_state_dict("disk-depth-save"), strict=True)
    return lambda path: net(load(path)[0], n=KEYPOINTS, window_size=5, score_threshold=0.0, pad_if_not_divisible=True)


def in_original_pixels(feats: Features, scale: torch.Tensor, image_size: list[int]) -> Features:
    """Keypoints mapped back as ``Extractor.extract`` maps them, plus ``image_size``."""
    feats["keypoints"] = (feats["keypoints"] + 0.5) / scale - 0.5
    feats["image_size"] = torch.tensor([image_size], dtype=torch.float32)
    return feats


def today_aliked(extractor: ALIKED) -> Callable[[Path], Features]:
    """Main's ALIKED: kornia's dense maps (normalised features), our detection, kornia's SDDH."""
    net, conf = extractor.net, extractor.conf

    def run(path: Path) -> Features:
        image, scale, size = load(path)
        features, scores = net.extract_dense_map(image)
        h, w = features.shape[-2:]
        indices = select_keypoints(scores, conf.nms_radius, conf.detection_threshold, conf.max_num_keypoints)[0]
        normalized, kp_scores = refine_keypoints(scores[0], indices, conf.nms_radius)
        descriptors = net.desc_head(features, [normalized])[0][0]
        keypoints = torch.tensor([w - 1, h - 1]) * (normalized + 1) / 2
        feats = pad_and_stack([{"keypoints": keypoints, "keypoint_scores": kp_scores, "descriptors": descriptors}])
        return in_original_pixels(feats, scale, size)

    return run


def today_disk(extractor: DISK) -> Callable[[Path], Features]:
    """Main's DISK: kornia's forward."""

    def run(path: Path) -> Features:
        image, scale, size = load(path)
        (f,) = extractor.net(image, n=KEYPOINTS, window_size=5, score_threshold=0.0, pad_if_not_divisible=True)
        feats = {"keypoints": f.keypoints, "keypoint_scores": f.detection_scores, "descriptors": f.descriptors}
        feats = pad_and_stack([feats])
        return in_original_pixels(feats, scale, size)

    return run


def ours(extractor: torch.nn.Module) -> Callable[[Path], Features]:
    return lambda path: extractor.extract(numpy_image_to_torch(read_image(path)))


def timed(fn: Callable, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def pair(
    extract: Callable[[Path], Features], matcher: LightGlue, paths: tuple[Path, Path]
) -> tuple[float, float, Features, dict]:
    """Two extractions and a match: (first extraction s, whole pair s, features of image 0, matcher output)."""
    start = time.perf_counter()
    t0, feats0 = timed(extract, paths[0])
    feats1 = extract(paths[1])
    out = matcher({"image0": feats0, "image1": feats1})
    return t0, time.perf_counter() - start, feats0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=Path, nargs=2, default=None, help="two image files (default: example pair)")
    parser.add_argument("--features", nargs="+", default=["aliked", "disk"], choices=["aliked", "disk"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    paths = tuple(args.images) if args.images else example_pair()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} thread(s), {os.cpu_count()} CPUs, repeats {args.repeats}")
    print(f"images {paths[0].name} {paths[1].name}, resize {RESIZE}, {KEYPOINTS} keypoints; times in ms (medians)")
    header = (
        f"{'':7} {'kornia':>7} {'today':>7} {'ours':>7} {'kornia/ours':>11} {'today/ours':>10} {'kpts equal':>10} "
        f"{'min cos':>9} {'pair today':>10} {'pair ours':>9} {'ratio':>6} {'same matches0':>13}"
    )
    print(header)
    for name in args.features:
        extractor = (ALIKED if name == "aliked" else DISK)(max_num_keypoints=KEYPOINTS).eval()
        kornia = (kornia_aliked if name == "aliked" else kornia_disk)()
        today = (today_aliked if name == "aliked" else today_disk)(extractor)
        fast = ours(extractor)
        matcher = LightGlue(features=name).eval()
        kornia(paths[0]), pair(today, matcher, paths), pair(fast, matcher, paths)  # warm-up
        t_kornia, t_today, t_ours, p_today, p_ours = [], [], [], [], []
        for _ in range(args.repeats):
            t_kornia.append(timed(kornia, paths[0])[0])
            t0, tp, feats_today, out_today = pair(today, matcher, paths)
            t_today.append(t0), p_today.append(tp)
            t0, tp, feats_ours, out_ours = pair(fast, matcher, paths)
            t_ours.append(t0), p_ours.append(tp)
        k, t, o = (1000 * statistics.median(x) for x in (t_kornia, t_today, t_ours))
        pt, po = (1000 * statistics.median(x) for x in (p_today, p_ours))
        equal = all(torch.equal(feats_today[key], feats_ours[key]) for key in ("keypoints", "keypoint_scores"))
        cosine = (feats_today["descriptors"] * feats_ours["descriptors"]).sum(-1).min().item()
        same = torch.equal(out_today["matches0"], out_ours["matches0"])
        print(
            f"{name:7} {k:7.0f} {t:7.0f} {o:7.0f} {k / o:11.2f} {t / o:10.2f} {str(equal):>10} {cosine:9.7f} "
            f"{pt:10.0f} {po:9.0f} {pt / po:6.2f} {str(same):>13}"
        )


if __name__ == "__main__":
    main()
