"""Official-name utilities: match_pair, rbd, batch_features, and the viz2d pictures."""

import matplotlib
import matplotlib.pyplot
import numpy as np
import pytest
import torch

from lightglue import ALIKED, LightGlue, viz2d
from lightglue.image import numpy_image_to_torch
from lightglue.sample_data import stereo_motorcycle
from lightglue.utils import batch_features, batch_to_device, match_pair, rbd


@pytest.fixture(scope="module")
def pair():
    left, right, _ = stereo_motorcycle()
    return numpy_image_to_torch(left[::2, ::2]), numpy_image_to_torch(right[::2, ::2])


def test_match_pair_returns_unbatched_results(pair):
    extractor, matcher = ALIKED(max_num_keypoints=256).eval(), LightGlue("aliked").eval()
    with torch.inference_mode():
        feats0, feats1, out = match_pair(extractor, matcher, *pair, resize=None)
    assert feats0["keypoints"].ndim == 2 and feats0["keypoints"].shape[1] == 2
    assert feats0["descriptors"].shape == (feats0["keypoints"].shape[0], 128)
    assert out["matches0"].shape == (feats0["keypoints"].shape[0],)
    m = out["matches"]
    assert m.shape[1] == 2 and len(m) > 50 and len(out["scores"]) == len(m)
    assert torch.equal(out["matches0"][m[:, 0]], m[:, 1])
    # rectified stereo: matched points lie on the same row
    dy = (feats0["keypoints"][m[:, 0], 1] - feats1["keypoints"][m[:, 1], 1]).abs()
    assert (dy < 2).float().mean() > 0.9


def test_rbd_and_batch_to_device():
    data = {"a": torch.zeros(1, 3), "b": [torch.ones(2)], "c": 5, "d": np.zeros((1, 2))}
    out = rbd(data)
    assert out["a"].shape == (3,) and out["b"].shape == (2,) and out["c"] == 5 and out["d"].shape == (2,)
    moved = batch_to_device({"x": {"y": torch.ones(2, requires_grad=True)}, "s": "name"}, "cpu")
    assert not moved["x"]["y"].requires_grad and moved["s"] == "name"


def test_batch_features_pads_and_masks():
    f = [
        {"keypoints": torch.rand(1, 5, 2), "descriptors": torch.rand(1, 5, 8), "image_size": torch.tensor([[10.0, 20.0]])},
        {"keypoints": torch.rand(3, 2), "descriptors": torch.rand(3, 8), "image_size": torch.tensor([30.0, 40.0])},
    ]
    b = batch_features(f)
    assert b["keypoints"].shape == (2, 5, 2) and b["descriptors"].shape == (2, 5, 8)
    assert b["keypoint_mask"].tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert torch.equal(b["keypoints"][1, :3], f[1]["keypoints"]) and (b["keypoints"][1, 3:] == 0).all()
    assert b["image_size"].tolist() == [[10.0, 20.0], [30.0, 40.0]]
    with pytest.raises(ValueError, match="at least one"):
        batch_features([])
    with pytest.raises(ValueError, match="one image per dict"):
        batch_features([{"keypoints": torch.rand(2, 5, 2), "descriptors": torch.rand(2, 5, 8)}])
    with pytest.raises(ValueError, match="'keypoints' and 'descriptors'"):
        batch_features([{"keypoints": torch.rand(5, 2)}])


def test_colour_maps():
    prune = torch.tensor([1, 3, 6, 6])
    colors = viz2d.cm_prune(prune)
    assert colors.shape == (4, 4)
    assert np.allclose(colors[2], colors[3]) and np.allclose(colors[3], (0.1, 0.4, 1.0, 1.0))
    assert not np.allclose(colors[0], colors[1])
    ranks = viz2d.cm_ranking(np.array([0.0, 1.0]))
    red, green = matplotlib.colormaps["RdYlGn"](0.0), matplotlib.colormaps["RdYlGn"](1.0)
    assert np.allclose(ranks[0], red) and np.allclose(ranks[1], green)


def test_plots_are_written(pair, tmp_path):
    image0, image1 = pair
    k = torch.tensor([[10.0, 20.0], [100.0, 50.0]])
    axes = viz2d.plot_images([image0, image1.permute(1, 2, 0).numpy()], titles=["a", "b"])
    assert len(axes) == 2
    viz2d.plot_keypoints([k, k], colors=[viz2d.cm_prune(torch.tensor([1, 9]), 9), "lime"])
    viz2d.plot_matches(k, k + 5, color=viz2d.cm_ranking(np.array([0.2, 0.9])))
    viz2d.add_text(0, "two matches")
    viz2d.save_plot(tmp_path / "sub" / "plot.png")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["plot.png"]  # no temporary file left
    data = matplotlib.image.imread(tmp_path / "sub" / "plot.png")
    assert data.shape[0] > 100 and data.shape[1] > 2 * data.shape[0] * 0.8
    with pytest.raises(ValueError, match="as many points"):
        viz2d.plot_images([image0, image1])
        viz2d.plot_matches(k, k[:1])
    matplotlib.pyplot.close("all")
