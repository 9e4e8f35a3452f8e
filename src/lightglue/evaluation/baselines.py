"""Nearest-neighbour descriptor matchers: the baselines of the benchmarks.

Both operate on the descriptors of one image pair and return matches in the same form as
LightGlue's unbatched output: index pairs ``[S, 2]`` and scores ``[S]``.
"""

from __future__ import annotations

import torch


def nearest_neighbour_match(
    desc0: torch.Tensor, desc1: torch.Tensor, ratio: float | None = None, mutual: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Match descriptors by nearest neighbour, optionally with Lowe's ratio test.

    Args:
        desc0, desc1: descriptors ``[N, D]`` and ``[M, D]``.
        ratio: keep a match only when ``d1 / d2 < ratio`` (L2 distances to the nearest and the
            second nearest neighbour in image 1); None disables the test.
        mutual: keep a match only when it is also the nearest neighbour in the other direction.
    Returns:
        ``matches [S, 2]`` (long, indices into image 0 and image 1) and ``scores [S]``: the
        distinctiveness ``1 - d1 / d2`` in [0, 1] (0 when image 1 has a single descriptor).
    """
    if desc0.ndim != 2 or desc1.ndim != 2:
        raise ValueError(f"expected unbatched descriptors [N, D], got {tuple(desc0.shape)}, {tuple(desc1.shape)}")
    if desc0.shape[0] == 0 or desc1.shape[0] == 0:
        return torch.empty(0, 2, dtype=torch.long, device=desc0.device), torch.empty(0, device=desc0.device)
    all_dist = torch.cdist(desc0.float()[None], desc1.float()[None])[0]  # [N, M]
    dist, idx = all_dist.topk(min(2, desc1.shape[0]), dim=1, largest=False)
    nearest = idx[:, 0]
    if dist.shape[1] == 2:
        scores = 1 - dist[:, 0] / dist[:, 1].clamp_min(torch.finfo(dist.dtype).tiny)
    else:
        scores = torch.zeros_like(dist[:, 0])
    keep = torch.ones_like(nearest, dtype=torch.bool)
    if ratio is not None:
        keep &= (dist[:, 0] < ratio * dist[:, 1]) if dist.shape[1] == 2 else torch.zeros_like(keep)
    if mutual:
        nearest_back = all_dist.argmin(0)  # [M]
        keep &= nearest_back[nearest] == torch.arange(len(nearest), device=nearest.device)
    i0 = torch.nonzero(keep).squeeze(1)
    return torch.stack([i0, nearest[i0]], 1), scores[i0]
