"""Ground truth of a pair related by a homography (the reference training recipe)."""

from __future__ import annotations

import torch

from lightglue.training.groundtruth.labels import (
    check_keypoints,
    empty_labels,
    mutual_nearest_labels,
    squared_distances,
)


def warp_points(points: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Apply ``H [B, 3, 3]`` to ``points [B, N, 2]``; the division is by ``w + 1e-5``."""
    homogeneous = torch.cat([points, points.new_ones(points.shape[:-1] + (1,))], -1)
    warped = torch.einsum("...nj,...ij->...ni", homogeneous, H)
    return warped[..., :-1] / (warped[..., -1:] + 1e-5)


@torch.no_grad()
def gt_from_homography(
    kp0: torch.Tensor,
    kp1: torch.Tensor,
    H_0to1: torch.Tensor,
    pos_th: float = 3.0,
    neg_th: float = 3.0,
) -> dict[str, torch.Tensor]:
    """Match labels of keypoints in two images related by ``x1 ~ H_0to1 x0``.

    A pair (i, j) is a match when each is the other's nearest neighbour under the symmetric
    squared reprojection error ``max(|H kp0_i - kp1_j|², |kp0_i - H⁻¹ kp1_j|²)`` and that
    error is below ``pos_th²``. An image-0 point is unmatchable (-1) when its forward
    reprojection is farther than ``neg_th`` from every image-1 point (and symmetrically with
    ``H⁻¹`` for image 1); the others without a match are ignored (-2). There is no in-image
    test: a point warped outside the other image has no near neighbour and becomes -1.

    Args:
        kp0: [B, M, 2] keypoints of image 0, pixels (x, y).
        kp1: [B, N, 2] keypoints of image 1, pixels.
        H_0to1: [B, 3, 3] homography from image-0 to image-1 pixels.
        pos_th: positive threshold, pixels (strict).
        neg_th: negative threshold, pixels (strict).

    Returns:
        ``gt_matches0 [B, M]`` i64, ``gt_matches1 [B, N]`` i64, ``gt_assignment [B, M, N]``
        bool, ``gt_proj_0to1 [B, M, 2]`` (kp0 warped into image 1), ``gt_proj_1to0 [B, N, 2]``.
    """
    check_keypoints(kp0, kp1)
    b, m, n = kp0.shape[0], kp0.shape[1], kp1.shape[1]
    if not torch.is_tensor(H_0to1) or H_0to1.shape != (b, 3, 3):
        shape = list(H_0to1.shape) if torch.is_tensor(H_0to1) else type(H_0to1).__name__
        raise ValueError(f"H_0to1 must be a tensor [B, 3, 3] = [{b}, 3, 3], got {shape}")
    H = H_0to1.to(kp0.dtype)
    proj0 = warp_points(kp0, H)
    proj1 = warp_points(kp1, torch.inverse(H))
    if m == 0 or n == 0:
        return {**empty_labels(b, m, n, kp0.device), "gt_proj_0to1": proj0, "gt_proj_1to0": proj1}
    dist0 = squared_distances(proj0, kp1)
    dist1 = squared_distances(kp0, proj1)
    labels = mutual_nearest_labels(
        torch.max(dist0, dist1),
        dist0.min(-1).values > neg_th**2,
        dist1.min(-2).values > neg_th**2,
        pos_th,
    )
    return {**labels, "gt_proj_0to1": proj0, "gt_proj_1to0": proj1}
