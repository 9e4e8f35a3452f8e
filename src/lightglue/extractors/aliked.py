"""ALIKED (Zhao et al., 2023): kornia's network with the reference keypoint detection.

The backbone, score head and SDDH descriptor head are kornia's (``kornia.feature.ALIKED``),
loading the official weights through :func:`lightglue.weights.load_state_dict`. Kornia's own
detection keeps strict local maxima only; the detection here follows the reference (DKD with
``simple_nms``, which also keeps ties and adds maxima found after suppressing around the first
ones), so that the keypoints are the reference's (kornia's keep only 91-96 % of them on the
golden images).

The network runs through :func:`.aliked_trunk.dense_maps` (kornia's modules, its deformable
blocks through :mod:`.deformable_conv`, the score map bit for bit kornia's, without the dense
normalisation of the feature map) and :func:`.aliked_descriptors.describe_keypoints` (kornia's
SDDH layers on the few normalised feature vectors the keypoints need): about 1.6x faster than
kornia's forward on one CPU thread, same keypoints, descriptors within float rounding
(``benchmarks/bench_extraction.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..weights import load_state_dict
from .aliked_descriptors import describe_keypoints
from .aliked_trunk import dense_maps
from .base import Extractor, pad_and_stack, simple_nms

MODEL_NAMES = ("aliked-t16", "aliked-n16", "aliked-n16rot", "aliked-n32")
SOFTARGMAX_TEMPERATURE = 0.1  # of the reference's sub-pixel refinement
KEYPOINT_LIMIT = 20000  # cap of the threshold mode when max_num_keypoints is not positive


def select_keypoints(scores: torch.Tensor, radius: int, threshold: float, max_num_keypoints: int) -> list[torch.Tensor]:
    """Choose keypoint positions on a score map (the reference DKD's selection).

    Modes: ``threshold > 0`` keeps NMS survivors scoring above it (falling back to above the
    image's mean score when none does; the reference decides this fallback for the whole batch,
    here it is decided per image), at most ``max_num_keypoints`` (or 20000 when not
    positive), the strongest first when capped and in raster order otherwise;
    ``threshold <= 0`` with ``max_num_keypoints > 0`` takes the ``max_num_keypoints`` highest
    NMS-ed scores (top-k); otherwise survivors above the mean score. Positions within ``radius``
    pixels of the border are never selected (except by top-k on a map with too few survivors).

    Args:
        scores: ``[B, 1, H, W]`` score map.

    Returns:
        ``B`` tensors ``[N_i]`` of flat indices ``y * W + x``.
    """
    b, _, h, w = scores.shape
    nms = simple_nms(scores, radius)
    nms[..., :radius, :] = 0
    nms[..., :, :radius] = 0
    nms[..., h - radius :, :] = 0
    nms[..., :, w - radius :] = 0
    nms = nms.reshape(b, h * w)
    flat = scores.reshape(b, h * w)
    if threshold <= 0 and max_num_keypoints > 0:
        return list(torch.topk(nms, min(max_num_keypoints, h * w), dim=1).indices)
    limit = max_num_keypoints if max_num_keypoints > 0 else KEYPOINT_LIMIT
    selected = []
    for nms_i, flat_i in zip(nms, flat):
        mask = nms_i > threshold if threshold > 0 else torch.zeros_like(nms_i, dtype=torch.bool)
        if not mask.any():
            mask = nms_i > flat_i.mean()
        indices = mask.nonzero()[:, 0]
        if len(indices) > limit:
            order = torch.sort(flat_i[indices], descending=True, stable=True).indices
            indices = indices[order[:limit]]
        selected.append(indices)
    return selected


def refine_keypoints(scores: torch.Tensor, indices: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel keypoints by a soft-argmax over the ``(2r+1)^2`` window, and their scores.

    Args:
        scores: ``[1, H, W]`` score map of one image.
        indices: ``[N]`` flat positions ``y * W + x`` of the detections.
        radius: window radius ``r`` in pixels.

    Returns:
        ``keypoints [N, 2]`` normalised to ``[-1, 1]`` (``-1`` = centre of the first pixel,
        ``1`` = centre of the last) and ``keypoint_scores [N]`` read bilinearly from ``scores``.
    """
    _, h, w = scores.shape
    size = 2 * radius + 1
    offsets = torch.arange(size, device=scores.device) - radius
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    dy, dx = dy.reshape(-1), dx.reshape(-1)  # [size^2], row-major window order
    padded = F.pad(scores[0], (radius, radius, radius, radius))
    y, x = indices // w, indices % w
    patches = padded[(y + radius)[:, None] + dy, (x + radius)[:, None] + dx]  # [N, size^2]
    weights = ((patches - patches.max(dim=1, keepdim=True).values) / SOFTARGMAX_TEMPERATURE).exp()
    grid = torch.stack([dx, dy], dim=-1).to(scores)  # [size^2, 2] as (dx, dy)
    residual = weights @ grid / weights.sum(dim=1, keepdim=True)
    xy = torch.stack([x, y], dim=-1) + residual
    normalized = xy / torch.tensor([w - 1, h - 1], device=scores.device) * 2 - 1
    sampled = F.grid_sample(scores[None], normalized.view(1, 1, -1, 2), mode="bilinear", align_corners=True)
    return normalized, sampled[0, 0, 0]


class ALIKED(Extractor):
    """ALIKED keypoints and 64/128-D descriptors.

    Options: ``model_name`` (``aliked-t16``, ``aliked-n16``, ``aliked-n16rot``, ``aliked-n32``),
    ``max_num_keypoints`` (None or <= 0: no cap beyond 20000), ``detection_threshold`` (score a
    keypoint must exceed; <= 0 selects top-k when ``max_num_keypoints`` > 0), ``nms_radius``
    (pixels, >= 1). See :func:`select_keypoints` for the exact rules.
    """

    default_conf: ClassVar[dict[str, Any]] = {
        "model_name": "aliked-n16",
        "max_num_keypoints": -1,
        "detection_threshold": 0.2,
        "nms_radius": 2,
    }
    preprocess_conf: ClassVar[dict[str, Any]] = {"resize": 1024}
    min_image_size = 32  # the backbone's stride

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        from kornia.feature import ALIKED as KorniaALIKED

        if self.conf.model_name not in MODEL_NAMES:
            raise ValueError(f"Unknown ALIKED model_name {self.conf.model_name!r}; choose from {MODEL_NAMES}.")
        if not isinstance(self.conf.nms_radius, int) or self.conf.nms_radius < 1:
            raise ValueError(f"nms_radius must be an integer >= 1, got {self.conf.nms_radius!r}.")
        if self.conf.max_num_keypoints is None:
            self.conf.max_num_keypoints = -1
        net = KorniaALIKED(model_name=self.conf.model_name)
        del net.dkd  # replaced by the reference detection below
        net.load_state_dict(load_state_dict(self.conf.model_name), strict=True)
        self.net = net
        self.eval()

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detect and describe keypoints in ``data["image"]`` ``[B, C, H, W]`` (RGB or gray, in [0, 1]).

        Returns ``keypoints [B, N, 2]`` (pixels), ``keypoint_scores [B, N]`` (in (0, 1)),
        ``descriptors [B, N, D]`` (unit norm) and ``keypoint_mask [B, N]``.
        """
        image = data["image"]
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        features, scores = dense_maps(self.net, image)
        _, dim, h, w = features.shape
        radius = self.conf.nms_radius
        selected = select_keypoints(scores, radius, self.conf.detection_threshold, self.conf.max_num_keypoints)
        per_image = []
        for i, indices in enumerate(selected):
            normalized, kp_scores = refine_keypoints(scores[i], indices, radius)
            if len(indices) > 0:
                descriptors = describe_keypoints(self.net.desc_head, features[i], normalized)
            else:
                descriptors = features.new_zeros((0, dim))
            keypoints = torch.tensor([w - 1, h - 1], device=image.device) * (normalized + 1) / 2
            per_image.append({"keypoints": keypoints, "keypoint_scores": kp_scores, "descriptors": descriptors})
        return pad_and_stack(per_image)
