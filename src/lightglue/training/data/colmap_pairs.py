"""Training pairs from a COLMAP reconstruction and its features.h5 (fine-tuning on your own photos).

The reconstruction (e.g. ``sparse/`` written by ``lightglue reconstruct``) and the features
file it was built from (``features.h5`` of the same working folder, hloc layout) must agree: the
2D points of every image are that image's keypoints in ``features.h5``, in order, shifted by
+0.5 px (COLMAP's pixel frame); this is checked when the dataset is built.

Each image keeps its K highest-scoring keypoints. A pair is two registered images with at least
``min_covisible`` 3D points observed by both (among those K keypoints each). Pairs are split into
``"train"`` / ``"val"`` by a hash of the two image names (an image may appear in both splits;
only the pairs are held out). Labels come from :func:`gt_from_colmap`: keypoints observing the
same 3D point are matches, keypoints far from every reprojection / epipolar line unmatchable.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.features_h5 import read_features
from lightglue.geometry.colmap import COLMAP_PIXEL_OFFSET, colmap_intrinsics, colmap_pose
from lightglue.image import load_image
from lightglue.training.data.photos import SPLITS, split_of

logger = logging.getLogger(__name__)


def _features_name(f: h5py.File) -> str | None:
    """The extractor that wrote a features.h5 (lower-case class name), when recorded."""
    fingerprint = f.attrs.get("lightglue_extractor")
    if fingerprint is None:
        return None
    try:
        return str(json.loads(str(fingerprint))["extractor"]).lower()
    except (ValueError, KeyError, TypeError):
        return None


class ColmapPairs(torch.utils.data.Dataset):
    """Co-visible image pairs of a COLMAP model with K features per image and the model's GT.

    Args:
        model_dir: the COLMAP model folder (``cameras``, ``images``, ``points3D`` .bin or .txt).
        features_h5: the features file whose keypoints are the model's 2D points.
        image_dir: the photos (only needed for ``return_images``).
        features: the expected extractor (``"aliked"``, ``"sift"``, ...); checked against the
            file's record when it has one. None: not checked.
        num_keypoints: K, keypoints kept per image (the highest scores).
        seed: seed of the ``max_pairs`` subsampling.
        split: ``"train"``, ``"val"`` or ``"all"``; val_fraction: share of pairs held out.
        min_covisible: fewest 3D points both images must observe (among their K keypoints).
        max_pairs: keep at most this many pairs of the split (a random subset; None: all).
        neg_th: unmatchable threshold of the ground truth, pixels.
        return_images: also return ``image0/1 [3, H, W]`` (collating needs equal sizes).

    Attributes:
        pairs: ``(name0, name1, covisible 3D points)`` of every pair, in order.
        skipped: ``(image name, reason)`` of the registered images left out.

    Raises:
        FileNotFoundError: no model or no features file.
        ValueError: features.h5 does not belong to the model, other features than expected,
            or no pair in the split.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        features_h5: str | os.PathLike,
        image_dir: str | os.PathLike | None = None,
        features: str | None = None,
        num_keypoints: int = 512,
        seed: int = 0,
        split: str = "train",
        val_fraction: float = 0.1,
        min_covisible: int = 20,
        max_pairs: int | None = None,
        neg_th: float = 5.0,
        return_images: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; choose from {SPLITS}.")
        if num_keypoints < 1 or min_covisible < 1:
            raise ValueError("num_keypoints and min_covisible must be >= 1.")
        self.model_dir, self.features_h5 = Path(model_dir), Path(features_h5)
        if not self.model_dir.is_dir():
            raise FileNotFoundError(f"No COLMAP model folder {str(self.model_dir)!r}.")
        if not self.features_h5.is_file():
            raise FileNotFoundError(f"No features file {str(self.features_h5)!r}.")
        if return_images and image_dir is None:
            raise ValueError("return_images needs image_dir.")
        self.image_dir = None if image_dir is None else Path(image_dir)
        self.num_keypoints, self.neg_th, self.return_images = int(num_keypoints), float(neg_th), return_images
        self.split, self.seed = split, int(seed)
        self.skipped: list[tuple[str, str]] = []
        self._reconstruction: pycolmap.Reconstruction | None = None
        rec = self.reconstruction
        self.keypoint_indices: dict[str, np.ndarray] = {}
        self.intrinsics: dict[str, np.ndarray] = {}
        self.poses: dict[str, np.ndarray] = {}
        point_ids: dict[str, np.ndarray] = {}
        with h5py.File(self.features_h5, "r") as f:
            found = _features_name(f)
            if features is not None and found is not None and found != features.lower():
                raise ValueError(f"{self.features_h5} holds {found} features, not {features}.")
            for image_id in sorted(rec.reg_image_ids()):
                image = rec.images[image_id]
                ids = self._select(f, image)
                if ids is not None:
                    point_ids[image.name] = ids
                    self.poses[image.name] = colmap_pose(image)
                    self.intrinsics[image.name] = colmap_intrinsics(image.camera)
        names = sorted(point_ids)
        pairs = []
        for a, name0 in enumerate(names):
            seen0 = set(point_ids[name0][point_ids[name0] >= 0].tolist())
            for name1 in names[a + 1 :]:
                common = len(seen0.intersection(point_ids[name1][point_ids[name1] >= 0].tolist()))
                if common >= min_covisible and (split == "all" or split_of(f"{name0} {name1}", val_fraction) == split):
                    pairs.append((name0, name1, common))
        if max_pairs is not None and len(pairs) > max_pairs:
            keep = np.sort(np.random.default_rng(self.seed).choice(len(pairs), max_pairs, replace=False))
            pairs = [pairs[i] for i in keep]
        if not pairs:
            raise ValueError(
                f"No {split} pair in {str(self.model_dir)!r}: {len(names)} usable registered image(s), none sharing "
                f"{min_covisible} 3D points among their {num_keypoints} best keypoints (val_fraction={val_fraction})."
            )
        self.pairs: list[tuple[str, str, int]] = pairs

    @property
    def reconstruction(self) -> pycolmap.Reconstruction:
        """The COLMAP model (read on first use in each process: pycolmap objects do not pickle)."""
        if self._reconstruction is None:
            self._reconstruction = pycolmap.Reconstruction(str(self.model_dir))
        return self._reconstruction

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_reconstruction": None}

    def _select(self, f: h5py.File, image: Any) -> np.ndarray | None:
        """3D point ids (-1: none) of the image's K best keypoints, storing their indices; None if unusable."""
        name = image.name
        if name not in f:
            self.skipped.append((name, "not in features.h5"))
            logger.warning("Skipping image %s of the model: it is not in %s.", name, self.features_h5)
            return None
        keypoints, scores = f[name]["keypoints"][()], f[name]["scores"][()]
        points = image.points2D
        xy = np.array([p.xy for p in points], np.float64).reshape(-1, 2)
        if len(xy) != len(keypoints) or not np.allclose(xy, keypoints + COLMAP_PIXEL_OFFSET, atol=1e-3):
            raise ValueError(
                f"The 2D points of image {name!r} in {self.model_dir} are not the keypoints of {self.features_h5} "
                f"({len(xy)} points, {len(keypoints)} keypoints): use the features.h5 the model was built from."
            )
        if len(keypoints) < self.num_keypoints:
            self.skipped.append((name, f"{len(keypoints)} keypoints, fewer than {self.num_keypoints}"))
            logger.warning("Skipping image %s: %d keypoints < %d.", name, len(keypoints), self.num_keypoints)
            return None
        indices = np.argsort(-scores, kind="stable")[: self.num_keypoints]
        self.keypoint_indices[name] = indices
        return np.array([points[int(i)].point3D_id if points[int(i)].has_point3D() else -1 for i in indices])

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Pair ``index``: the batch-dict keys of the training interfaces without the batch dimension.

        Returns:
            ``keypoints0/1 [K, 2]`` (pixels of the original images), ``keypoint_scores0/1``,
            ``descriptors0/1 [K, D]``, ``scales0/1`` / ``oris0/1`` when the file has them,
            ``image_size0/1 [2]`` (W, H), ``K0/K1 [3, 3]`` (pinhole part of the cameras, project
            pixel frame), ``T_0to1``/``T_1to0 [4, 4]``, ``gt_matches0/1 [K]``, ``gt_assignment
            [K, K]``, ``name`` (``"name0 name1"``), and ``image0/1`` when asked.
        """
        from lightglue.training.groundtruth import gt_from_colmap

        name0, name1, _ = self.pairs[index]
        sample: dict[str, Any] = {}
        with h5py.File(self.features_h5, "r") as f:
            for n, name in enumerate((name0, name1)):
                feats = read_features(f, name)
                keep = self.keypoint_indices[name]
                sample[f"keypoints{n}"] = torch.from_numpy(feats.keypoints[keep])
                sample[f"keypoint_scores{n}"] = torch.from_numpy(feats.scores[keep])
                sample[f"descriptors{n}"] = torch.from_numpy(feats.descriptors[keep])
                for key in ("scales", "oris"):
                    if getattr(feats, key) is not None:
                        sample[f"{key}{n}"] = torch.from_numpy(np.asarray(getattr(feats, key), np.float32)[keep])
                sample[f"image_size{n}"] = torch.from_numpy(np.asarray(feats.image_size, np.float32))
                sample[f"K{n}"] = torch.from_numpy(self.intrinsics[name].astype(np.float32))
                if self.return_images:
                    sample[f"image{n}"] = load_image(self.image_dir / name)
        T_0to1 = self.poses[name1] @ np.linalg.inv(self.poses[name0])
        sample["T_0to1"] = torch.from_numpy(T_0to1.astype(np.float32))
        sample["T_1to0"] = torch.from_numpy(np.linalg.inv(T_0to1).astype(np.float32))
        gt = gt_from_colmap(
            self.reconstruction, name0, name1, self.keypoint_indices[name0], self.keypoint_indices[name1], self.neg_th
        )
        for key in ("gt_matches0", "gt_matches1", "gt_assignment"):
            sample[key] = gt[key]
        sample["name"] = f"{name0} {name1}"
        return sample
