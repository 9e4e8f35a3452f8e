"""DoGHardNet: SIFT's detections described by kornia's HardNet; its weights through our resolver."""

from __future__ import annotations

import pytest
import torch

from lightglue import SIFT, DoGHardNet
from lightglue.image import numpy_image_to_torch
from lightglue.sample_data import stereo_motorcycle
from lightglue.weights import WeightsNotFoundError


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    """A 360 x 280 crop of the bundled photo (features are extracted at this size: resize=None)."""
    return numpy_image_to_torch(stereo_motorcycle()[0][100:380, 200:560])


def random_dog_hardnet(seed: int = 0, **conf) -> DoGHardNet:
    torch.manual_seed(seed)
    return DoGHardNet(weights=None, max_num_keypoints=256, **conf).eval()


def test_sift_detections_with_unit_128d_descriptors(image):
    feats = random_dog_hardnet().extract(image, resize=None)
    sift = SIFT(max_num_keypoints=256).extract(image, resize=None)
    n = feats["keypoints"].shape[1]
    assert n > 100 and feats["descriptors"].shape == (1, n, 128)
    for key in ("keypoints", "scales", "oris", "keypoint_scores"):
        assert torch.equal(feats[key], sift[key]), key
    norms = feats["descriptors"][0].norm(dim=-1)
    assert torch.allclose(norms, torch.ones(n), atol=1e-4)
    assert not torch.allclose(feats["descriptors"][0, 0], feats["descriptors"][0, 1])


def test_deterministic_and_independent_of_train_mode(image):
    model = random_dog_hardnet()
    a = model.extract(image, resize=None)["descriptors"]
    model.train()  # HardNet keeps its fixed statistics and no dropout
    b = model.extract(image, resize=None)["descriptors"]
    assert torch.equal(a, b)


def test_descriptors_follow_the_patch_orientation(image):
    """Turning every orientation by 90 degrees changes the sampled patches, hence the descriptors."""
    model = random_dog_hardnet()
    gray = image.mean(0, keepdim=True)
    feats = {k: v[0] for k, v in SIFT(max_num_keypoints=64).extract(image, resize=None).items()}
    upright = model._describe(gray, feats)
    turned = model._describe(gray, {**feats, "oris": feats["oris"] + torch.pi / 2})
    assert upright.shape == turned.shape == (feats["keypoints"].shape[0], 128)
    assert (upright - turned).norm(dim=-1).mean() > 0.1


def test_weights_are_loaded_from_the_weights_dir(image, tmp_path, monkeypatch):
    source = random_dog_hardnet(seed=3)
    state = source.laf_desc.descriptor.state_dict()
    torch.save({"state_dict": state}, tmp_path / "checkpoint_liberty_with_aug.pth")  # kornia's file layout
    monkeypatch.setenv("LIGHTGLUE_WEIGHTS_DIR", str(tmp_path))
    loaded = DoGHardNet(max_num_keypoints=256).eval()
    assert torch.equal(loaded.extract(image, resize=None)["descriptors"], source.extract(image, resize=None)["descriptors"])
    explicit = DoGHardNet(max_num_keypoints=256, weights=str(tmp_path / "checkpoint_liberty_with_aug.pth"))
    assert torch.equal(explicit.laf_desc.descriptor.features[0].weight, source.laf_desc.descriptor.features[0].weight)


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTGLUE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("LIGHTGLUE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError) as err:
        DoGHardNet()
    text = str(err.value)
    assert "checkpoint_liberty_with_aug.pth" in text and "LIGHTGLUE_WEIGHTS_DIR" in text
    assert "DagnyT/hardnet" in text and str(tmp_path / "torch" / "hub" / "checkpoints") in text


def test_no_keypoints_gives_empty_descriptors():
    feats = random_dog_hardnet().extract(torch.full((3, 64, 64), 0.5))
    assert feats["descriptors"].shape == (1, 0, 128)
