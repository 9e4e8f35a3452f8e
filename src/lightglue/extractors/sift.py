"""SIFT (Lowe, 2004) through OpenCV, with RootSIFT descriptors, as the reference extractor.

The image is resized (long side 1024 by default), converted to grayscale and quantised to 8 bits
(truncating ``x * 255``) before OpenCV's detector runs. Keypoints that fall in the same pixel
(OpenCV repeats a keypoint once per dominant orientation) are reduced to one: the highest
response, then the smallest ``|angle|``; an optional NMS follows, then the top-k by response.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .base import Extractor, pad_and_stack

DESCRIPTOR_DIM = 128


def root_sift(descriptors: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RootSIFT (Arandjelovic & Zisserman, 2012): L1-normalise, square-root, L2-normalise.

    Args:
        descriptors: ``[..., 128]`` non-negative SIFT descriptors.
    """
    descriptors = F.normalize(descriptors, p=1, dim=-1, eps=eps).clamp(min=eps).sqrt()
    return F.normalize(descriptors, p=2, dim=-1, eps=eps)


def filter_keypoints(
    points: np.ndarray, scores: np.ndarray, angles: np.ndarray, shape: tuple[int, int], nms_radius: int
) -> np.ndarray:
    """Keep one keypoint per pixel, then (if ``nms_radius > 0``) the local maxima of the scores.

    Args:
        points: ``[N, 2]`` (x, y) pixels.
        scores: ``[N]`` detector responses.
        angles: ``[N]`` orientations in radians.
        shape: ``(H, W)`` of the image.
        nms_radius: NMS radius in pixels; 0 for none.

    Returns:
        Indices of the kept keypoints, in their original order.
    """
    h, w = shape
    cols = np.clip(np.round(points[:, 0] - 0.5).astype(np.int64), 0, w - 1)
    rows = np.clip(np.round(points[:, 1] - 0.5).astype(np.int64), 0, h - 1)
    pixel = rows * w + cols
    best = np.zeros(h * w)
    np.maximum.at(best, pixel, scores)
    keep = np.flatnonzero(best[pixel] == scores)
    abs_angle = np.abs(angles[keep])
    smallest = np.full(h * w, np.inf)
    np.minimum.at(smallest, pixel[keep], abs_angle)
    keep = keep[smallest[pixel[keep]] == abs_angle]
    if nms_radius > 0:
        score_map = np.zeros(h * w)
        score_map[pixel[keep]] = scores[keep]
        window_max = (
            F.max_pool2d(torch.from_numpy(score_map.reshape(1, h, w)), 2 * nms_radius + 1, stride=1, padding=nms_radius)
            .numpy()
            .reshape(-1)
        )
        keep = keep[score_map[pixel[keep]] == window_max[pixel[keep]]]
    return keep


class SIFT(Extractor):
    """OpenCV SIFT keypoints, orientations and scales with (Root)SIFT descriptors.

    Options: ``rootsift`` (True), ``nms_radius`` (0: one keypoint per pixel; > 0: also NMS in that
    radius; None: no filtering), ``max_num_keypoints`` (4096; None for all),
    ``detection_threshold`` (OpenCV ``contrastThreshold``), ``edge_threshold``, ``num_octaves``
    (passed to OpenCV as ``nOctaveLayers``, as the reference does), ``backend`` (only
    ``"opencv"``).
    """

    default_conf: ClassVar[dict[str, Any]] = {
        "rootsift": True,
        "nms_radius": 0,
        "max_num_keypoints": 4096,
        "backend": "opencv",
        "detection_threshold": 0.0066667,
        "edge_threshold": 10,
        "num_octaves": 4,
    }
    preprocess_conf: ClassVar[dict[str, Any]] = {"resize": 1024}
    min_image_size = 16

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        if self.conf.backend != "opencv":
            raise ValueError(f"Unsupported SIFT backend {self.conf.backend!r}: only 'opencv' is available.")
        if self.conf.nms_radius is not None and self.conf.nms_radius < 0:
            raise ValueError(f"nms_radius must be None or >= 0, got {self.conf.nms_radius!r}.")
        if self.conf.max_num_keypoints is not None and self.conf.max_num_keypoints < 0:
            self.conf.max_num_keypoints = None
        self.sift = cv2.SIFT_create(
            nfeatures=self.conf.max_num_keypoints or 0,
            nOctaveLayers=self.conf.num_octaves,
            contrastThreshold=self.conf.detection_threshold,
            edgeThreshold=self.conf.edge_threshold,
        )

    def _extract_one(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        """Run OpenCV on one ``[H, W]`` uint8 image; arrays ``[N, ...]`` as in :meth:`forward`."""
        detections, descriptors = self.sift.detectAndCompute(gray, None)
        feats = {
            "keypoints": np.array([k.pt for k in detections], dtype=np.float32).reshape(-1, 2),
            "keypoint_scores": np.array([k.response for k in detections], dtype=np.float32),
            "scales": np.array([k.size for k in detections], dtype=np.float32),
            "oris": np.deg2rad(np.array([k.angle for k in detections], dtype=np.float32)),
            "descriptors": (
                descriptors if descriptors is not None else np.zeros((0, DESCRIPTOR_DIM), np.float32)
            ).astype(np.float32),
        }
        if self.conf.nms_radius is not None:
            keep = filter_keypoints(
                feats["keypoints"], feats["keypoint_scores"], feats["oris"], gray.shape, self.conf.nms_radius
            )
            feats = {k: v[keep] for k, v in feats.items()}
        limit = self.conf.max_num_keypoints
        if limit is not None and len(feats["keypoint_scores"]) > limit:
            best = np.argsort(-feats["keypoint_scores"], kind="stable")[:limit]
            feats = {k: v[best] for k, v in feats.items()}
        return feats

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detect and describe keypoints in ``data["image"]`` ``[B, C, H, W]`` (RGB or gray, in [0, 1]).

        Returns ``keypoints [B, N, 2]`` (pixels), ``keypoint_scores [B, N]`` (OpenCV responses),
        ``scales [B, N]`` (OpenCV ``size``: diameter in pixels of the processed image, NOT rescaled
        to the original frame by :meth:`extract`, as in the reference), ``oris [B, N]`` (OpenCV
        ``angle`` in radians, [0, 2 pi)), ``descriptors [B, N, 128]`` and ``keypoint_mask [B, N]``.
        """
        from kornia.color import rgb_to_grayscale

        image = data["image"]
        if image.shape[1] == 3:
            image = rgb_to_grayscale(image)
        quantised = (image[:, 0].cpu().numpy() * 255.0).clip(0, 255).astype(np.uint8)
        per_image = []
        for gray, gray_u8 in zip(image, quantised):
            feats = {k: torch.from_numpy(v).to(image.device) for k, v in self._extract_one(gray_u8).items()}
            feats["descriptors"] = self._describe(gray, feats)
            per_image.append(feats)
        return pad_and_stack(per_image)

    def _describe(self, gray: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """Descriptors ``[N, D]`` of one image's detections; ``gray`` is ``[1, H, W]`` in [0, 1].

        SIFT: OpenCV's descriptors, as RootSIFT when ``rootsift`` is set.
        """
        return root_sift(feats["descriptors"]) if self.conf.rootsift else feats["descriptors"]
