"""ALIKED's SDDH descriptor head read from the un-normalised feature map at the keypoints only.

Kornia's SDDH (``kornia.feature.aliked.aliked.SDDH``) takes the densely L2-normalised feature
map; here the head's own layers (``offset_conv``, ``sf_conv``, ``agg_weights``) are applied to
the same values, but only the feature vectors the head reads are normalised: the 3x3 patch
around each keypoint and the four neighbours of each of its deformable sample positions, each
distinct pixel gathered once. The bilinear sampling follows
``F.grid_sample(..., align_corners=True, padding_mode="zeros")``: a neighbour outside the map
contributes zero.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def _normalized_reader(features: torch.Tensor) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    """Read L2-normalised pixel vectors of ``features [C, H, W]`` without copying the map.

    Returns:
        ``read``, mapping pixel offsets ``[M]`` (``y * row + x``) to unit vectors ``[M, C]``
        (each distinct pixel gathered and normalised once), and ``row``, the map's row stride.
    """
    if features.stride(-1) != 1:
        features = features.contiguous()
    c, h, w = features.shape
    channel, row = features.stride(0), features.stride(1)
    storage = features.as_strided(((c - 1) * channel + (h - 1) * row + w,), (1,))  # a crop of a larger map in place
    channels = torch.arange(c, device=features.device) * channel

    def read(offsets: torch.Tensor) -> torch.Tensor:
        unique, inverse = torch.unique(offsets, return_inverse=True)
        vectors = torch.take(storage, channels[:, None] + unique).T  # [U, C], gathered plane by plane
        return F.normalize(vectors, p=2, dim=1)[inverse]

    return read, row


def describe_keypoints(head: torch.nn.Module, features: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """Descriptors of one image's keypoints, as kornia's SDDH computes them on the normalised map.

    Args:
        head: the ``desc_head`` (SDDH) of a ``kornia.feature.ALIKED`` network without the
            modulation mask and with ``agg_weights`` (the configuration of every ALIKED model).
        features: ``[C, H, W]`` feature map *before* the per-pixel L2 normalisation.
        keypoints: ``[N, 2]`` (x, y) normalised to ``[-1, 1]`` (``-1`` = centre of the first pixel,
            ``1`` = centre of the last).

    Returns:
        ``[N, D]`` unit-norm descriptors.
    """
    c, h, w = features.shape
    n, size, n_pos = keypoints.shape[0], head.kernel_size, head.n_pos
    read, row = _normalized_reader(features)
    wh = torch.tensor([[w - 1, h - 1]], device=features.device, dtype=torch.promote_types(features.dtype, torch.float32))
    pixels = (keypoints / 2 + 0.5) * wh  # [N, 2]
    # the size x size patch whose corner is kornia's get_patches' (clamped inside the map)
    corner = (pixels.long() - size / 2 + 1).long()
    cx = corner[:, 0].clamp(min=0, max=w - 1 - size)
    cy = corner[:, 1].clamp(min=0, max=h - 1 - size)
    steps = torch.arange(size, device=features.device)
    patch_index = ((cy[:, None, None] + steps[:, None]) * row + cx[:, None, None] + steps).reshape(-1)
    patch = read(patch_index).reshape(n, size, size, c).permute(0, 3, 1, 2)
    max_offset = max(h, w) / 4.0
    offset = head.offset_conv(patch).clamp(-max_offset, max_offset)
    offset = offset[:, :, 0, 0].view(n, 2, n_pos).permute(0, 2, 1)  # [N, n_pos, 2]
    # kornia's normalised sample positions, unnormalised as grid_sample does (align_corners=True)
    grid = (2.0 * (pixels[:, None] + offset) / wh[None] - 1).reshape(-1, 2)
    x = (grid[:, 0] + 1) / 2 * (w - 1)
    y = (grid[:, 1] + 1) / 2 * (h - 1)
    x0, y0 = x.floor(), y.floor()
    x1, y1 = x0 + 1, y0 + 1
    corners = (
        (x0, y0, (x1 - x) * (y1 - y)),
        (x1, y0, (x - x0) * (y1 - y)),
        (x0, y1, (x1 - x) * (y - y0)),
        (x1, y1, (x - x0) * (y - y0)),
    )
    index = torch.cat([(cy.clamp(0, h - 1) * row + cx.clamp(0, w - 1)).long() for cx, cy, _ in corners])
    inside = [(cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1) for cx, cy, _ in corners]
    weights = torch.cat([torch.where(ok, weight, 0.0) for ok, (_, _, weight) in zip(inside, corners)])
    sampled = (read(index) * weights[:, None]).view(4, n * n_pos, c).sum(0)
    sampled = sampled.reshape(n, n_pos, c).permute(0, 2, 1)[..., None]  # [N, C, n_pos, 1]
    sampled = torch.selu(head.sf_conv(sampled)).squeeze(-1)  # [N, C, n_pos]
    descriptors = torch.einsum("ncp,pcd->nd", sampled, head.agg_weights)
    return F.normalize(descriptors, p=2.0, dim=1)
