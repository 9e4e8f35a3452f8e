"""Collation of training samples into the batch dict of the training interfaces."""

from __future__ import annotations

from typing import Any

import torch


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack unbatched samples into a batch.

    Every tensor key is stacked along a new first dimension ``B`` (all samples must have the same
    keys and shapes, e.g. ``keypoints0 [K, 2] -> [B, K, 2]``); the ``name`` strings become the
    list ``names``.

    Raises:
        ValueError: an empty list, or samples with different keys or shapes.
    """
    if not samples:
        raise ValueError("Cannot collate an empty list of samples.")
    keys = set(samples[0])
    for sample in samples[1:]:
        if set(sample) != keys:
            raise ValueError(f"Samples have different keys: {sorted(keys ^ set(sample))}.")
    batch: dict[str, Any] = {}
    for key in sorted(keys):
        values = [sample[key] for sample in samples]
        if key == "name":
            batch["names"] = list(values)
        elif isinstance(values[0], torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(f"Cannot stack {key!r}: the samples have shapes {sorted(shapes)}.")
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch
