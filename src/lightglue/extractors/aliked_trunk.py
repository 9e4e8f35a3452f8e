"""ALIKED's backbone and score head without the dense descriptor normalisation.

``kornia.feature.ALIKED.extract_dense_map`` L2-normalises the 128-D feature map at every pixel,
though the descriptor head reads it at a few thousand keypoints only: that normalisation takes
about a third of an extraction on one CPU thread. :func:`dense_maps` runs the same modules in
the same order on the same tensors, so the score map is bit for bit kornia's, but returns the
features un-normalised (:mod:`.aliked_descriptors` normalises the few vectors it reads). The
three upsampled branches are written straight into the concatenated map instead of being
upsampled and then copied by ``torch.cat``, and the deformable blocks run through
:mod:`.deformable_conv` (kornia's arithmetic, fewer memory passes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .deformable_conv import deformable_res_block
from .upsampling import upsample_into

STRIDE = 32  # the backbone's total downsampling; inputs are padded to a multiple of it


def _replicate_padding(h: int, w: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding to multiples of :data:`STRIDE`, split as kornia's ``InputPadder``."""
    pad_h, pad_w = -h % STRIDE, -w % STRIDE
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


def _run_block(block: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A backbone block; the deformable residual blocks through :func:`.deformable_conv.deformable_res_block`."""
    if hasattr(block.conv1, "offset_conv"):
        return deformable_res_block(block, x)
    return block(x)


def dense_maps(net: torch.nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a ``kornia.feature.ALIKED`` network up to its score map.

    Args:
        net: the kornia module (its ``block1..4``, ``conv1..4``, ``pool2/4``, ``gate`` and
            ``score_head`` are used; its ``dkd`` and ``desc_head`` are not).
        image: ``[B, 3, H, W]`` RGB in [0, 1].

    Returns:
        ``features [B, D, H, W]``, the concatenated multi-scale features *before* the per-pixel
        L2 normalisation, and ``scores [B, 1, H, W]`` in (0, 1), equal to kornia's score map.
    """
    b, _, h, w = image.shape
    left, right, top, bottom = _replicate_padding(h, w)
    x1 = net.block1(F.pad(image, (left, right, top, bottom), mode="replicate"))
    x2 = net.block2(net.pool2(x1))
    x3 = _run_block(net.block3, net.pool4(x2))
    x4 = _run_block(net.block4, net.pool4(x3))
    x1 = net.gate(net.conv1(x1))
    branches = [net.gate(net.conv2(x2)), net.gate(net.conv3(x3)), net.gate(net.conv4(x4))]
    width = x1.shape[1]
    features = x1.new_empty((b, width * (1 + len(branches)), *x1.shape[-2:]))
    features[:, :width] = x1
    for k, branch in enumerate(branches, start=1):
        upsample_into(branch, features[:, k * width : (k + 1) * width], align_corners=True)
    scores = torch.sigmoid(net.score_head(features))
    crop = (slice(None), slice(None), slice(top, top + h), slice(left, left + w))
    return features[crop], scores[crop]
