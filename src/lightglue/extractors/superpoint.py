"""SuperPoint (DeTone, Malisiewicz & Rabinovich, 2018): the standard architecture.

A VGG-style encoder (4 stages, 3 max-pools: stride 8), a detector head giving a 65-way softmax
per 8x8 cell (64 positions + "no keypoint") and a descriptor head giving a coarse descriptor map
that is sampled bilinearly at the keypoints. Layer names match the official ``superpoint_v1.pth``
(not shipped here: it is found through :mod:`lightglue.weights` when the user has it).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import load_state_dict
from .base import Extractor, pad_and_stack, simple_nms

STRIDE = 8
WEIGHTS_NAME = "superpoint_v1"


def sample_descriptors(keypoints: torch.Tensor, descriptors: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Bilinearly interpolate a coarse descriptor map at pixel keypoints, then L2-normalise.

    Uses the coordinate mapping of the official SuperPoint/SuperGlue code, which the published
    matchers were trained with: ``u = (p - stride/2 + 0.5) / (size * stride - stride/2 - 0.5)``
    per axis, ``u`` in [0, 1] spanning the first to the last cell (align_corners).

    Args:
        keypoints: ``[N, 2]`` (x, y) pixels.
        descriptors: ``[D, h, w]`` descriptor map of one image.

    Returns:
        ``[N, D]`` unit descriptors.
    """
    _, h, w = descriptors.shape
    extent = torch.tensor([w * stride - stride / 2 - 0.5, h * stride - stride / 2 - 0.5]).to(keypoints)
    grid = (keypoints - stride / 2 + 0.5) / extent * 2 - 1
    sampled = F.grid_sample(descriptors[None], grid.view(1, 1, -1, 2), mode="bilinear", align_corners=True)
    return F.normalize(sampled[0, :, 0].T, p=2, dim=-1)


def _conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2)


class SuperPoint(Extractor):
    """SuperPoint keypoints and 256-D descriptors.

    Options: ``descriptor_dim`` (256), ``nms_radius`` (4 px), ``max_num_keypoints`` (None: all),
    ``detection_threshold`` (0.0005, on the per-pixel probability), ``remove_borders`` (4 px),
    ``weights``: ``"superpoint_v1"`` (found by :func:`lightglue.weights.resolve_weights`), a path
    to a state dict file, or None for random initialisation (tests, training).

    Raises:
        lightglue.weights.WeightsNotFoundError: the official weights are not on this machine.
    """

    default_conf: ClassVar[dict[str, Any]] = {
        "descriptor_dim": 256,
        "nms_radius": 4,
        "max_num_keypoints": None,
        "detection_threshold": 0.0005,
        "remove_borders": 4,
        "weights": WEIGHTS_NAME,
    }
    preprocess_conf: ClassVar[dict[str, Any]] = {"resize": 1024}
    min_image_size = STRIDE

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        if not isinstance(self.conf.nms_radius, int) or self.conf.nms_radius < 1:
            raise ValueError(f"nms_radius must be an integer >= 1, got {self.conf.nms_radius!r}.")
        if self.conf.max_num_keypoints is not None and self.conf.max_num_keypoints < 0:
            self.conf.max_num_keypoints = None
        widths = (64, 64, 128, 128)
        self.conv1a, self.conv1b = _conv(1, widths[0]), _conv(widths[0], widths[0])
        self.conv2a, self.conv2b = _conv(widths[0], widths[1]), _conv(widths[1], widths[1])
        self.conv3a, self.conv3b = _conv(widths[1], widths[2]), _conv(widths[2], widths[2])
        self.conv4a, self.conv4b = _conv(widths[2], widths[3]), _conv(widths[3], widths[3])
        self.convPa, self.convPb = _conv(widths[3], 256), _conv(256, STRIDE * STRIDE + 1, 1)
        self.convDa, self.convDb = _conv(widths[3], 256), _conv(256, self.conf.descriptor_dim, 1)
        weights = self.conf.weights
        if weights is not None:
            path = None if weights == WEIGHTS_NAME else os.fspath(weights)
            self.load_state_dict(load_state_dict(WEIGHTS_NAME, path), strict=True)
        self.eval()

    def _encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, 1, H, W]`` -> keypoint probabilities ``[B, 1, 8h, 8w]`` and descriptors ``[B, D, h, w]``."""
        stages = [(self.conv1a, self.conv1b), (self.conv2a, self.conv2b), (self.conv3a, self.conv3b)]
        x = image
        for conv_a, conv_b in stages:
            x = F.max_pool2d(F.relu(conv_b(F.relu(conv_a(x)))), kernel_size=2, stride=2)
        x = F.relu(self.conv4b(F.relu(self.conv4a(x))))
        cells = F.softmax(self.convPb(F.relu(self.convPa(x))), dim=1)[:, :-1]  # drop "no keypoint"
        probabilities = F.pixel_shuffle(cells, STRIDE)
        descriptors = F.normalize(self.convDb(F.relu(self.convDa(x))), p=2, dim=1)
        return probabilities, descriptors

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detect and describe keypoints in ``data["image"]`` ``[B, C, H, W]`` (RGB or gray, in [0, 1]).

        Returns ``keypoints [B, N, 2]`` (integer pixel positions), ``keypoint_scores [B, N]``
        (probabilities), ``descriptors [B, N, D]`` (unit norm) and ``keypoint_mask [B, N]``.
        Only the top-left ``8 * floor(H / 8)`` x ``8 * floor(W / 8)`` pixels are searched.
        """
        from kornia.color import rgb_to_grayscale

        image = data["image"]
        if image.shape[1] == 3:
            image = rgb_to_grayscale(image)
        probabilities, descriptors = self._encode(image)
        scores = simple_nms(probabilities, self.conf.nms_radius)[:, 0]
        border = self.conf.remove_borders
        if border:
            scores[:, :border] = -1
            scores[:, :, :border] = -1
            scores[:, -border:] = -1
            scores[:, :, -border:] = -1
        per_image = []
        for scores_i, descriptors_i in zip(scores, descriptors):
            rows, cols = torch.nonzero(scores_i > self.conf.detection_threshold, as_tuple=True)
            kp_scores = scores_i[rows, cols]
            limit = self.conf.max_num_keypoints
            if limit is not None and len(kp_scores) > limit:
                kp_scores, best = torch.topk(kp_scores, limit)
                rows, cols = rows[best], cols[best]
            keypoints = torch.stack([cols, rows], dim=-1).to(scores)
            per_image.append(
                {
                    "keypoints": keypoints,
                    "keypoint_scores": kp_scores,
                    "descriptors": sample_descriptors(keypoints, descriptors_i),
                }
            )
        return pad_and_stack(per_image)
