"""Two-view geometry on synthetic data with known homographies and poses."""

from __future__ import annotations

import numpy as np
import pytest

from lightglue.geometry import (
    epipolar_errors,
    estimate_homography,
    estimate_relative_pose,
    homography_corner_error,
    homography_dlt,
    homography_transfer_errors,
    relative_pose_error,
    relative_transform,
    rotate_intrinsics,
    rotate_pose_inplane,
    rotation_angle_error,
    scale_homography,
    scale_intrinsics,
    translation_angle_error,
    warp_points,
)

H_TRUE = np.array([[0.9, 0.15, 20.0], [-0.1, 1.1, -15.0], [2e-4, -1e-4, 1.0]])
K = np.array([[500.0, 0.0, 320.0], [0.0, 520.0, 240.0], [0.0, 0.0, 1.0]])


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rodrigues rotation ``[3, 3]`` about ``axis`` by ``degrees``."""
    a = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    th = np.radians(degrees)
    return np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * k @ k


def homography_matches(num: int, outliers: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Matches under H_TRUE with 0.5 px noise, a fraction replaced by random points."""
    p0 = rng.uniform(0, 640, (num, 2))
    p1 = warp_points(H_TRUE, p0) + rng.normal(0, 0.5, (num, 2))
    bad = rng.random(num) < outliers
    p1[bad] = rng.uniform(0, 640, (bad.sum(), 2))
    return p0, p1


