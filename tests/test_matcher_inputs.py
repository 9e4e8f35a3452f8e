"""Bad or degenerate matcher inputs give clear errors or empty results, never a torch crash."""

import pytest
import torch

from golden import features
from lightglue import LightGlue


@pytest.fixture(scope="module")
def matcher():
    return LightGlue("aliked").eval()


def feats(n, d=128, b=1, size=(640.0, 480.0)):
    g = torch.Generator().manual_seed(n + d)
    return {
        "keypoints": torch.rand(b, n, 2, generator=g) * torch.tensor(size),
        "descriptors": torch.nn.functional.normalize(torch.randn(b, n, d, generator=g), dim=-1),
        "image_size": torch.tensor([size] * b),
    }


@pytest.mark.parametrize("n0,n1", [(0, 50), (50, 0), (0, 0), (1, 1), (1, 40)])
def test_zero_or_one_keypoint(matcher, n0, n1):
    with torch.inference_mode():
        out = matcher({"image0": feats(n0), "image1": feats(n1)})
    assert out["matches0"].shape == (1, n0) and out["matches1"].shape == (1, n1)
    assert out["matches"][0].shape[1] == 2 and len(out["scores"][0]) == len(out["matches"][0])
    if n0 == 0 or n1 == 0:
        assert int(out["stop"][0]) == 0 and len(out["matches"][0]) == 0
    else:
        assert 1 <= int(out["stop"][0]) <= 9


def test_descriptor_size_does_not_fit_preset(matcher):
    with pytest.raises(ValueError, match="descriptor size 256 does not fit the 'aliked' preset"):
        matcher({"image0": feats(10, d=256), "image1": feats(10, d=256)})


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda f: f.update(keypoints=f["keypoints"][0]), r"keypoints must be \[B, N, 2\].*add a batch dimension"),
        (lambda f: f.update(keypoints=f["keypoints"][..., :1]), r"keypoints must be \[B, N, 2\]"),
        (lambda f: f.update(descriptors=f["descriptors"][:, :5]), r"descriptors must be \[B, N, D\]"),
        (lambda f: f.pop("descriptors"), "missing key 'descriptors'"),
        (lambda f: f.update(image_size=torch.ones(1, 3)), r"image_size must be \[B, 2\]"),
        (lambda f: f.update(keypoint_mask=torch.ones(1, 3, dtype=torch.bool)), "keypoint_mask must be"),
        (lambda f: f.update(keypoints=f["keypoints"].long()), "floating point"),
    ],
)
def test_wrong_shapes(matcher, change, message):
    f0 = feats(10)
    change(f0)
    with pytest.raises(ValueError, match=message):
        matcher({"image0": f0, "image1": feats(12)})


def test_batch_sizes_must_agree(matcher):
    with pytest.raises(ValueError, match="different batch sizes"):
        matcher({"image0": feats(10, b=2), "image1": feats(10)})


def test_missing_image_key(matcher):
    with pytest.raises(ValueError, match="'image0' and 'image1'"):
        matcher({"image0": feats(10)})


def test_sift_needs_scales_and_orientations():
    model = LightGlue(features=None, input_dim=128, add_scale_ori=True).eval()
    with pytest.raises(ValueError, match="'scales'"):
        model({"image0": feats(10), "image1": feats(10)})
    f0, f1 = feats(10), feats(12)
    for f, n in ((f0, 10), (f1, 12)):
        f["scales"], f["oris"] = torch.ones(1, n), torch.zeros(1, n)
    with torch.inference_mode():
        out = model({"image0": f0, "image1": f1})
    assert out["matches0"].shape == (1, 10)


def test_unknown_option_warns_and_unknown_features_raise():
    with pytest.warns(UserWarning, match="unknown option 'depth_confidense' is ignored; did you mean 'depth_confidence'"):
        model = LightGlue("aliked", depth_confidense=0.9)
    assert model.conf.depth_confidence == 0.95
    with pytest.raises(ValueError, match="Unsupported features"):
        LightGlue("orb")


def test_user_arguments_override_the_preset():
    model = LightGlue(features=None, input_dim=256, n_layers=3)
    assert model.conf.n_layers == 3 and len(model.transformers) == 3
    aliked = LightGlue("aliked", filter_threshold=0.5, depth_confidence=-1)
    assert aliked.conf.filter_threshold == 0.5 and aliked.conf.depth_confidence == -1
    assert aliked.conf.input_dim == 128


def test_without_image_size_uses_keypoint_extent(matcher):
    f0, f1 = feats(30), feats(30)
    del f0["image_size"], f1["image_size"]
    with torch.inference_mode():
        out = matcher({"image0": f0, "image1": f1})
    assert out["matches0"].shape == (1, 30)


