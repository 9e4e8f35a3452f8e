"""Ground truth of a posed pair with depth maps (MegaDepth style, the reference recipe).

Cameras are pinhole ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (skew ignored) whose
image is ``(2 cx) × (2 cy)`` pixels; poses map camera-0 to camera-1 coordinates,
``X1 = R X0 + t``. Shapes: B pairs, M and N keypoints, H × W depth maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lightglue.training.groundtruth.labels import (
    UNMATCHED,
    check_keypoints,
    empty_labels,
    mutual_nearest_labels,
    squared_distances,
)

MIN_DEPTH = 1e-4
"""A point must be farther than this in front of the other camera to project."""


def sample_depth(kp: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth at keypoints: bilinear between pixel centres, nearest pixel where that fails.

    Pixels ``<= 0`` are invalid. The bilinear value is used when its four neighbours are
    valid; otherwise (any invalid neighbour, even with zero weight) the nearest pixel's. Beyond
    the outer pixel centres the missing neighbours count as 0 (zero padding), so the depth
    within half a pixel of the border shrinks towards 0.

    Args:
        kp: [B, N, 2] pixels (x, y); pixel (row r, col c) is centred at (c + 0.5, r + 0.5).
        depth: [B, H, W] depth maps, 0 = invalid.

    Returns:
        depth [B, N] (NaN where invalid), valid [B, N] bool.
    """
    h, w = depth.shape[-2:]
    maps = torch.where(depth > 0, depth, depth.new_tensor(float("nan")))[:, None]
    grid = (kp / kp.new_tensor([[w, h]]) * 2 - 1)[:, None]
    bilinear = F.grid_sample(maps, grid, mode="bilinear", align_corners=False)
    nearest = F.grid_sample(maps, grid, mode="nearest", align_corners=False)
    d = torch.where(torch.isnan(bilinear), nearest, bilinear)[:, 0, 0]
    return d, ~torch.isnan(d) & (d > 0)


def _focal_centre(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, 3, 3] -> focal (fx, fy) [B, 2], principal point (cx, cy) [B, 2]."""
    return torch.stack([K[:, 0, 0], K[:, 1, 1]], -1), torch.stack([K[:, 0, 2], K[:, 1, 2]], -1)


def project_keypoints(
    kp: torch.Tensor,
    d: torch.Tensor,
    valid: torch.Tensor,
    K_from: torch.Tensor,
    K_to: torch.Tensor,
    T_from_to: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project keypoints with depth into the other camera.

    Args:
        kp: [B, N, 2] pixels; d: [B, N] depths (NaN where invalid); valid: [B, N].
        K_from, K_to: [B, 3, 3] intrinsics; T_from_to: [B, 4, 4] pose.

    Returns:
        projections [B, N, 2] pixels (NaN where the depth is invalid) and visible [B, N]:
        valid depth, ``z > 1e-4`` in the other camera and ``0 <= x <= 2cx - 1``,
        ``0 <= y <= 2cy - 1`` of the other camera.
    """
    f0, c0 = _focal_centre(K_from)
    f1, c1 = _focal_centre(K_to)
    normalized = (kp - c0[:, None]) / f0[:, None]
    points = torch.cat([normalized, normalized.new_ones(normalized.shape[:-1] + (1,))], -1) * d[..., None]
    points = points @ T_from_to[:, :3, :3].transpose(-1, -2) + T_from_to[:, None, :3, 3]
    z = points[..., -1]
    in_front = z > MIN_DEPTH
    proj = points[..., :-1] / z.clamp(min=MIN_DEPTH)[..., None]
    proj = proj * f1[:, None] + c1[:, None]
    size = (2 * c1)[:, None]
    in_image = torch.all((proj >= 0) & (proj <= size - 1), -1)
    return proj, valid & in_front & in_image


def _calibration(K: torch.Tensor) -> torch.Tensor:
    """The pinhole matrix of K's (fx, fy, cx, cy), skew dropped. [B, 3, 3]."""
    out = torch.zeros_like(K)
    out[:, 0, 0], out[:, 1, 1] = K[:, 0, 0], K[:, 1, 1]
    out[:, 0, 2], out[:, 1, 2], out[:, 2, 2] = K[:, 0, 2], K[:, 1, 2], 1.0
    return out


