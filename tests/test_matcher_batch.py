"""Batches with unequal keypoint counts give each pair what it gets alone."""

import numpy as np
import pytest
import torch

from golden import MODES, features
from lightglue import LightGlue
from lightglue.utils import batch_features


def _assert_only_ties(m0, ref, scores, ref_scores):
    """Where the assignments differ, two duplicate keypoints (same place, same descriptor)
    tie for one partner and float rounding of the padded batch picks the other one: the
    match is then the same up to the duplicate, with the same score."""
    for i in np.nonzero(m0 != ref)[0]:
        if m0[i] > -1 and ref[i] > -1:  # i chose between two duplicates in the other image
            assert abs(scores[i] - ref_scores[i]) < 1e-3, f"point {i}: {m0[i]} vs {ref[i]} is not a tie"
            continue
        j = m0[i] if m0[i] > -1 else ref[i]  # a duplicate of i took partner j instead
        taker = np.nonzero(ref == j)[0] if m0[i] > -1 else np.nonzero(m0 == j)[0]
        assert len(taker) == 1, f"point {i}: match {j} is not a tie"
        s_i = scores[i] if m0[i] > -1 else ref_scores[i]
        s_taker = ref_scores[taker[0]] if m0[i] > -1 else scores[taker[0]]
        assert abs(s_i - s_taker) < 1e-3, f"point {i}: match {j} is not a tie"


def _single(matcher, f0, f1):
    with torch.inference_mode():
        return matcher({"image0": f0, "image1": f1})


@pytest.fixture(scope="module")
def pairs(golden):
    """Four pairs with different sizes and difficulty (aliked features)."""
    moto, astro = golden["motorcycle"], golden["astronaut_h"]
    m0, m1 = features(moto, "aliked", 0), features(moto, "aliked", 1)
    a0, a1 = features(astro, "aliked", 0), features(astro, "aliked", 1)
    cut = {k: (v[:, :700] if k != "image_size" else v) for k, v in m1.items()}
    return [(m0, m1), (a0, a1), (a1, a0), (m0, cut)]


@pytest.mark.parametrize("mode", list(MODES))
def test_batch_equals_single(pairs, mode):
    matcher = LightGlue("aliked", **MODES[mode]).eval()
    singles = [_single(matcher, f0, f1) for f0, f1 in pairs]
    batch0 = batch_features([p[0] for p in pairs])
    batch1 = batch_features([p[1] for p in pairs])
    assert batch0["keypoint_mask"].sum(1).tolist() == [2048, 1761, 1114, 2048]
    out = _single(matcher, batch0, batch1)
    stops = [int(s["stop"][0]) for s in singles]
    if mode == "adaptive":
        assert len(set(stops)) > 1, "the pairs should exit at different layers"
    assert out["stop"].tolist() == stops
    for k, (single, (f0, f1)) in enumerate(zip(singles, pairs)):
        m, n = f0["keypoints"].shape[1], f1["keypoints"].shape[1]
        m0, ref = out["matches0"][k, :m].numpy(), single["matches0"][0].numpy()
        assert (m0 == ref).mean() >= 0.995
        _assert_only_ties(m0, ref, out["matching_scores0"][k, :m].numpy(), single["matching_scores0"][0].numpy())
        assert (out["matches0"][k, m:] == -1).all() and (out["prune0"][k, m:] == 0).all()
        both = (m0 > -1) & (ref > -1)
        diff = (out["matching_scores0"][k, :m] - single["matching_scores0"][0]).abs().numpy()[both]
        assert diff.max() < 1e-4
        assert (out["prune0"][k, :m] == single["prune0"][0]).float().mean() >= 0.999
        assert (out["prune1"][k, :n] == single["prune1"][0]).float().mean() >= 0.999
        assert len(out["matches"][k]) == int((out["matches0"][k] > -1).sum())


def test_batch_with_an_empty_image(pairs):
    matcher = LightGlue("aliked").eval()
    (m0, m1), (a0, a1) = pairs[0], pairs[1]
    empty = {k: (v[:, :0] if k != "image_size" else v) for k, v in a1.items()}
    out = _single(matcher, batch_features([m0, a0]), batch_features([m1, empty]))
    alone = _single(matcher, m0, m1)
    assert out["stop"].tolist() == [int(alone["stop"][0]), 0]
    assert (out["matches0"][1] == -1).all() and len(out["matches"][1]) == 0
    assert np.array_equal(out["matches0"][0].numpy(), alone["matches0"][0].numpy())
