"""Our extractor + our matcher against the reference's matches on the golden images."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from lightglue import LightGlue

CASES = [(p, f) for p in ("motorcycle", "astronaut_h") for f in ("aliked", "disk")]


@pytest.mark.parametrize("pair,feat", CASES, ids=["/".join(c) for c in CASES])
def test_reference_matches_reproduced(golden, golden_outputs, pair, feat):
    g = golden[pair]
    f0, f1 = golden_outputs(feat, pair, 0), golden_outputs(feat, pair, 1)
    with torch.inference_mode():
        out = LightGlue(feat).eval()({"image0": f0, "image1": f1})
    ours = out["matches"][0].numpy()
    k0, k1 = f0["keypoints"][0].numpy(), f1["keypoints"][0].numpy()
    ours_xy = np.concatenate([k0[ours[:, 0]], k1[ours[:, 1]]], 1)  # [S, 4]
    ref = g[f"{feat}_adaptive_matches"]
    ref_xy = np.concatenate([g[f"{feat}_keypoints0"][ref[:, 0]], g[f"{feat}_keypoints1"][ref[:, 1]]], 1)
    # a reference match is reproduced when we match the same two points (both ends within 0.5 px)
    dist, _ = cKDTree(ours_xy).query(ref_xy, distance_upper_bound=0.5 * np.sqrt(2))
    reproduced = np.isfinite(dist).mean()
    assert reproduced >= 0.98, f"only {100 * reproduced:.2f}% of the reference matches reproduced"
    assert len(ours) <= 1.02 * len(ref)
    assert int(out["stop"][0]) == int(g[f"{feat}_adaptive_stop"])
