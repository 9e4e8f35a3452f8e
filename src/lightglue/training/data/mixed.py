"""Training pairs of two sources mixed in a fixed share (``[data.mix]`` of the configuration).

Fine-tuning on one kind of pairs only makes a model forget what the other kind taught: posed
pairs after homography pre-training, or a user's reconstruction after either. A
:class:`MixedPairs` holds every pair of the ``primary`` dataset once per epoch and adds pairs of
the ``secondary`` dataset so that they make up ``share`` of the epoch:
``round(len(primary) * share / (1 - share))`` of them, the secondary's pairs in order, from the
start again when it has fewer. The trainer's sampler shuffles the whole epoch, so batches mix
both sources in that proportion on average; everything stays a pure function of the index.
"""

from __future__ import annotations

from typing import Any

import torch

from lightglue.training.data.collate import collate as default_collate


class MixedPairs(torch.utils.data.Dataset):
    """The pairs of ``primary`` followed by ``share`` of secondary pairs.

    Args:
        primary, secondary: datasets of training pairs (``__len__``, ``__getitem__``).
        share: the secondary pairs' share of an epoch, in (0, 1).

    Attributes:
        rejected: the primary's ``rejected`` files followed by the secondary's (when they have any).
    """

    def __init__(self, primary: Any, secondary: Any, share: float) -> None:
        if not 0.0 < share < 1.0:
            raise ValueError(f"The mixed share must lie in (0, 1), got {share!r}.")
        if not len(primary) or not len(secondary):
            raise ValueError("Both sources of a mixed dataset need at least one pair.")
        self.primary, self.secondary, self.share = primary, secondary, float(share)
        self.num_secondary = max(1, round(len(primary) * share / (1.0 - share)))
        self.rejected = list(getattr(primary, "rejected", [])) + list(getattr(secondary, "rejected", []))

    def __len__(self) -> int:
        return len(self.primary) + self.num_secondary

    def source(self, index: int) -> tuple[Any, int]:
        """The dataset and the index within it of pair ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"Pair index {index} out of range for {len(self)} pairs.")
        if index < len(self.primary):
            return self.primary, index
        return self.secondary, (index - len(self.primary)) % len(self.secondary)

    def __getitem__(self, index: int) -> dict[str, Any]:
        dataset, i = self.source(index)
        return dataset[i]

    @staticmethod
    def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
        """Collate the keys every sample has (the features and the ground truth; a homography
        pair's ``H_0to1`` and a posed pair's ``K0`` / ``T_0to1`` are dropped from a mixed batch)."""
        common = set.intersection(*(set(s) for s in samples)) if samples else set()
        return default_collate([{k: v for k, v in s.items() if k in common} for s in samples])
