"""Held-out homography pairs for ``lightglue eval heldout``: the right photos, the right homography."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lightglue.cli.evaluate import eval_group
from lightglue.geometry import homography_transfer_errors
from lightglue.training.data.augment import NO_AUGMENTATION
from lightglue.training.data.photos import split_of
from lightglue.training.heldout import heldout_cases, heldout_pairs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """24 textured photos (random blobs at several scales), about half of them held out at 0.5."""
    root = tmp_path_factory.mktemp("photos")
    for i in range(24):
        rng = np.random.default_rng(i)
        img = sum(cv2.resize(rng.uniform(0, 255, (s, s * 4 // 3, 3)), (400, 300)) for s in (8, 32, 120)) / 3
        cv2.imwrite(str(root / f"p{i:02d}.jpg"), np.clip(img, 0, 255).astype(np.uint8))
    return root


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_cases_are_views_of_held_out_photos_with_their_homography(corpus):
    dataset = heldout_pairs(corpus, 3, seed=5, val_fraction=0.5, min_photos=2)
    cases = list(heldout_cases(dataset, 3))
    assert len(cases) == 3
    for case in cases:
        assert split_of(case.name.split("#")[0], 0.5) == "val"
        assert case.image0.shape == (3, 480, 640) and case.size0 == (640, 480)
    # Deterministic from the seed; another seed gives other views.
    again = list(heldout_cases(heldout_pairs(corpus, 3, seed=5, val_fraction=0.5, min_photos=2), 3))
    assert all(torch.equal(a.image1, b.image1) and np.array_equal(a.H_0to1, b.H_0to1) for a, b in zip(cases, again))
    other = next(heldout_cases(heldout_pairs(corpus, 1, seed=6, val_fraction=0.5, min_photos=2), 1))
    assert not np.allclose(other.H_0to1, cases[0].H_0to1)
    # H maps view 0 onto view 1: OpenCV's SIFT matches (ratio test) agree with it.
    plain = heldout_pairs(corpus, 3, seed=5, val_fraction=0.5, min_photos=2, augmentation=NO_AUGMENTATION)
    sift, agree = cv2.SIFT_create(1000), []
    for case in heldout_cases(plain, 3):
        grey = [cv2.cvtColor((im.permute(1, 2, 0).numpy() * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
                for im in (case.image0, case.image1)]
        (k0, d0), (k1, d1) = (sift.detectAndCompute(g, None) for g in grey)
        good = [m for m, n in cv2.BFMatcher().knnMatch(d0, d1, k=2) if m.distance < 0.8 * n.distance]
        p0 = np.array([k0[m.queryIdx].pt for m in good]).reshape(-1, 2)
        p1 = np.array([k1[m.trainIdx].pt for m in good]).reshape(-1, 2)
        agree.extend(homography_transfer_errors(p0, p1, case.H_0to1) < 3)
    assert len(agree) >= 30 and np.mean(agree) > 0.5


def test_cli_heldout_compares_methods_on_the_same_keypoints(corpus, tmp_path):
    args = [str(corpus), "--pairs", "2", "--seed", "3", "--val-fraction", "0.5", "-m", "sift+ratio", "-m", "sift+mnn",
            "--max-keypoints", "256", "--estimator", "dlt", "--out", str(tmp_path)]
    result = CliRunner().invoke(eval_group, ["heldout", *args])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"]["seed"] == 3 and results["protocol"]["pairs"] == 2
    ratio, mnn = (results["methods"][m]["pairs"] for m in ("sift+ratio", "sift+mnn"))
    assert [r["name"] for r in ratio] == [r["name"] for r in mnn]
    assert [r["num_keypoints0"] for r in ratio] == [r["num_keypoints0"] for r in mnn]
    assert all(r["num_matches"] <= m["num_matches"] for r, m in zip(ratio, mnn))  # the ratio test only removes
    assert "| sift+ratio | dlt |" in result.output
    result = CliRunner().invoke(eval_group, ["heldout", str(corpus), "--pairs", "0"])
    assert result.exit_code != 0
