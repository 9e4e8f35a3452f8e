"""Ground truth for training against the reference recipe's outputs (../shared/golden/training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lightglue.training.groundtruth import gt_from_depth, gt_from_homography
from lightglue.training.groundtruth.depth import sample_depth

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden" / "training"


def _load(name: str) -> dict[str, np.ndarray]:
    path = GOLDEN / f"{name}.npz"
    if not path.is_file():
        pytest.skip(f"golden fixture not found: {path}")
    return dict(np.load(path))


def _batched(g: dict[str, np.ndarray], key: str) -> torch.Tensor:
    return torch.from_numpy(g[key])[None]


def _assert_labels(out: dict, g: dict, prefix: str = "", source: str = "gt_") -> None:
    for key in ("matches0", "matches1", "assignment") if source == "gt_" else ("matches0", "matches1"):
        ours, ref = out[f"gt_{key}"][0].numpy(), g[f"{prefix}{source}{key}"]
        assert ours.dtype == ref.dtype, key
        np.testing.assert_array_equal(ours, ref, err_msg=f"{prefix}gt_{key}")


@pytest.mark.parametrize("prefix, neg_th", [("", 3.0), ("alt_", 5.0)])
def test_homography_labels_identical(prefix: str, neg_th: float) -> None:
    g = _load("homography_gt")
    out = gt_from_homography(_batched(g, "keypoints0"), _batched(g, "keypoints1"), _batched(g, "H_0to1"), 3.0, neg_th)
    _assert_labels(out, g, prefix)
    assert int(out["gt_assignment"].sum()) == int(g[f"{prefix}gt_assignment"].sum()) > 100
    if prefix == "alt_":  # the wider negative threshold opens a real ignore band
        assert int((out["gt_matches0"] == -2).sum()) == 20
    else:
        np.testing.assert_allclose(out["gt_proj_0to1"][0].numpy(), g["gt_proj_0to1"], rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(out["gt_proj_1to0"][0].numpy(), g["gt_proj_1to0"], rtol=1e-6, atol=1e-4)


def test_homography_labels_are_consistent_and_batched() -> None:
    g = _load("homography_gt")
    kp0, kp1, H = (torch.from_numpy(g[k]) for k in ("keypoints0", "keypoints1", "H_0to1"))
    flipped = kp1.flip(0)  # second batch element: image-1 points in reverse order
    out = gt_from_homography(torch.stack([kp0, kp0]), torch.stack([kp1, flipped]), torch.stack([H, H]))
    m0, m1, assignment = out["gt_matches0"], out["gt_matches1"], out["gt_assignment"]
    n = kp1.shape[0]
    np.testing.assert_array_equal(m0[1].numpy(), torch.where(m0[0] >= 0, n - 1 - m0[0], m0[0]).numpy())
    np.testing.assert_array_equal(m1[1].numpy(), m1[0].flip(0).numpy())
    for b in range(2):  # one-to-one and consistent with the matrix
        i, j = assignment[b].nonzero(as_tuple=True)
        assert (m0[b, i] == j).all() and (m1[b, j] == i).all()
        assert int((m0[b] >= 0).sum()) == len(i) == int((m1[b] >= 0).sum())


def test_homography_without_keypoints_and_bad_input() -> None:
    out = gt_from_homography(torch.zeros(1, 0, 2), torch.rand(1, 5, 2), torch.eye(3)[None])
    assert out["gt_matches0"].shape == (1, 0) and (out["gt_matches1"] == -1).all()
    assert out["gt_assignment"].shape == (1, 0, 5)
    with pytest.raises(ValueError, match="H_0to1"):
        gt_from_homography(torch.rand(1, 4, 2), torch.rand(1, 5, 2), torch.eye(3))
    with pytest.raises(ValueError, match=r"kp0 must be"):
        gt_from_homography(torch.rand(4, 2), torch.rand(1, 5, 2), torch.eye(3)[None])


def _depth_gt(g: dict, prefix: str = "", epi_th: float | None = 5.0, with_inverse: bool = True) -> dict:
    args = [_batched(g, k) for k in (f"{prefix}keypoints0", f"{prefix}keypoints1", "depth0", "depth1", "K0", "K1", "T_0to1")]
    return gt_from_depth(*args, T_1to0=_batched(g, "T_1to0") if with_inverse else None,
                         pos_th=3.0, neg_th=5.0, epi_th=epi_th)


@pytest.mark.parametrize("prefix", ["", "epi_"])  # main case, case B (exercises the epipolar step)
def test_depth_labels_identical(prefix: str) -> None:
    g = _load("depth_gt")
    out = _depth_gt(g, prefix)
    _assert_labels(out, g, prefix)
    for key in ("visible0", "visible1"):
        np.testing.assert_array_equal(out[f"gt_{key}"][0].numpy(), g[f"{prefix}gt_{key}"], err_msg=key)
    for key in ("depth_keypoints0", "depth_keypoints1", "proj_0to1", "proj_1to0"):
        ours, ref = out[f"gt_{key}"][0].numpy(), g[f"{prefix}gt_{key}"]
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=key)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4, equal_nan=True, err_msg=key)
    noepi = _depth_gt(g, prefix, epi_th=None)
    _assert_labels(noepi, g, prefix, source="noepi_gt_")
    assert torch.equal(noepi["gt_assignment"], out["gt_assignment"])  # the step only adds -1
    if prefix == "epi_":  # the step turns ignored points without depth into unmatchable ones
        changed0 = (out["gt_matches0"] != noepi["gt_matches0"])[0].numpy()
        assert changed0.sum() == 3 and (g["epi_category0"][changed0] == 22).all()
        assert (noepi["gt_matches0"][0, changed0] == -2).all() and (out["gt_matches0"][0, changed0] == -1).all()


def test_depth_labels_with_the_inverse_pose_computed() -> None:
    g = _load("depth_gt")
    _assert_labels(_depth_gt(g, with_inverse=False), g)


def test_depth_sampling_rules() -> None:
    depth = torch.tensor([[[1.0, 2.0, 4.0, 8.0], [3.0, 5.0, 7.0, 9.0], [2.0, 2.0, 2.0, 0.0]]])  # (2, 3) invalid
    kp = torch.tensor([[[1.0, 0.5], [0.5, 1.0], [0.25, 0.5], [3.2, 2.3], [2.9, 2.2], [1.5, 1.5]]])
    d, valid = sample_depth(kp, depth)
    # bilinear between pixel centres (c + 0.5, r + 0.5); a quarter pixel beyond the border the
    # missing neighbour counts as 0; next to the invalid pixel the nearest pixel is used
    expected = [1.5, 2.0, 0.75, float("nan"), 2.0, 5.0]
    np.testing.assert_allclose(d[0].numpy(), expected, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(valid[0].numpy(), [True, True, True, False, True, True])


def test_depth_bad_input() -> None:
    kp = torch.rand(1, 4, 2)
    eye = torch.eye(3)[None]
    with pytest.raises(ValueError, match=r"T_0to1 must be a tensor \[1, 4, 4\]"):
        gt_from_depth(kp, kp, torch.ones(1, 8, 8), torch.ones(1, 8, 8), eye, eye, torch.eye(4))
    with pytest.raises(ValueError, match="depth1"):
        gt_from_depth(kp, kp, torch.ones(1, 8, 8), torch.ones(8, 8), eye, eye, torch.eye(4)[None])