def _skew(v: torch.Tensor) -> torch.Tensor:
    """[B, 3] -> [B, 3, 3] cross-product matrix."""
    z = torch.zeros_like(v[..., 0])
    rows = [z, -v[..., 2], v[..., 1], v[..., 2], z, -v[..., 0], -v[..., 1], v[..., 0], z]
    return torch.stack(rows, -1).reshape(v.shape[:-1] + (3, 3))


def epipolar_distances(
    kp0: torch.Tensor, kp1: torch.Tensor, K0: torch.Tensor, K1: torch.Tensor, T_0to1: torch.Tensor
) -> torch.Tensor:
    """Symmetric epipolar distance of every pair, pixels (not squared). [B, M, N].

    ``F = K1⁻ᵀ [t]ₓ R K0⁻¹``; entry (i, j) is the mean of the distance of kp1[j] to the line
    ``F kp0[i]`` and of kp0[i] to the line ``Fᵀ kp1[j]``.
    """
    E = _skew(T_0to1[:, :3, 3]) @ T_0to1[:, :3, :3]
    Fm = torch.inverse(_calibration(K1)).transpose(-1, -2) @ E @ torch.inverse(_calibration(K0))
    p0 = torch.cat([kp0, kp0.new_ones(kp0.shape[:-1] + (1,))], -1)
    p1 = torch.cat([kp1, kp1.new_ones(kp1.shape[:-1] + (1,))], -1)
    algebraic = torch.einsum("...mi,...ij,...nj->...nm", p1, Fm, p0).abs()  # [B, M, N]
    lines1 = torch.einsum("...ij,...nj->...ni", Fm, p0)  # epipolar lines in image 1 [B, M, 3]
    lines0 = torch.einsum("...ij,...mi->...mj", Fm, p1)  # epipolar lines in image 0 [B, N, 3]
    d1 = algebraic / (lines1[..., None, 0] ** 2 + lines1[..., None, 1] ** 2 + 1e-15).sqrt()
    d0 = algebraic / (lines0[..., None, :, 0] ** 2 + lines0[..., None, :, 1] ** 2 + 1e-15).sqrt()
    return (d1 + d0) / 2


def _check(name: str, value: torch.Tensor, shape: tuple) -> None:
    if not torch.is_tensor(value) or value.ndim != len(shape) or any(
        s is not None and v != s for v, s in zip(value.shape, shape)
    ):
        got = list(value.shape) if torch.is_tensor(value) else type(value).__name__
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must be a tensor {want}, got {got}")


def _inverse_pose(T: torch.Tensor) -> torch.Tensor:
    """[B, 4, 4] rigid transform -> its inverse ``(Rᵀ, -Rᵀ t)``."""
    R = T[:, :3, :3].transpose(-1, -2)
    out = torch.zeros_like(T)
    out[:, :3, :3] = R
    out[:, :3, 3] = -(R @ T[:, :3, 3, None])[..., 0]
    out[:, 3, 3] = 1.0
    return out


