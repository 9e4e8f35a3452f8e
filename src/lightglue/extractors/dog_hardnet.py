"""DoG-HardNet: SIFT's difference-of-Gaussians keypoints described by HardNet (Mishchuk et al., 2017).

The keypoints, scales and orientations are exactly :class:`~lightglue.extractors.SIFT`'s (same
options, same OpenCV detector); each keypoint's descriptor is kornia's ``HardNet`` on a
``32 x 32`` grayscale patch sampled around it, of side ``6 x scale`` pixels, turned by its
orientation, as the reference extractor does. Descriptors are ``[N, 128]``, unit L2 norm.

HardNet's trained weights (``checkpoint_liberty_with_aug.pth``, trained on Liberty with
augmentation) are not shipped by any installed package: they are found through
:func:`lightglue.weights.resolve_weights` (``$LIGHTGLUE_WEIGHTS_DIR``, then the torch hub cache,
where kornia stores the same file under the same name).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..weights import load_state_dict
from .sift import SIFT

HARDNET_WEIGHTS = "checkpoint_liberty_with_aug"
"""Canonical name of HardNet's weight file for :mod:`lightglue.weights` (kornia's file name)."""

PATCH_SIZE = 32
PATCH_SCALE = 6.0  # patch side in units of the keypoint's scale


class DoGHardNet(SIFT):
    """SIFT keypoints with HardNet descriptors (the official ``DoGHardNet``).

    Options: every :class:`SIFT` option (``rootsift`` has no effect: the descriptors are
    HardNet's), plus ``weights``: the HardNet weight file's canonical name (default
    ``checkpoint_liberty_with_aug``) or path, or None for random weights (tests only).

    Raises:
        lightglue.weights.WeightsNotFoundError: the HardNet weights are not on this machine
            (the message names the file and where to get it).
    """

    default_conf: ClassVar[dict[str, Any]] = {**SIFT.default_conf, "weights": HARDNET_WEIGHTS}

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        from kornia.feature import HardNet, LAFDescriptor

        hardnet = HardNet(pretrained=False)
        weights = self.conf.weights
        if weights is not None:
            is_path = str(weights).endswith((".pth", ".pt"))
            state = load_state_dict(HARDNET_WEIGHTS if is_path else str(weights), path=weights if is_path else None)
            hardnet.load_state_dict(state, strict=True)
        self.laf_desc = LAFDescriptor(hardnet.eval(), patch_size=PATCH_SIZE, grayscale_descriptor=True)

    def train(self, mode: bool = True) -> "DoGHardNet":
        """HardNet always runs in evaluation mode (fixed batch-norm statistics, no dropout)."""
        super().train(mode)
        self.laf_desc.eval()
        return self

    def _describe(self, gray: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """HardNet descriptors ``[N, 128]`` of the patches at ``feats``' keypoints, scales and orientations.

        Args:
            gray: ``[1, H, W]`` image in [0, 1].
            feats: ``keypoints [N, 2]`` (pixels), ``scales [N]`` (pixels), ``oris [N]`` (radians).
        """
        from kornia.feature import laf_from_center_scale_ori

        n = feats["keypoints"].shape[0]
        if n == 0:
            return gray.new_zeros((0, 128))
        lafs = laf_from_center_scale_ori(
            feats["keypoints"].to(gray).reshape(1, n, 2),
            PATCH_SCALE * feats["scales"].to(gray).reshape(1, n, 1, 1),
            torch.rad2deg(feats["oris"].to(gray)).reshape(1, n, 1),
        )
        return self.laf_desc(gray[None], lafs).reshape(n, -1)
