"""DISK (Tyszkiewicz et al., 2020), as in the reference: kornia's model, detection included.

``kornia.feature.DISK`` with the official ``depth`` weights. Keypoints are the strict maxima of
the heatmap in a ``nms_window_size`` window, scoring above ``detection_threshold``, the
``max_num_keypoints`` strongest (ties at the cut in raster order), listed in raster order.

The network's last layer computes its 128 descriptor channels at the keypoints only
(:mod:`.disk_sparse`): the heatmap and so the keypoints are kornia's, the descriptors equal
kornia's within float rounding, about 2.5x faster on one CPU thread
(``benchmarks/bench_extraction.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..weights import load_state_dict
from .base import Extractor, pad_and_stack
from .disk_sparse import descriptors_at, heatmap_and_last_input

WEIGHT_FILES = {"depth": "disk-depth-save", "epipolar": "disk-epipolar-save"}
STRIDE = 16  # the U-Net needs sides divisible by this


class DISK(Extractor):
    """DISK keypoints and 128-D descriptors.

    Options: ``weights`` (``"depth"``; ``"epipolar"`` when its file is available),
    ``max_num_keypoints`` (None: all), ``desc_dim`` (128), ``nms_window_size`` (odd, pixels),
    ``detection_threshold`` (logit a keypoint must exceed), ``pad_if_not_divisible`` (zero-pad
    the bottom and right to a multiple of 16; otherwise such an image is an error).
    """

    default_conf: ClassVar[dict[str, Any]] = {
        "weights": "depth",
        "max_num_keypoints": None,
        "desc_dim": 128,
        "nms_window_size": 5,
        "detection_threshold": 0.0,
        "pad_if_not_divisible": True,
    }
    preprocess_conf: ClassVar[dict[str, Any]] = {"resize": 1024}
    min_image_size = STRIDE

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        from kornia.feature import DISK as KorniaDISK
        from kornia.feature.disk.detector import heatmap_to_keypoints

        if self.conf.weights not in WEIGHT_FILES:
            raise ValueError(f"Unknown DISK weights {self.conf.weights!r}; choose from {sorted(WEIGHT_FILES)}.")
        window = self.conf.nms_window_size
        if not isinstance(window, int) or window < 1 or window % 2 == 0:
            raise ValueError(f"nms_window_size must be an odd positive integer, got {window!r}.")
        if self.conf.max_num_keypoints is not None and self.conf.max_num_keypoints < 0:
            self.conf.max_num_keypoints = None
        self.net = KorniaDISK(desc_dim=self.conf.desc_dim)
        self.net.load_state_dict(load_state_dict(WEIGHT_FILES[self.conf.weights]), strict=True)
        self._detect = heatmap_to_keypoints
        self.eval()

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detect and describe keypoints in ``data["image"]`` ``[B, C, H, W]`` (RGB or gray, in [0, 1]).

        Returns ``keypoints [B, N, 2]`` (integer pixel positions), ``keypoint_scores [B, N]``
        (logits), ``descriptors [B, N, D]`` (unit norm) and ``keypoint_mask [B, N]``.
        """
        image = data["image"]
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        h, w = image.shape[-2:]
        if (h % STRIDE or w % STRIDE) and not self.conf.pad_if_not_divisible:
            raise ValueError(
                f"DISK needs image sides divisible by {STRIDE}, got {w}x{h}; set pad_if_not_divisible=True."
            )
        image = F.pad(image, (0, -w % STRIDE, 0, -h % STRIDE))  # zeros at the bottom and right, as kornia's
        desc_dim = self.conf.desc_dim
        heatmap, inputs = heatmap_and_last_input(self.net.unet, image, desc_dim)
        detections = self._detect(
            heatmap[..., :h, :w],
            n=self.conf.max_num_keypoints,
            window_size=self.conf.nms_window_size,
            score_threshold=self.conf.detection_threshold,
        )
        conv = self.net.unet.path_up[-1].conv[-1]
        return pad_and_stack(
            [
                {
                    "keypoints": d.xys.to(torch.promote_types(heatmap.dtype, torch.float32)),
                    "keypoint_scores": d.detection_logp,
                    "descriptors": descriptors_at(conv, inputs[i], d.xys, desc_dim),
                }
                for i, d in enumerate(detections)
            ]
        )
