"""Posed training pairs from a dataset in the MegaDepth layout (as glue-factory reads it).

Layout under ``root``:

- ``scene_info/<scene>.npz`` with ``image_paths`` ``[N]`` (paths relative to ``root``, or None),
  ``depth_paths`` ``[N]`` (None marks an image without depth), ``intrinsics`` ``[N, 3, 3]``,
  ``poses`` ``[N, 4, 4]`` (world-to-camera) and ``overlap_matrix`` ``[N, N]``;
- the images at ``root / image_paths[i]``;
- the depth maps at ``root / depth_undistorted / <scene> / <image stem>.h5``, dataset ``depth``
  (metres, 0 where unknown), the size of the image.

Pairs: per scene, the image pairs (both with an image and depth) whose overlap lies in
``(min_overlap, max_overlap]``, split into ``num_overlap_bins`` equal bins; up to
``pairs_per_scene`` pairs are drawn, shared equally by the non-empty bins, with a generator
seeded by (seed, scene). Scenes are split into ``"train"`` / ``"val"`` by ``val_scenes`` or,
without it, by a hash of the scene name (so validation scenes are never trained on).

A sample: both images are resized (long side ``resize``, as the extractors' preprocessing does,
intrinsics scaled), K features are extracted from each (cached per image with ``cache_dir``),
the depth maps are resized (nearest) and the ground truth comes from ``gt_from_depth``
(3 px / 5 px / epipolar 5 px, the recipe's). A pair whose image yields fewer than K keypoints
is dropped with a logged reason and replaced by another pair drawn from (seed, index, attempt).
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import torch

from lightglue.geometry.transforms import scale_intrinsics
from lightglue.image import load_image, resize_image
from lightglue.training.data.cache import cache_key, cache_path, load_entry, store_entry
from lightglue.training.data.features import FrozenFeatures
from lightglue.training.data.photos import SPLITS, split_of

logger = logging.getLogger(__name__)

_CACHE_VERSION = 1
_FEATURE_KEYS = ("keypoints", "keypoint_scores", "descriptors", "scales", "oris")


def _scene_list(value: list[str] | str | os.PathLike | None) -> list[str] | None:
    """Scene names from a list, or from a text file with one name per line."""
    if value is None or isinstance(value, (list, tuple)):
        return None if value is None else [str(v) for v in value]
    return [line.strip() for line in Path(value).read_text().splitlines() if line.strip()]


class MegaDepthPairs(torch.utils.data.Dataset):
    """Image pairs of MegaDepth-layout scenes with K features per image and depth-based GT.

    Args:
        root: the dataset folder.
        features: extractor name; num_keypoints: K per image; seed: the seed of the pair
            selection and of the replacement of dropped pairs.
        split: ``"train"``, ``"val"`` or ``"all"``.
        scenes: the scenes to use (a list, or a text file of names); None for every
            ``scene_info/*.npz`` (hidden files excepted).
        val_scenes: the validation scenes (list or file); None to hold out scenes by a hash of
            their name (``val_fraction``).
        pairs_per_scene: pairs drawn per scene (None: every pair in the overlap range).
        min_overlap, max_overlap, num_overlap_bins: the overlap range and its bins.
        resize: long side of the images in pixels (None: original size).
        cache_dir: folder of the optional per-image feature cache.
        extractor_conf: extractor options (see :class:`.features.FrozenFeatures`).
        return_images: also return ``image0/1 [3, H, W]`` (collating needs equal sizes).
        max_attempts: pairs tried per sample before it is an error.
        pos_th, neg_th, epi_th: ground-truth thresholds in pixels.
        depth_subpath, info_dir: sub-folders of the depth maps and scene files.
        device: where the extractor runs.

    Attributes:
        items: ``(scene, image index 0, image index 1, overlap)`` of every pair, in order.
        dropped: ``(index, reason)`` of the pairs dropped by this process.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        features: str = "sift",
        num_keypoints: int = 512,
        seed: int = 0,
        split: str = "train",
        scenes: list[str] | str | os.PathLike | None = None,
        val_scenes: list[str] | str | os.PathLike | None = None,
        val_fraction: float = 0.1,
        pairs_per_scene: int | None = 300,
        min_overlap: float = 0.1,
        max_overlap: float = 0.7,
        num_overlap_bins: int = 3,
        resize: int | None = 1024,
        cache_dir: str | os.PathLike | None = None,
        extractor_conf: dict[str, Any] | None = None,
        return_images: bool = False,
        max_attempts: int = 5,
        pos_th: float = 3.0,
        neg_th: float = 5.0,
        epi_th: float = 5.0,
        depth_subpath: str = "depth_undistorted",
        info_dir: str = "scene_info",
        device: str = "cpu",
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; choose from {SPLITS}.")
        if not 0 <= min_overlap < max_overlap or num_overlap_bins < 1 or max_attempts < 1:
            raise ValueError("Need 0 <= min_overlap < max_overlap, num_overlap_bins >= 1 and max_attempts >= 1.")
        self.root = Path(root)
        info = self.root / info_dir
        if not info.is_dir():
            raise FileNotFoundError(f"No scene folder {str(info)!r}: {str(self.root)!r} is not in the MegaDepth layout.")
        # hidden files are temporary (a scene being written, or left by a killed writer)
        all_scenes = _scene_list(scenes) or sorted(p.stem for p in info.glob("*.npz") if not p.name.startswith("."))
        held_out = _scene_list(val_scenes)
        if split == "all":
            chosen = all_scenes
        elif held_out is not None:
            chosen = [s for s in all_scenes if (s in held_out) == (split == "val")]
        else:
            chosen = [s for s in all_scenes if split_of(s, val_fraction) == split]
        self.seed, self.split, self.resize = int(seed), split, resize
        self.depth_dir = self.root / depth_subpath
        self.features = FrozenFeatures(features, num_keypoints, extractor_conf, device)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.return_images, self.max_attempts = return_images, int(max_attempts)
        self.pos_th, self.neg_th, self.epi_th = float(pos_th), float(neg_th), float(epi_th)
        self.scenes: dict[str, dict[str, np.ndarray]] = {}
        self.items: list[tuple[str, int, int, float]] = []
        self.dropped: list[tuple[int, str]] = []
        for scene in chosen:
            try:
                with np.load(info / f"{scene}.npz", allow_pickle=True) as data:
                    meta = {k: data[k] for k in ("image_paths", "depth_paths", "intrinsics", "poses", "overlap_matrix")}
            except (OSError, ValueError, KeyError) as error:
                logger.warning("Skipping scene %s: cannot read %s (%s).", scene, info / f"{scene}.npz", error)
                continue
            self.scenes[scene] = meta
            self.items += self._scene_pairs(scene, meta, pairs_per_scene, min_overlap, max_overlap, num_overlap_bins)
        if not self.items:
            raise ValueError(
                f"No {split} pairs in {str(self.root)!r}: {len(chosen)} scene(s) in the split, none with image pairs "
                f"overlapping in ({min_overlap}, {max_overlap}]; give val_scenes or change the overlap range."
            )

    def _scene_pairs(
        self, scene: str, meta: dict[str, np.ndarray], per_scene: int | None, low: float, high: float, bins: int
    ) -> list[tuple[str, int, int, float]]:
        valid = np.flatnonzero(np.array([p is not None for p in meta["image_paths"]]) &
                               np.array([p is not None for p in meta["depth_paths"]]))  # fmt: skip
        overlap = meta["overlap_matrix"][valid][:, valid]
        edges = np.linspace(low, high, bins + 1)
        distinct = ~np.eye(len(valid), dtype=bool)
        candidates = [np.argwhere((overlap > lo) & (overlap <= hi) & distinct) for lo, hi in zip(edges[:-1], edges[1:])]
        candidates = [c for c in candidates if len(c)]
        rng = np.random.default_rng([self.seed, zlib.crc32(scene.encode())])
        pairs = []
        for bin_pairs in candidates:
            if per_scene is not None and len(bin_pairs) > per_scene // len(candidates):
                bin_pairs = bin_pairs[np.sort(rng.choice(len(bin_pairs), per_scene // len(candidates), replace=False))]
            pairs += [(scene, int(valid[i]), int(valid[j]), float(overlap[i, j])) for i, j in bin_pairs]
        return pairs

    def __len__(self) -> int:
        return len(self.items)

    # -- one image -----------------------------------------------------------------------

    def image_path(self, scene: str, i: int) -> Path:
        return self.root / str(self.scenes[scene]["image_paths"][i])

    def load_image(self, scene: str, i: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """The ``[3, H, W]`` image resized as the extractors' preprocessing does, and its original (W, H)."""
        image = load_image(self.image_path(scene, i))
        original = (image.shape[-1], image.shape[-2])
        if self.resize is not None:
            image, _ = resize_image(image, self.resize)
        return image.clamp(0, 1), original

    def load_depth(self, scene: str, i: int, original: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
        """The depth map ``[H, W]`` (float32, metres) of image ``i``, resized (nearest) to ``size`` (W, H).

        Raises:
            ValueError: the depth map is not the size ``original`` (W, H) of its image.
        """
        path = self.depth_dir / scene / f"{self.image_path(scene, i).stem}.h5"
        with h5py.File(path, "r") as f:
            depth = np.asarray(f["depth"], np.float32)
        if depth.shape != original[::-1]:
            raise ValueError(f"The depth map {path} is {depth.shape[::-1]} (W, H), its image {original}.")
        return cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)

    def image_features(self, scene: str, i: int) -> dict[str, np.ndarray]:
        """K features of image ``i`` of ``scene`` (from the cache when possible).

        Returns:
            The arrays of :meth:`.features.FrozenFeatures.extract` (absent when the image has
            fewer than K keypoints) and ``image_size``, ``original_size`` (W, H) and ``count``
            (K, or 0 when the image has fewer keypoints).
        """
        path = None
        if self.cache_dir is not None:
            key = cache_key(
                {
                    "version": _CACHE_VERSION,
                    "image": str(self.scenes[scene]["image_paths"][i]),
                    "resize": self.resize,
                    "features": self.features.key,
                }
            )
            path = cache_path(self.cache_dir, f"megadepth-{self.features.name}-{self.features.num_keypoints}", key)
            if (cached := load_entry(path)) is not None:
                return cached
        image, original = self.load_image(scene, i)
        feats = self.features.extract(image)
        entry = {
            **(feats or {}),
            "image_size": np.array([image.shape[-1], image.shape[-2]]),
            "original_size": np.array(original),
            "count": np.array(0 if feats is None else self.features.num_keypoints),
        }
        if path is not None:
            store_entry(path, entry)
        return entry

    # -- samples -------------------------------------------------------------------------

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Pair ``index``: the batch-dict keys of the training interfaces without the batch dimension.

        Returns:
            ``keypoints0/1 [K, 2]`` (pixels of the resized images), ``keypoint_scores0/1``,
            ``descriptors0/1 [K, D]``, ``scales0/1`` / ``oris0/1`` (SIFT), ``image_size0/1 [2]``
            (W, H), ``K0/K1 [3, 3]``, ``T_0to1``/``T_1to0 [4, 4]`` (float32), ``gt_matches0/1 [K]``
            (int64), ``gt_assignment [K, K]``, ``overlap`` (scalar), ``name`` and, when asked,
            ``image0/1``.

        Raises:
            RuntimeError: no pair tried had K keypoints in both images.
        """
        from lightglue.training.groundtruth import gt_from_depth

        if not 0 <= index < len(self):
            raise IndexError(f"Pair index {index} out of range for {len(self)} pairs.")
        for attempt in range(self.max_attempts):
            item = self.items[index] if attempt == 0 else self.items[
                int(np.random.default_rng([self.seed, index, attempt]).integers(len(self)))
            ]  # fmt: skip
            scene, i0, i1, overlap = item
            feats = [self.image_features(scene, i) for i in (i0, i1)]
            if all(int(f["count"]) > 0 for f in feats):
                break
            reason = f"pair {index} attempt {attempt} ({scene} {i0}-{i1}): fewer than {self.features.num_keypoints} keypoints"
            logger.info("Dropped %s.", reason)
            self.dropped.append((index, reason))
        else:
            raise RuntimeError(f"Pair {index}: no pair with {self.features.num_keypoints} keypoints in both images "
                               f"after {self.max_attempts} attempts; lower num_keypoints.")  # fmt: skip
        sample: dict[str, Any] = {}
        depths = []
        for n, (i, f) in enumerate(zip((i0, i1), feats)):
            for key in _FEATURE_KEYS:
                if key in f:
                    sample[f"{key}{n}"] = torch.from_numpy(np.asarray(f[key], np.float32))
            size, original = tuple(int(v) for v in f["image_size"]), tuple(int(v) for v in f["original_size"])
            sample[f"image_size{n}"] = torch.tensor(size, dtype=torch.float32)
            K = scale_intrinsics(self.scenes[scene]["intrinsics"][i], np.array(size) / np.array(original))
            sample[f"K{n}"] = torch.from_numpy(K.astype(np.float32))
            depths.append(torch.from_numpy(self.load_depth(scene, i, original, size)))
            if self.return_images:
                sample[f"image{n}"] = self.load_image(scene, i)[0]
        poses = [np.asarray(self.scenes[scene]["poses"][i], np.float64) for i in (i0, i1)]
        T_0to1 = poses[1] @ np.linalg.inv(poses[0])
        sample["T_0to1"] = torch.from_numpy(T_0to1.astype(np.float32))
        sample["T_1to0"] = torch.from_numpy(np.linalg.inv(T_0to1).astype(np.float32))
        gt = gt_from_depth(
            sample["keypoints0"][None], sample["keypoints1"][None], depths[0][None], depths[1][None],
            sample["K0"][None], sample["K1"][None], sample["T_0to1"][None], sample["T_1to0"][None],
            pos_th=self.pos_th, neg_th=self.neg_th, epi_th=self.epi_th,
        )  # fmt: skip
        for key in ("gt_matches0", "gt_matches1", "gt_assignment"):
            sample[key] = gt[key][0]
        sample["overlap"] = torch.tensor(overlap, dtype=torch.float32)
        sample["name"] = f"{scene}/{self.image_path(scene, i0).stem}_{self.image_path(scene, i1).stem}"
        return sample