def pose_matches(
    R: np.ndarray, t: np.ndarray, num: int, outliers: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projections in two cameras (intrinsics K) of random points 2-6 m in front of camera 0.

    Returns the points ``[S, 2]`` in each image and which matches are outliers ``[S]``.
    """
    X0 = np.c_[rng.uniform(-2, 2, (num, 2)), rng.uniform(2, 6, num)]
    X1 = X0 @ R.T + t
    p0 = X0 @ K.T
    p1 = X1 @ K.T
    p0, p1 = p0[:, :2] / p0[:, 2:], p1[:, :2] / p1[:, 2:] + rng.normal(0, 0.3, (num, 2))
    bad = rng.random(num) < outliers
    p1[bad] = rng.uniform(0, 640, (bad.sum(), 2))
    return p0, p1, bad


def test_warp_points_and_scale_homography():
    p = np.array([[10.0, 20.0], [300.0, 400.0]])
    h = H_TRUE @ np.r_[p[0], 1.0]
    np.testing.assert_allclose(warp_points(H_TRUE, p)[0], h[:2] / h[2])
    s0, s1 = (0.5, 0.25), (2.0, 3.0)
    Hs = scale_homography(H_TRUE, s0, s1)
    np.testing.assert_allclose(warp_points(Hs, p * s0), warp_points(H_TRUE, p) * s1, rtol=1e-9)


def test_dlt_recovers_exact_homography():
    p0, p1 = homography_matches(50, 0.0, np.random.default_rng(0))
    p1 = warp_points(H_TRUE, p0)
    np.testing.assert_allclose(homography_dlt(p0, p1), H_TRUE / H_TRUE[2, 2], atol=1e-8)
    assert homography_dlt(p0[:3], p1[:3]) is None


@pytest.mark.parametrize("method", ["opencv", "poselib"])
def test_robust_homography_rejects_outliers(method):
    rng = np.random.default_rng(1)
    p0, p1 = homography_matches(300, 0.4, rng)
    H, inliers = estimate_homography(p0, p1, method, threshold=3.0)
    assert homography_corner_error(H, H_TRUE, 640, 480) < 2.0
    true_inliers = homography_transfer_errors(p0, p1, H_TRUE) < 3
    assert (inliers == true_inliers).mean() > 0.95
    # DLT on the same contaminated matches is far off.
    H_dlt, _ = estimate_homography(p0, p1, "dlt")
    assert homography_corner_error(H_dlt, H_TRUE, 640, 480) > 10


def test_homography_failures():
    H, inliers = estimate_homography(np.zeros((3, 2)), np.zeros((3, 2)), "opencv")
    assert H is None and inliers.shape == (3,) and not inliers.any()
    assert homography_corner_error(None, H_TRUE, 640, 480) == np.inf
    with pytest.raises(ValueError, match="unknown homography estimator"):
        estimate_homography(np.zeros((5, 2)), np.zeros((5, 2)), "magsac")


def test_corner_error_of_a_shift():
    shifted = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]])
    assert homography_corner_error(shifted, np.eye(3), 640, 480) == pytest.approx(5.0)


def test_angle_errors():
    R = rotation([0, 1, 0], 10.0)
    assert rotation_angle_error(R, np.eye(3)) == pytest.approx(10.0)
    assert rotation_angle_error(R, R) == pytest.approx(0.0, abs=1e-6)
    assert translation_angle_error(np.array([1.0, 0, 0]), np.array([1.0, 1.0, 0])) == pytest.approx(45.0)
    # The sign of an essential-matrix translation is ambiguous.
    assert translation_angle_error(np.array([-2.0, 0, 0]), np.array([1.0, 0, 0])) == pytest.approx(0.0)
    assert translation_angle_error(np.array([1.0, 0, 0]), np.zeros(3)) == 0.0
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rotation([1, 0, 0], 5.0), [0.0, 1.0, 0.0]
    err_R, err_t = relative_pose_error(T, np.eye(3), np.array([0.0, 0.0, 1.0]))
    assert (err_R, err_t) == (pytest.approx(5.0), pytest.approx(90.0))


@pytest.mark.parametrize("method", ["opencv", "poselib"])
def test_relative_pose_from_noisy_matches(method):
    rng = np.random.default_rng(2)
    R, t = rotation([0.2, 1.0, 0.1], 15.0), np.array([0.8, 0.1, 0.2])
    p0, p1, _ = pose_matches(R, t, 400, 0.3, rng)
    pose = estimate_relative_pose(p0, p1, K, K, method, threshold=1.0)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    err_R, err_t = relative_pose_error(T, pose.R, pose.t)
    assert err_R < 0.5 and err_t < 2.0
    assert np.linalg.norm(pose.t) == pytest.approx(1.0)
    assert pose.inliers.mean() == pytest.approx(0.7, abs=0.08)
    assert estimate_relative_pose(p0[:4], p1[:4], K, K, method) is None


def test_epipolar_errors_separate_inliers():
    rng = np.random.default_rng(3)
    R, t = rotation([0.0, 1.0, 0.0], 10.0), np.array([1.0, 0.0, 0.1])
    p0, p1, bad = pose_matches(R, t, 200, 0.5, rng)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    err = epipolar_errors(p0, p1, T, K, K)
    assert np.all(err[~bad] < 1e-5) and np.median(err[bad]) > 1e-3


def test_scale_and_rotate_intrinsics_agree_with_projection():
    X = np.array([[0.3, -0.2, 2.0], [-0.5, 0.4, 3.0]])
    w, h = 640, 480
    proj = X @ K.T
    px = proj[:, :2] / proj[:, 2:]
    Ks = scale_intrinsics(K, (0.5, 0.25))
    ps = X @ Ks.T
    np.testing.assert_allclose(ps[:, :2] / ps[:, 2:], px * (0.5, 0.25))
    for rot in range(4):
        # Where np.rot90 sends each pixel, found on an index image.
        index = np.arange(w * h).reshape(h, w)
        rotated = np.rot90(index, rot)
        x, y = np.round(px).astype(int).T
        ys, xs = np.nonzero(rotated[None] == index[y, x][:, None, None])[1:]
        Kr = rotate_intrinsics(K, w, h, rot)
        Xr = X @ rotate_pose_inplane(np.eye(4), rot)[:3, :3].T
        pr = Xr @ Kr.T
        # Rounding moves a point by at most half a pixel along each axis.
        np.testing.assert_allclose(pr[:, :2] / pr[:, 2:], np.c_[xs, ys], atol=0.71)


def test_relative_transform():
    T0, T1 = np.eye(4), np.eye(4)
    T0[:3, 3], T1[:3, :3] = [1.0, 0.0, 0.0], rotation([0, 0, 1], 30.0)
    T = relative_transform(T0, T1)
    x_world = np.array([0.2, 0.3, 4.0, 1.0])
    np.testing.assert_allclose(T @ (T0 @ x_world), T1 @ x_world)
