"""Validation and normalisation of the matcher's per-image inputs.

A per-image feature dict holds ``keypoints [B, N, 2]`` (pixels), ``descriptors [B, N, D]``,
optionally ``image_size [B, 2]`` (W, H, pixels) or ``image [B, C, H, W]``, ``scales [B, N]``
and ``oris [B, N]`` (radians) for SIFT-like features, and ``keypoint_mask [B, N]`` (bool,
True = a real keypoint) when images of a batch have different keypoint counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageInputs:
    """Checked inputs of one side of the pair.

    Attributes:
        positions: [B, N, P] float32 normalised keypoints (P = 2, or 4 with scale and ori).
        descriptors: [B, N, D].
        mask: [B, N] bool, or None when every entry is a real keypoint.
    """

    positions: torch.Tensor
    descriptors: torch.Tensor
    mask: torch.Tensor | None

    @property
    def counts(self) -> torch.Tensor:
        """Number of real keypoints per batch element [B] (int64)."""
        b, n = self.descriptors.shape[:2]
        if self.mask is None:
            return torch.full((b,), n, dtype=torch.long, device=self.descriptors.device)
        return self.mask.sum(1)


def normalize_keypoints(
    kpts: torch.Tensor, size: torch.Tensor | None = None, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Map pixel keypoints to roughly [-1, 1]: ``(k - size / 2) / (max(size) / 2)``.

    Args:
        kpts: [B, N, 2] pixels.
        size: [B, 2] image (W, H) in pixels; None uses ``1 + extent`` of the (real) keypoints.
        mask: [B, N] real keypoints, used only for the extent.

    Returns:
        [B, N, 2] float32.
    """
    kpts = kpts.float()
    if size is None:
        if mask is None:
            hi, lo = kpts.max(-2).values, kpts.min(-2).values
        else:
            m = mask[..., None]
            hi = kpts.masked_fill(~m, -float("inf")).max(-2).values
            lo = kpts.masked_fill(~m, float("inf")).min(-2).values
            empty = ~mask.any(-1, keepdim=True)
            hi, lo = hi.masked_fill(empty, 0.0), lo.masked_fill(empty, 0.0)
        size = 1 + hi - lo
    size = size.to(kpts)
    shift = size / 2
    scale = size.max(-1).values / 2
    return (kpts - shift[..., None, :]) / scale[..., None, None]


def _fail(side: str, message: str) -> ValueError:
    return ValueError(f"LightGlue input {side!r}: {message}")


def _image_size(feats: dict, side: str, batch: int) -> torch.Tensor | None:
    size = feats.get("image_size")
    if size is None and "image" in feats:
        h, w = feats["image"].shape[-2:]
        return torch.tensor([[w, h]], dtype=torch.float32).expand(batch, 2)
    if size is None:
        return None
    size = torch.as_tensor(size, dtype=torch.float32)
    if size.shape == (2,):
        size = size.expand(batch, 2)
    if size.shape != (batch, 2):
        raise _fail(side, f"image_size must be [B, 2] = [{batch}, 2] (W, H), got {list(size.shape)}")
    if not bool((size > 0).all() & torch.isfinite(size).all()):
        raise _fail(side, "image_size must be positive and finite (W, H) in pixels")
    return size


def _check_finite(side: str, key: str, value: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Raise if a real keypoint's ``value`` ([B, N] or [B, N, K]) holds NaN or inf."""
    bad = ~torch.isfinite(value)
    if bad.ndim == 3:
        bad = bad.any(-1)
    if mask is not None:
        bad &= mask
    if bool(bad.any()):
        b, i = (int(v) for v in torch.nonzero(bad)[0])
        more = int(bad.sum()) - 1
        raise _fail(
            side,
            f"{key} holds NaN or infinite values at batch element {b}, keypoint index {i}"
            + (f" (and {more} more keypoint(s))" if more else ""),
        )


def parse_image_inputs(
    feats: dict, side: str, input_dim: int, add_scale_ori: bool, preset: str | None, dtype: torch.dtype
) -> ImageInputs:
    """Check one side's feature dict and build normalised positional inputs.

    Descriptors of another float dtype (float64, float16, bfloat16) are converted to ``dtype``,
    the model's.

    Raises:
        ValueError: with a message naming the side and the offending key (for NaN or inf
            values also the batch element and keypoint index).
    """
    if not isinstance(feats, dict):
        raise _fail(side, f"expected a dict of tensors, got {type(feats).__name__}")
    for key in ("keypoints", "descriptors"):
        if key not in feats:
            raise _fail(side, f"missing key {key!r} (have {sorted(feats)})")
    kpts, desc = feats["keypoints"], feats["descriptors"]
    if not (torch.is_tensor(kpts) and torch.is_tensor(desc)):
        raise _fail(side, "keypoints and descriptors must be torch tensors")
    if kpts.ndim != 3 or kpts.shape[-1] != 2:
        hint = " (add a batch dimension: keypoints[None])" if kpts.ndim == 2 else ""
        raise _fail(side, f"keypoints must be [B, N, 2], got {list(kpts.shape)}{hint}")
    if desc.ndim != 3 or desc.shape[:2] != kpts.shape[:2]:
        raise _fail(side, f"descriptors must be [B, N, D] with B, N of keypoints {list(kpts.shape[:2])}, got {list(desc.shape)}")
    if desc.shape[-1] != input_dim:
        what = f"the {preset!r} preset" if preset else "the matcher"
        raise _fail(side, f"descriptor size {desc.shape[-1]} does not fit {what}, which expects {input_dim}")
    if not (kpts.is_floating_point() and desc.is_floating_point()):
        raise _fail(side, "keypoints and descriptors must be floating point")
    b, n = kpts.shape[:2]
    mask = feats.get("keypoint_mask")
    if mask is not None:
        mask = torch.as_tensor(mask, device=kpts.device)
        if mask.shape != (b, n) or mask.dtype != torch.bool:
            raise _fail(side, f"keypoint_mask must be a bool tensor [B, N] = [{b}, {n}]")
        if bool(mask.all()):
            mask = None
    _check_finite(side, "keypoints", kpts, mask)
    _check_finite(side, "descriptors", desc, mask)
    desc = desc.to(dtype)
    positions = normalize_keypoints(kpts, _image_size(feats, side, b), mask)
    if add_scale_ori:
        extra = []
        for key in ("scales", "oris"):
            if key not in feats:
                raise _fail(side, f"these features need {key!r} [B, N] (scale and orientation in radians)")
            value = feats[key]
            if value.shape != (b, n):
                raise _fail(side, f"{key} must be [B, N] = [{b}, {n}], got {list(value.shape)}")
            _check_finite(side, key, value, mask)
            extra.append(value.float().unsqueeze(-1))
        positions = torch.cat([positions, *extra], -1)
    if mask is not None:
        positions = positions.masked_fill(~mask[..., None], 0.0)
        desc = desc.masked_fill(~mask[..., None], 0.0)
    return ImageInputs(positions, desc.detach(), mask)
