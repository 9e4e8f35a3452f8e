"""Match labels from pairwise reprojection distances (the rule shared by every GT source).

Shapes: B pairs, M points in image 0, N in image 1.
"""

from __future__ import annotations

import torch

UNMATCHED = -1
"""Label of a point that has no partner (a confident non-match)."""
IGNORE = -2
"""Label of an ambiguous point (it contributes nothing to the loss)."""


def empty_labels(b: int, m: int, n: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Labels of a pair where one image has no keypoint: everything unmatched."""
    return {
        "gt_matches0": torch.full((b, m), UNMATCHED, dtype=torch.long, device=device),
        "gt_matches1": torch.full((b, n), UNMATCHED, dtype=torch.long, device=device),
        "gt_assignment": torch.zeros((b, m, n), dtype=torch.bool, device=device),
    }


def mutual_nearest_labels(
    dist: torch.Tensor,
    negative0: torch.Tensor,
    negative1: torch.Tensor,
    pos_th: float,
) -> dict[str, torch.Tensor]:
    """Positives are mutual arg-mins of ``dist`` below ``pos_th**2``; then negatives win.

    Args:
        dist: [B, M, N] squared distances in pixels² (+inf where a pair is impossible).
        negative0: [B, M] bool, image-0 points to label -1.
        negative1: [B, N] bool, image-1 points to label -1.
        pos_th: positive threshold in pixels (strict).

    Returns:
        ``gt_matches0 [B, M]``, ``gt_matches1 [B, N]`` (i64) and ``gt_assignment [B, M, N]``.
        A point with a positive gets its arg-min index, else -2; -1 overrides both.
    """
    min0 = dist.min(-1).indices
    min1 = dist.min(-2).indices
    ismin0 = torch.zeros(dist.shape, dtype=torch.bool, device=dist.device)
    ismin1 = torch.zeros_like(ismin0)
    ismin0.scatter_(-1, min0.unsqueeze(-1), True)
    ismin1.scatter_(-2, min1.unsqueeze(-2), True)
    positive = ismin0 & ismin1 & (dist < pos_th**2)
    ignore = min0.new_tensor(IGNORE)
    unmatched = min0.new_tensor(UNMATCHED)
    m0 = torch.where(positive.any(-1), min0, ignore)
    m1 = torch.where(positive.any(-2), min1, ignore)
    m0 = torch.where(negative0, unmatched, m0)
    m1 = torch.where(negative1, unmatched, m1)
    return {"gt_matches0": m0, "gt_matches1": m1, "gt_assignment": positive}


def squared_distances(proj0: torch.Tensor, kp1: torch.Tensor) -> torch.Tensor:
    """[B, M, 2], [B, N, 2] -> [B, M, N] squared Euclidean distances."""
    return torch.sum((proj0.unsqueeze(-2) - kp1.unsqueeze(-3)) ** 2, -1)


def check_keypoints(kp0: torch.Tensor, kp1: torch.Tensor) -> None:
    """Raise ValueError unless both are float [B, *, 2] with the same B."""
    for name, kp in (("kp0", kp0), ("kp1", kp1)):
        if not torch.is_tensor(kp) or kp.ndim != 3 or kp.shape[-1] != 2 or not kp.is_floating_point():
            shape = list(kp.shape) if torch.is_tensor(kp) else type(kp).__name__
            raise ValueError(f"{name} must be a float tensor [B, N, 2] (pixels), got {shape}")
    if kp0.shape[0] != kp1.shape[0]:
        raise ValueError(f"kp0 and kp1 have different batch sizes: {kp0.shape[0]} and {kp1.shape[0]}")
