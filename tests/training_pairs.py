"""Synthetic SIFT-like training pairs for fast trainer tests (no photos, no extractor).

Sample ``i`` is a pure function of (seed, i): K keypoints in a 640x480 image 0, a mild random
homography, image 1 holding the warped positions (plus 0.5 px noise) of 3/4 of them and random
points for the rest, in shuffled order; descriptors of a warped point are its image-0 descriptor
plus noise. The labels come from the project's ``gt_from_homography``.
"""

from __future__ import annotations

import numpy as np
import torch

from lightglue.training.data.collate import collate as collate_samples
from lightglue.training.groundtruth import gt_from_homography

SIZE = (640.0, 480.0)


class SyntheticPairs:
    """A dataset of ``n`` pairs with ``k`` keypoints each and ``d``-dimensional descriptors."""

    def __init__(self, n: int = 8, k: int = 64, d: int = 128, seed: int = 0, noise: float = 0.3) -> None:
        self.n, self.k, self.d, self.seed, self.noise = n, k, d, seed, noise

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, index])
        w, h = SIZE
        k, d = self.k, self.d
        kp0 = rng.uniform([0, 0], [w, h], (k, 2))
        H = np.eye(3) + np.array([[0.05, 0.05, 20], [0.05, 0.05, 15], [1e-5, 1e-5, 0]]) * rng.uniform(-1, 1, (3, 3))
        warped = np.c_[kp0, np.ones(k)] @ H.T
        warped = warped[:, :2] / warped[:, 2:]
        visible = k * 3 // 4
        kp1 = np.concatenate([warped[:visible] + rng.normal(0, 0.5, (visible, 2)),
                              rng.uniform([0, 0], [w, h], (k - visible, 2))])
        desc0 = rng.normal(size=(k, d))
        desc1 = np.concatenate([desc0[:visible] + self.noise * rng.normal(size=(visible, d)),
                                rng.normal(size=(k - visible, d))])
        order = rng.permutation(k)
        kp1, desc1 = kp1[order], desc1[order]
        f32 = lambda a: torch.from_numpy(np.asarray(a, np.float32))  # noqa: E731
        desc0 = torch.nn.functional.normalize(f32(desc0), dim=-1)
        desc1 = torch.nn.functional.normalize(f32(desc1), dim=-1)
        H_t = f32(H)
        gt = gt_from_homography(f32(kp0)[None], f32(kp1)[None], H_t[None])
        return {
            "keypoints0": f32(kp0), "keypoints1": f32(kp1),
            "descriptors0": desc0, "descriptors1": desc1,
            "scales0": f32(rng.uniform(1, 5, k)), "scales1": f32(rng.uniform(1, 5, k)),
            "oris0": f32(rng.uniform(-np.pi, np.pi, k)), "oris1": f32(rng.uniform(-np.pi, np.pi, k)),
            "image_size0": f32(SIZE), "image_size1": f32(SIZE),
            "H_0to1": H_t,
            "gt_matches0": gt["gt_matches0"][0], "gt_matches1": gt["gt_matches1"][0],
            "gt_assignment": gt["gt_assignment"][0],
            "name": f"synthetic/{index}",
        }

    collate = staticmethod(collate_samples)


class PoisonedPairs(SyntheticPairs):
    """SyntheticPairs whose descriptors blow up from the ``poison_from``-th item read on (0-based).

    The values are finite (the matcher rejects NaN/inf inputs up front) but so large that the
    forward overflows, which is how a diverging run reaches the loss."""

    def __init__(self, poison_from: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.poison_from, self.reads = poison_from, 0

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        if self.reads >= self.poison_from:
            sample["descriptors0"] = torch.full_like(sample["descriptors0"], 3e38)
        self.reads += 1
        return sample