@torch.no_grad()
def gt_from_depth(
    kp0: torch.Tensor,
    kp1: torch.Tensor,
    depth0: torch.Tensor,
    depth1: torch.Tensor,
    K0: torch.Tensor,
    K1: torch.Tensor,
    T_0to1: torch.Tensor,
    T_1to0: torch.Tensor | None = None,
    pos_th: float = 3.0,
    neg_th: float = 5.0,
    epi_th: float | None = 5.0,
) -> dict[str, torch.Tensor]:
    """Match labels of keypoints in two posed images with depth maps.

    Each keypoint with valid depth is projected into the other image. Among the pairs where
    both points are visible in the other image, mutual nearest neighbours under the symmetric
    squared reprojection error closer than ``pos_th`` are matches. A point with valid depth
    whose projection is farther than ``neg_th`` from every keypoint of the other image is
    unmatchable (-1; the test ignores visibility). The others are ignored (-2), except, when
    ``epi_th`` is not None, a point *without* valid depth that lies farther than ``neg_th``
    px from the epipolar lines of every ignored point of the other image becomes -1 (as in
    the reference, ``epi_th`` only switches this step on; ``neg_th`` is its threshold).
    Occlusions are not detected.

    Args:
        kp0: [B, M, 2], kp1: [B, N, 2] keypoints, pixels (x, y).
        depth0: [B, H0, W0], depth1: [B, H1, W1] depth maps (z in each camera), 0 = invalid.
        K0, K1: [B, 3, 3] pinhole intrinsics; each image is ``2cx × 2cy`` pixels.
        T_0to1: [B, 4, 4] pose with ``X1 = R X0 + t``; T_1to0: its inverse (computed when None).
        pos_th, neg_th: thresholds in pixels (strict).
        epi_th: None disables the epipolar step.

    Returns:
        ``gt_matches0 [B, M]``, ``gt_matches1 [B, N]`` (i64), ``gt_assignment [B, M, N]`` bool,
        ``gt_proj_0to1 [B, M, 2]``, ``gt_proj_1to0 [B, N, 2]`` (NaN without valid depth),
        ``gt_visible0 [B, M]``, ``gt_visible1 [B, N]`` (bool), ``gt_depth_keypoints0 [B, M]``,
        ``gt_depth_keypoints1 [B, N]`` (NaN where invalid).
    """
    check_keypoints(kp0, kp1)
    b, m, n = kp0.shape[0], kp0.shape[1], kp1.shape[1]
    for name, value, shape in (("depth0", depth0, (b, None, None)), ("depth1", depth1, (b, None, None)),
                               ("K0", K0, (b, 3, 3)), ("K1", K1, (b, 3, 3)), ("T_0to1", T_0to1, (b, 4, 4))):
        _check(name, value, shape)
    dtype = kp0.dtype
    depth0, depth1, K0, K1, T_0to1 = (x.to(dtype) for x in (depth0, depth1, K0, K1, T_0to1))
    if T_1to0 is None:
        T_1to0 = _inverse_pose(T_0to1)
    _check("T_1to0", T_1to0, (b, 4, 4))
    T_1to0 = T_1to0.to(dtype)
    d0, valid0 = sample_depth(kp0, depth0)
    d1, valid1 = sample_depth(kp1, depth1)
    proj0, visible0 = project_keypoints(kp0, d0, valid0, K0, K1, T_0to1)
    proj1, visible1 = project_keypoints(kp1, d1, valid1, K1, K0, T_1to0)
    extra = {"gt_proj_0to1": proj0, "gt_proj_1to0": proj1, "gt_visible0": visible0, "gt_visible1": visible1,
             "gt_depth_keypoints0": d0, "gt_depth_keypoints1": d1}
    if m == 0 or n == 0:
        return {**empty_labels(b, m, n, kp0.device), **extra}
    dist0 = squared_distances(proj0, kp1)
    dist1 = squared_distances(kp0, proj1)
    inf = dist0.new_tensor(float("inf"))
    dist = torch.where(visible0[..., None] & visible1[..., None, :], torch.max(dist0, dist1), inf)
    labels = mutual_nearest_labels(
        dist,
        (dist0.min(-1).values > neg_th**2) & valid0,
        (dist1.min(-2).values > neg_th**2) & valid1,
        pos_th,
    )
    if epi_th is not None:
        m0, m1 = labels["gt_matches0"], labels["gt_matches1"]
        both_ignored = (m0[..., None] == -2) & (m1[..., None, :] == -2)
        epi = torch.where(both_ignored, epipolar_distances(kp0, kp1, K0, K1, T_0to1), inf)
        unmatched = m0.new_tensor(UNMATCHED)
        labels["gt_matches0"] = torch.where(~valid0 & (epi.min(-1).values > neg_th), unmatched, m0)
        labels["gt_matches1"] = torch.where(~valid1 & (epi.min(-2).values > neg_th), unmatched, m1)
    return {**labels, **extra}
