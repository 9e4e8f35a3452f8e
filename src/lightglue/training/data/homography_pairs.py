"""Homography training pairs synthesised from a folder of photos (the LightGlue pre-training data).

Sample ``i`` is a pure function of (seed, i) and the corpus: photo ``i mod P`` (``P`` photos in
the split) is read, two views are made by independent random homographies
(:mod:`.homographies`) and photometric augmentation (:mod:`.augment`), both drawn from a
generator seeded with ``(seed, i, attempt)``, exactly K features are extracted from each view
(:mod:`.features`) and the ground truth comes from :func:`gt_from_homography` (3 px / 3 px as in
the recipe). When a view yields fewer than K keypoints (a textureless photo, a very dark
augmentation) the attempt is dropped with a logged reason and the next attempt is drawn: the
first ``same_photo_attempts`` on the same photo, then on photos chosen by the generator.

With ``cache_dir`` the features of each sample are stored (one ``.npz`` per sample, written
atomically) under a key of the photo, the index, the seed, the corpus and every setting that
changes the features, so later epochs skip the image work and the extraction.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from lightglue.image import read_image
from lightglue.training.data.augment import AugmentConfig, augment
from lightglue.training.data.cache import cache_key, cache_path, load_entry, store_entry
from lightglue.training.data.collate import collate
from lightglue.training.data.features import FrozenFeatures
from lightglue.training.data.homographies import HomographyConfig, sample_view_pair
from lightglue.training.data.photos import scan_photos
from lightglue.training.groundtruth import gt_from_homography

logger = logging.getLogger(__name__)

_CACHE_VERSION = 1
_FEATURE_KEYS = ("keypoints", "keypoint_scores", "descriptors", "scales", "oris")

__all__ = ["HomographyPairs", "collate"]


def _config(cls: type, value: Any) -> Any:
    """``value`` as a ``cls`` dataclass: None gives the defaults, a dict its fields."""
    if value is None:
        return cls()
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(cls.__dataclass_fields__))
        if unknown:
            raise TypeError(f"Unknown {cls.__name__} option(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}.")
        return cls(**value)
    if not isinstance(value, cls):
        raise TypeError(f"Expected a {cls.__name__} or a dict, got {type(value).__name__}.")
    return value


class HomographyPairs(torch.utils.data.Dataset):
    """Pairs of randomly warped, augmented views of photos, with K features each and GT labels.

    Args:
        root: the photo folder (searched recursively).
        features: extractor name (``"sift"``, ``"aliked"``, ``"disk"``, ...).
        num_keypoints: K, keypoints per view.
        seed: the seed every sample derives from.
        split: ``"train"``, ``"val"`` (photos held out by a hash of their path, see
            :func:`.photos.split_of`) or ``"all"``.
        cache_dir: folder of the optional feature cache.
        pairs_per_photo: samples per photo (the dataset length is ``P * pairs_per_photo``).
        val_fraction: share of the photos in the ``"val"`` split.
        min_photos: fewest usable photos the split must have (else ``ValueError``).
        min_photo_side: photos whose short side is smaller (pixels) are rejected.
        max_photo_side: larger photos are first downscaled to this long side (None: never).
        homography: the random homography ranges (default: the recipe's), or a dict of
            :class:`.homographies.HomographyConfig` fields.
        augmentation: photometric augmentation (default: the recipe's; ``{"p": 0}`` for none), or a
            dict of :class:`.augment.AugmentConfig` fields.
        extractor_conf: options of the extractor (see :class:`.features.FrozenFeatures`).
        return_images: also return ``image0/1 [3, H, W]`` float in [0, 1].
        max_attempts: attempts before a sample is an error.
        same_photo_attempts: attempts on the sample's own photo before other photos are tried.
        pos_th, neg_th: ground-truth thresholds in pixels.
        device: where the extractor runs.

    Attributes:
        photos: relative paths of the photos of the split.
        rejected: ``(relative path, reason)`` of the photos left out of the corpus.
        dropped: ``(index, reason)`` of every attempt dropped by this process.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        features: str = "sift",
        num_keypoints: int = 512,
        seed: int = 0,
        split: str = "train",
        cache_dir: str | os.PathLike | None = None,
        pairs_per_photo: int = 1,
        val_fraction: float = 0.1,
        min_photos: int = 8,
        min_photo_side: int = 128,
        max_photo_side: int | None = 1024,
        homography: HomographyConfig | dict[str, Any] | None = None,
        augmentation: AugmentConfig | dict[str, Any] | None = None,
        extractor_conf: dict[str, Any] | None = None,
        return_images: bool = False,
        max_attempts: int = 10,
        same_photo_attempts: int = 3,
        pos_th: float = 3.0,
        neg_th: float = 3.0,
        device: str = "cpu",
    ) -> None:
        if pairs_per_photo < 1 or max_attempts < 1 or same_photo_attempts < 1:
            raise ValueError("pairs_per_photo, max_attempts and same_photo_attempts must be >= 1.")
        corpus = scan_photos(root, split, val_fraction, min_side=min_photo_side, min_photos=min_photos)
        self.root = corpus.root
        self.photos, self.rejected = corpus.photos, corpus.rejected
        self.dropped: list[tuple[int, str]] = []
        self.seed, self.split, self.pairs_per_photo = int(seed), split, int(pairs_per_photo)
        self.max_photo_side = max_photo_side
        self.homography = _config(HomographyConfig, homography)
        self.augmentation = _config(AugmentConfig, augmentation)
        self.features = FrozenFeatures(features, num_keypoints, extractor_conf, device)
        self.return_images = return_images
        self.max_attempts, self.same_photo_attempts = int(max_attempts), int(same_photo_attempts)
        self.pos_th, self.neg_th = float(pos_th), float(neg_th)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._corpus_key = hashlib.sha1("\n".join(self.photos).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.photos) * self.pairs_per_photo

    # -- the views -----------------------------------------------------------------------

    def read_photo(self, photo: str) -> np.ndarray:
        """The RGB uint8 photo, downscaled (area) so that its long side is at most ``max_photo_side``."""
        image = read_image(self.root / photo)
        h, w = image.shape[:2]
        if self.max_photo_side is not None and max(h, w) > self.max_photo_side:
            scale = self.max_photo_side / max(h, w)
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        return image

    def _rng(self, index: int, attempt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index, attempt])

    def _attempt_photo(self, index: int, attempt: int, rng: np.random.Generator) -> str:
        if attempt < self.same_photo_attempts:
            return self.photos[index % len(self.photos)]
        return self.photos[int(rng.integers(len(self.photos)))]

    def views(self, index: int, attempt: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        """Photo name, the two augmented RGB uint8 views and ``H_0to1 [3, 3]`` (float64) of an attempt."""
        rng = self._rng(index, attempt)
        photo = self._attempt_photo(index, attempt, rng)
        view0, view1, H_0to1 = sample_view_pair(self.read_photo(photo), self.homography, rng)
        return photo, augment(view0, rng, self.augmentation), augment(view1, rng, self.augmentation), H_0to1

    # -- the cache -----------------------------------------------------------------------

    def cache_key(self, index: int) -> str:
        """SHA-1 of everything sample ``index`` depends on (photo, index, seed, corpus, settings)."""
        return cache_key(
            {
                "version": _CACHE_VERSION,
                "photo": self.photos[index % len(self.photos)],
                "index": index,
                "seed": self.seed,
                "corpus": self._corpus_key,
                "features": self.features.key,
                "homography": asdict(self.homography),
                "augmentation": asdict(self.augmentation),
                "max_photo_side": self.max_photo_side,
                "attempts": [self.max_attempts, self.same_photo_attempts],
            }
        )

    # -- samples -------------------------------------------------------------------------

    def _drop(self, index: int, reason: str) -> None:
        logger.info("Dropped %s.", reason)
        self.dropped.append((index, reason))

    def extract(self, index: int) -> dict[str, np.ndarray]:
        """The features of sample ``index`` (arrays suffixed 0/1, ``H_0to1``, ``attempt``, ``photo``).

        Raises:
            RuntimeError: no attempt gave K keypoints in both views.
        """
        if not 0 <= index < len(self):
            raise IndexError(f"Sample index {index} out of range for {len(self)} samples.")
        path = None
        if self.cache_dir is not None:
            group = f"homography-{self.features.name}-{self.features.num_keypoints}"
            path = cache_path(self.cache_dir, group, self.cache_key(index))
            if (cached := load_entry(path)) is not None:
                return cached
        for attempt in range(self.max_attempts):
            try:
                photo, view0, view1, H_0to1 = self.views(index, attempt)
            except OSError as error:  # the photo became unreadable after the corpus was scanned
                self._drop(index, f"sample {index} attempt {attempt}: {error}")
                continue
            feats0, feats1 = self.features(view0), self.features(view1)
            if feats0 is None or feats1 is None:
                self._drop(
                    index,
                    f"sample {index} attempt {attempt} ({photo}): fewer than {self.features.num_keypoints} "
                    f"{self.features.name} keypoints in view {0 if feats0 is None else 1}",
                )
                continue
            arrays = {f"{k}{i}": v for i, f in enumerate((feats0, feats1)) for k, v in f.items()}
            arrays.update(H_0to1=H_0to1, attempt=np.array(attempt), photo=np.array(photo))
            if path is not None:
                store_entry(path, arrays)
            return arrays
        raise RuntimeError(
            f"Sample {index} of {self.root}: no pair with {self.features.num_keypoints} {self.features.name} "
            f"keypoints in both views after {self.max_attempts} attempts; lower num_keypoints or remove "
            "textureless photos."
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Sample ``index``: the batch-dict keys of the training interfaces without the batch dimension.

        Returns:
            ``keypoints0/1 [K, 2]``, ``keypoint_scores0/1 [K]``, ``descriptors0/1 [K, D]``,
            ``image_size0/1 [2]`` (W, H), ``scales0/1`` and ``oris0/1 [K]`` (SIFT), ``H_0to1 [3, 3]``
            (float32), ``gt_matches0/1 [K]`` (int64), ``gt_assignment [K, K]`` (bool), ``name``
            (``"photo#index"``), and ``image0/1 [3, H, W]`` when ``return_images``.
        """
        arrays = self.extract(index)
        sample: dict[str, Any] = {
            key: torch.from_numpy(np.asarray(value, np.float32))
            for key, value in arrays.items()
            if key.rstrip("01") in _FEATURE_KEYS or key == "H_0to1"
        }
        size = torch.tensor(self.homography.patch_size, dtype=torch.float32)
        sample["image_size0"], sample["image_size1"] = size, size.clone()
        gt = gt_from_homography(
            sample["keypoints0"][None], sample["keypoints1"][None], sample["H_0to1"][None], self.pos_th, self.neg_th
        )
        for key in ("gt_matches0", "gt_matches1", "gt_assignment"):
            sample[key] = gt[key][0]
        sample["name"] = f"{arrays['photo']}#{index}"
        if self.return_images:
            _, view0, view1, _ = self.views(index, int(arrays["attempt"]))
            for i, view in enumerate((view0, view1)):
                sample[f"image{i}"] = torch.from_numpy(view).permute(2, 0, 1).float().div(255.0)
        return sample