def test_flash_off_gives_the_same_matches(golden):
    f0, f1 = (features(golden["motorcycle"], "aliked", i) for i in (0, 1))
    f0, f1 = ({k: v if k == "image_size" else v[:, :400] for k, v in f.items()} for f in (f0, f1))
    with torch.inference_mode():
        fused = LightGlue("aliked", depth_confidence=-1).eval()({"image0": f0, "image1": f1})
        plain = LightGlue("aliked", depth_confidence=-1, flash=False).eval()({"image0": f0, "image1": f1})
    assert (fused["matches0"] == plain["matches0"]).float().mean() > 0.99
    assert len(fused["matches"][0]) > 200
    assert (fused["matching_scores0"] - plain["matching_scores0"]).abs().max() < 1e-3


def test_everything_pruned_gives_an_empty_result(golden):
    """width_confidence ~ 0 without confidences: every point is pruned after the first layer."""
    data = {f"image{i}": features(golden["astronaut_h"], "aliked", i) for i in (0, 1)}
    with torch.inference_mode():
        out = LightGlue("aliked", depth_confidence=-1, width_confidence=1e-9).eval()(data)
    assert out["stop"].tolist() == [1]
    assert len(out["matches"][0]) == 0 and (out["matches0"] == -1).all()
    assert (out["prune0"] == 1).all() and (out["prune1"] == 1).all()


def test_pruning_thresholds_follow_the_reference_per_device():
    assert LightGlue(features=None).pruning_min_keypoints(torch.device("cpu")) == -1
    assert LightGlue(features=None).pruning_min_keypoints(torch.device("cuda")) == 1536
    assert LightGlue(features=None, flash=False).pruning_min_keypoints(torch.device("cuda")) == 1024
    assert LightGlue(features=None, pruning_min_keypoints=10).pruning_min_keypoints(torch.device("cpu")) == 10


def test_small_images_are_not_pruned_above_the_minimum(golden):
    data = {f"image{i}": features(golden["astronaut_h"], "aliked", i) for i in (0, 1)}
    with torch.inference_mode():
        out = LightGlue("aliked", pruning_min_keypoints=5000).eval()(data)
    stop = int(out["stop"][0])
    assert (out["prune0"] == 1).all() and (out["prune1"] == 1).all() and stop >= 1


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_descriptors_of_another_float_dtype_are_converted(matcher, dtype):
    f0, f1 = feats(40), feats(45)
    with torch.inference_mode():
        ref = matcher({"image0": f0, "image1": f1})
        low0, low1 = ({**f, "descriptors": f["descriptors"].to(dtype)} for f in (f0, f1))
        out = matcher({"image0": low0, "image1": low1})
        exact = matcher({"image0": {**f0, "descriptors": low0["descriptors"].float()},
                         "image1": {**f1, "descriptors": low1["descriptors"].float()}})
    assert out["matching_scores0"].dtype == torch.float32
    assert torch.equal(out["matches0"], exact["matches0"])  # the same as converting by hand
    assert torch.equal(out["matching_scores0"], exact["matching_scores0"])
    if dtype == torch.float64:
        assert torch.equal(out["matches0"], ref["matches0"])


@pytest.mark.parametrize("key", ["keypoints", "descriptors"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_input_names_the_image_element_and_index(matcher, key, bad):
    f0, f1 = feats(20, b=2), feats(30, b=2)
    f1[key][1, 17, 0] = bad
    with pytest.raises(ValueError, match=rf"'image1': {key} holds NaN or infinite values at batch element 1, keypoint index 17"):
        matcher({"image0": f0, "image1": f1})


def test_nan_in_padding_is_ignored_and_sift_scales_are_checked(matcher):
    f0, f1 = feats(20, b=2), feats(30, b=2)
    f0["keypoint_mask"] = torch.ones(2, 20, dtype=torch.bool)
    f0["keypoint_mask"][0, 15:] = False
    f0["descriptors"][0, 18] = float("nan")  # padding: never looked at
    with torch.inference_mode():
        out = matcher({"image0": f0, "image1": f1})
    assert (out["matches0"][0, 15:] == -1).all()
    model = LightGlue(features=None, input_dim=128, add_scale_ori=True).eval()
    s0, s1 = feats(10), feats(12)
    for f, n in ((s0, 10), (s1, 12)):
        f["scales"], f["oris"] = torch.ones(1, n), torch.zeros(1, n)
    s0["oris"][0, 3] = float("nan")
    with pytest.raises(ValueError, match="'image0': oris holds NaN.*keypoint index 3"):
        model({"image0": s0, "image1": s1})
