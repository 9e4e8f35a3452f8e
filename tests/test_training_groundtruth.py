"""Ground truth for training against the reference recipe's outputs (../shared/golden/training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lightglue.training.groundtruth import gt_from_homography

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden" / "training"


def _load(name: str) -> dict[str, np.ndarray]:
    path = GOLDEN / f"{name}.npz"
    if not path.is_file():
        pytest.skip(f"golden fixture not found: {path}")
    return dict(np.load(path))


def _batched(g: dict[str, np.ndarray], key: str) -> torch.Tensor:
    return torch.from_numpy(g[key])[None]


def _assert_labels(out: dict, g: dict, prefix: str = "", source: str = "gt_") -> None:
    for key in ("matches0", "matches1", "assignment"):
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
