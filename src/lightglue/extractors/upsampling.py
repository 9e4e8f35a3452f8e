"""Bilinear upsampling written straight into part of a larger tensor (no intermediate copy)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def upsample_into(source: torch.Tensor, out: torch.Tensor, align_corners: bool, scale: float | None = None) -> None:
    """Fill ``out`` with ``F.interpolate(source, mode="bilinear")`` at ``out``'s size, value for value.

    Args:
        source: ``[B, C, h, w]``.
        out: ``[B, C, H, W]``, typically a channel slice of a concatenated map; each image's part
            must be contiguous (true for a channel slice of a contiguous ``[B, C', H, W]``).
        align_corners: as in ``F.interpolate``.
        scale: the ``scale_factor`` the reference call passes (it sets the sampling step when
            ``align_corners`` is False), or None to derive it from the sizes.

    When autograd records ``source`` (an ``out=`` kernel cannot be differentiated) the values
    are computed by ``F.interpolate`` and copied.
    """
    size = list(out.shape[-2:])
    if torch.is_grad_enabled() and source.requires_grad:
        factor = None if scale is None else (scale, scale)
        resized = F.interpolate(
            source, size=None if factor else size, scale_factor=factor, mode="bilinear", align_corners=align_corners
        )
        out.copy_(resized)
        return
    for i in range(source.shape[0]):
        torch.ops.aten.upsample_bilinear2d.out(source[i : i + 1], size, align_corners, scale, scale, out=out[i : i + 1])
