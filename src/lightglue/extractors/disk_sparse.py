"""DISK's U-Net with the descriptors of the last layer computed at the keypoints only.

``kornia.feature.DISK`` ends in a 5x5 convolution from 80 channels to 129 (128 descriptor
channels and the detection heatmap) at full resolution: about 80 % of the network's work on one
CPU thread, though the descriptors are then read at a few thousand keypoints. Here that layer
runs densely for the heatmap channel alone (kornia's convolution restricted to one output
channel; its values are bit for bit kornia's heatmap on this CPU build, which the tests check),
and the descriptor channels are evaluated as one matrix product over the 5x5 input patches of
the keypoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .upsampling import upsample_into

KEYPOINT_CHUNK = 4096  # keypoints whose input patches are gathered at once (bounds the memory)


def _upsample_and_concatenate(bottom: torch.Tensor, horizontal: torch.Tensor) -> torch.Tensor:
    """``cat([upsample_x2(bottom), horizontal], 1)`` (DISK's up-block input), upsampling into the result in place.

    The values are those of ``F.interpolate(bottom, scale_factor=2, mode="bilinear")``; writing
    them straight into the concatenated tensor saves copying them.
    """
    b, c, h, w = bottom.shape
    out = bottom.new_empty((b, c + horizontal.shape[1], 2 * h, 2 * w))
    upsample_into(bottom, out[:, :c], align_corners=False, scale=2.0)
    out[:, c:] = horizontal
    return out


def heatmap_and_last_input(
    unet: torch.nn.Module, images: torch.Tensor, desc_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a DISK U-Net (``kornia.feature.disk._unets.Unet``) up to its last convolution.

    Args:
        unet: the kornia U-Net, its last up-block ending in ``Conv`` = (norm, gate, dropout, conv).
        images: ``[B, 3, H, W]`` RGB, sides multiples of 16.
        desc_dim: descriptor channels of the last convolution (the heatmap is the channel after them).

    Returns:
        ``heatmap [B, 1, H, W]`` (logits) and the last convolution's input ``[B, C, H, W]``
        (after its instance norm and PReLU).
    """
    features = [images]
    for layer in unet.path_down:
        features.append(layer(features[-1]))
    *up, last = unet.path_up
    bottom, horizontals = features[-1], features[-2::-1]
    for layer, horizontal in zip(up, horizontals):
        bottom = layer.conv(_upsample_and_concatenate(bottom, horizontal))
    combined = _upsample_and_concatenate(bottom, horizontals[len(up)])
    norm, gate, dropout, conv = last.conv
    inputs = dropout(gate(norm(combined)))
    heatmap = F.conv2d(
        inputs, conv.weight[desc_dim:], conv.bias[desc_dim:], conv.stride, conv.padding, conv.dilation, conv.groups
    )
    return heatmap, inputs


def descriptors_at(conv: torch.nn.Conv2d, inputs: torch.Tensor, xy: torch.Tensor, desc_dim: int) -> torch.Tensor:
    """The descriptor channels of DISK's last convolution at integer pixels, L2-normalised.

    Args:
        conv: the last convolution (odd square kernel, zero "same" padding, with bias).
        inputs: ``[C, H, W]`` its input for one image.
        xy: ``[N, 2]`` integer (x, y) pixels.
        desc_dim: the number of descriptor channels (the first ones of ``conv``).

    Returns:
        ``[N, desc_dim]`` unit-norm descriptors, equal within float rounding to the dense
        convolution read at ``xy`` and normalised.
    """
    c, h, w = inputs.shape
    k = conv.kernel_size[0]
    inputs = inputs.contiguous()
    steps = torch.arange(k, device=inputs.device) - k // 2
    channels = torch.arange(c, device=inputs.device)[:, None, None] * (h * w)  # [C, 1, 1]
    weight = conv.weight[:desc_dim].reshape(desc_dim, -1).T  # [C * k * k, D], (c, ky, kx) order
    out = []
    for chunk in xy.long().split(KEYPOINT_CHUNK):
        ys = chunk[:, 1, None] + steps  # [n, k] rows of the window, zero padding outside the map
        xs = chunk[:, 0, None] + steps
        inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]  # [n, k, k]
        pixels = ys.clamp(0, h - 1)[:, :, None] * w + xs.clamp(0, w - 1)[:, None, :]
        patches = torch.take(inputs, channels + pixels[:, None]) * inside[:, None]  # [n, C, k, k]
        out.append(torch.addmm(conv.bias[:desc_dim], patches.reshape(len(chunk), weight.shape[0]), weight))
    return F.normalize(torch.cat(out), dim=-1)  # split gives one empty chunk for no keypoints
