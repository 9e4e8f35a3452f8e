"""How much of an OpenCV-RANSAC homography AUC is the order of the matches: the same matches, shuffled.

Usage::

    .venv/bin/python benchmarks/ransac_order.py ../shared/data/hpatches/v_churchill \\
        -m sift+lightglue -m sift+ratio -m sift+mnn [--orders 20] [--confidence 0.999999999]
    .venv/bin/python benchmarks/ransac_order.py ../shared/data/photos --heldout 100 -m sift+lightglue

Each method matches every pair once (the evaluation's :class:`~lightglue.evaluation.methods.Method`,
same keypoints, as ``lightglue eval``). The matches are then handed to OpenCV's RANSAC
(``cv2.findHomography``, the protocol's 3 px threshold) in ``--orders`` random orders: RANSAC
draws its samples from a fixed-seed generator, so the order alone decides which hypotheses it
sees, when its adaptive stopping rule ends the search, and where its final refinement starts.
Printed per method: the AUC at 1/3/5 px of the corner error in the given order (what ``eval``
reports), its mean, minimum and maximum over the orders, and the same mean with a stricter
stopping ``--confidence`` (more hypotheses before stopping), next to PoseLib's AUC
(LO-RANSAC) on the same matches in the given order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from lightglue.evaluation.homography import (
    HOMOGRAPHY_AUC_THRESHOLDS,
    HOMOGRAPHY_RANSAC_TH,
    HomographyCase,
    load_homography_cases,
)
from lightglue.evaluation.hpatches import read_hpatches
from lightglue.evaluation.methods import Method
from lightglue.evaluation.metrics import error_auc
from lightglue.geometry import estimate_homography, homography_corner_error
from lightglue.geometry.homography import OPENCV_CONFIDENCE


def load_cases(root: Path, heldout: int | None, seed: int) -> list[HomographyCase]:
    """HPatches pairs under ``root``, or ``heldout`` held-out corpus pairs (``lightglue eval heldout``'s)."""
    if heldout is None:
        return list(load_homography_cases(read_hpatches(root)))
    from lightglue.training.heldout import heldout_cases, heldout_pairs

    return list(heldout_cases(heldout_pairs(root, heldout, seed), heldout))


def opencv_error(case: HomographyCase, kpts0: np.ndarray, kpts1: np.ndarray, confidence: float) -> float:
    """Corner error (px) of OpenCV's RANSAC homography from these matches, in this order."""
    H, _ = estimate_homography(kpts0, kpts1, "opencv", HOMOGRAPHY_RANSAC_TH["opencv"], confidence)
    return homography_corner_error(H, case.H_0to1, *case.size0)


def auc_text(values: np.ndarray) -> str:
    """``[3]`` AUCs in [0, 1] as percentages."""
    return " / ".join(f"{100 * v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="an HPatches folder or sequence, or the photo corpus with --heldout")
    parser.add_argument("-m", "--method", dest="methods", action="append", required=True)
    parser.add_argument("--heldout", type=int, default=None, metavar="PAIRS", help="held-out corpus pairs instead")
    parser.add_argument("--seed", type=int, default=1, help="seed of the held-out pairs (eval's default: 1)")
    parser.add_argument("--orders", type=int, default=20, help="random orders of the matches per pair")
    parser.add_argument("--confidence", type=float, default=0.999999999, help="the stricter stopping confidence")
    parser.add_argument("--max-keypoints", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = load_cases(args.root, args.heldout, args.seed)
    thresholds = HOMOGRAPHY_AUC_THRESHOLDS
    print(f"{len(cases)} pairs, {args.orders} orders of the matches per pair, OpenCV RANSAC at "
          f"{HOMOGRAPHY_RANSAC_TH['opencv']} px; AUC@{'/'.join(f'{t:g}' for t in thresholds)} px in %")
    print("| method | OpenCV, given order | OpenCV, mean over orders | min | max "
          f"| OpenCV conf {args.confidence}, mean | PoseLib |")
    print("|---|---|---|---|---|---|---|")
    for name in args.methods:
        method = Method(name, max_keypoints=args.max_keypoints)
        rng = np.random.default_rng(0)
        given, poselib = [], []
        shuffled = np.zeros((2, len(cases), args.orders))  # [protocol / strict confidence, pair, order]
        for i, case in enumerate(cases):
            matches = method(case)
            k0, k1 = matches.kpts0, matches.kpts1
            given.append(opencv_error(case, k0, k1, OPENCV_CONFIDENCE))
            H, _ = estimate_homography(k0, k1, "poselib", HOMOGRAPHY_RANSAC_TH["poselib"])
            poselib.append(homography_corner_error(H, case.H_0to1, *case.size0))
            for j in range(args.orders):
                order = rng.permutation(len(k0))
                for c, confidence in enumerate((OPENCV_CONFIDENCE, args.confidence)):
                    shuffled[c, i, j] = opencv_error(case, k0[order], k1[order], confidence)
        per_order = np.array([[error_auc(shuffled[c, :, j], thresholds) for j in range(args.orders)] for c in (0, 1)])
        print(f"| {name} | {auc_text(error_auc(given, thresholds))} | {auc_text(per_order[0].mean(0))} "
              f"| {auc_text(per_order[0].min(0))} | {auc_text(per_order[0].max(0))} "
              f"| {auc_text(per_order[1].mean(0))} | {auc_text(error_auc(poselib, thresholds))} |")


if __name__ == "__main__":
    main()
