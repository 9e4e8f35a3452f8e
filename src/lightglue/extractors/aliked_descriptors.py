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

import torch
import torch.nn.functional as F


def _pixel_table(features: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """A contiguous ``[C, P]`` view of the channel planes under ``features [C, H, W]``, without a copy.

    ``features`` may be a crop of a larger map; pixel ``(y, x)`` is column ``start + y * row + x``.

    Returns:
        ``table [C, P]``, ``start`` and ``row``.
    """
    c, h, w = features.shape
    if features.stride(2) != 1 or features.stride(0) < h * features.stride(1):
        features = features.contiguous()
    plane, row = features.stride(0), features.stride(1)
    start = features.storage_offset() % plane
    available = features.untyped_storage().nbytes() // features.element_size()
    if features.storage_offset() - start + c * plane > available:  # planes not aligned in the storage
        features = features.contiguous()
        plane, row, start = h * w, w, 0
    table = features.as_strided((c, plane), (plane, 1), features.storage_offset() - start)
    return table, start, row


def _normalized_rows(table: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct columns of ``table`` at ``offsets [...]``: unit rows ``[U, C]`` and ``[...]`` indices into them."""
    unique, inverse = torch.unique(offsets, return_inverse=True)
    return F.normalize(table.index_select(1, unique).T, p=2, dim=1), inverse


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
    table, start, row = _pixel_table(features)
    dtype = torch.promote_types(features.dtype, torch.float32)
    wh = torch.tensor([[w - 1, h - 1]], device=features.device, dtype=dtype)
    pixels = (keypoints / 2 + 0.5) * wh  # [N, 2]
    # the size x size patch whose corner is kornia's get_patches' (clamped inside the map)
    corner = (pixels.long() - size / 2 + 1).long()
    cx = corner[:, 0].clamp(min=0, max=w - 1 - size)
    cy = corner[:, 1].clamp(min=0, max=h - 1 - size)
    steps = torch.arange(size, device=features.device)
    patch_index = start + (cy[:, None, None] + steps[:, None]) * row + cx[:, None, None] + steps  # [N, size, size]
    rows, inverse = _normalized_rows(table, patch_index)
    patch = rows[inverse].permute(0, 3, 1, 2)  # [N, C, size, size]
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
    index = torch.stack([(start + py.clamp(0, h - 1) * row + px.clamp(0, w - 1)).long() for px, py, _ in corners], 1)
    inside = [(px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1) for px, py, _ in corners]
    weights = torch.stack([torch.where(ok, weight, 0.0) for ok, (_, _, weight) in zip(inside, corners)], 1)
    rows, inverse = _normalized_rows(table, index)  # inverse [N * n_pos, 4]
    sampled = F.embedding_bag(inverse, rows, per_sample_weights=weights.to(rows.dtype), mode="sum")
    sampled = sampled.reshape(n, n_pos, c).permute(0, 2, 1)[..., None]  # [N, C, n_pos, 1]
    sampled = torch.selu(head.sf_conv(sampled)).squeeze(-1)  # [N, C, n_pos]
    descriptors = torch.einsum("ncp,pcd->nd", sampled, head.agg_weights)
    return F.normalize(descriptors, p=2.0, dim=1)
