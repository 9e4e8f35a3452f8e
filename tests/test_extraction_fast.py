"""The fast ALIKED and DISK paths against kornia's networks run as kornia runs them.

Reference sides: ALIKED = kornia's ``extract_dense_map`` (densely normalised features) + our
reference detection + kornia's SDDH ``desc_head`` (the path before the fast one); DISK = kornia's
``DISK.forward``. Keypoints and scores must be bit-identical, descriptors within cosine 0.9999.
Small images (256 px, a batch of two) keep this fast.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lightglue.extractors.aliked import refine_keypoints, select_keypoints
from lightglue.extractors.aliked_descriptors import describe_keypoints
from lightglue.extractors.base import max_filter, pad_and_stack
from lightglue.extractors.deformable_conv import deformable_res_block
from lightglue.extractors.disk_sparse import descriptors_at
from lightglue.image import numpy_image_to_torch, resize_image

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def batch(golden) -> torch.Tensor:
    """``[2, 3, 256, 256]``: the astronaut and the mirrored motorcycle, resized as extract() does."""
    astronaut = resize_image(numpy_image_to_torch(golden["astronaut_h"]["image0"]), 256)[0]
    motorcycle = resize_image(numpy_image_to_torch(golden["motorcycle"]["image0"]), (256, 256))[0]
    return torch.stack([astronaut, motorcycle.flip(-1)])


def kornia_aliked(extractor, image: torch.Tensor) -> dict[str, torch.Tensor]:
    net, conf = extractor.net, extractor.conf
    features, scores = net.extract_dense_map(image)
    h, w = features.shape[-2:]
    per_image = []
    selected = select_keypoints(scores, conf.nms_radius, conf.detection_threshold, conf.max_num_keypoints)
    for i, indices in enumerate(selected):
        normalized, kp_scores = refine_keypoints(scores[i], indices, conf.nms_radius)
        descriptors = net.desc_head(features[i : i + 1], [normalized])[0][0]
        keypoints = torch.tensor([w - 1, h - 1]) * (normalized + 1) / 2
        per_image.append({"keypoints": keypoints, "keypoint_scores": kp_scores, "descriptors": descriptors})
    return pad_and_stack(per_image)


def kornia_disk(extractor, image: torch.Tensor) -> dict[str, torch.Tensor]:
    conf = extractor.conf
    features = extractor.net(
        image,
        n=conf.max_num_keypoints,
        window_size=conf.nms_window_size,
        score_threshold=conf.detection_threshold,
        pad_if_not_divisible=True,
    )
    keys = {"keypoints": "keypoints", "keypoint_scores": "detection_scores", "descriptors": "descriptors"}
    return pad_and_stack([{ours: getattr(f, theirs) for ours, theirs in keys.items()} for f in features])


def assert_same_features(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> None:
    assert ref["keypoint_mask"].sum(1).min() > 100  # enough keypoints for the comparison to mean something
    assert torch.equal(ours["keypoint_mask"], ref["keypoint_mask"])
    assert torch.equal(ours["keypoints"], ref["keypoints"])
    assert torch.equal(ours["keypoint_scores"], ref["keypoint_scores"])
    cosine = (ours["descriptors"] * ref["descriptors"]).sum(-1)[ref["keypoint_mask"]]
    assert cosine.min() >= MIN_COSINE


@pytest.mark.parametrize("crop", [(256, 256), (250, 171)])  # a side not divisible by 32 pads inside the network
def test_aliked_fast_path_equals_kornia(extractors, batch, crop):
    image = batch[..., : crop[1], : crop[0]]
    with torch.inference_mode():
        assert_same_features(extractors["aliked"]({"image": image}), kornia_aliked(extractors["aliked"], image))


@pytest.mark.parametrize("crop", [(256, 256), (250, 171)])  # a side not divisible by 16 is zero-padded
def test_disk_fast_path_equals_kornia(extractors, batch, crop):
    image = batch[..., : crop[1], : crop[0]]
    with torch.inference_mode():
        assert_same_features(extractors["disk"]({"image": image}), kornia_disk(extractors["disk"], image))


def test_aliked_descriptors_at_the_border(extractors):
    """Keypoints on the map's edges and corners: the 3x3 patch is clamped inside, samples outside read zeros."""
    head = extractors["aliked"].net.desc_head
    torch.manual_seed(0)
    full = torch.randn(1, 128, 40, 60)
    crop = full[:, :, 3:36, 5:52]  # a crop of a larger map, as the trunk returns it
    keypoints = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.97, -0.99], [0.0, 0.0], [0.31, -0.52]])
    with torch.inference_mode():
        ours = describe_keypoints(head, crop[0], keypoints)
        ref = head(F.normalize(crop, dim=1), [keypoints])[0][0]
    assert ((ours * ref).sum(-1) >= MIN_COSINE).all()


def test_disk_descriptors_at_the_border(extractors):
    conv = extractors["disk"].net.unet.path_up[-1].conv[-1]
    torch.manual_seed(0)
    inputs = torch.randn(1, conv.in_channels, 20, 30)
    xy = torch.tensor([[0, 0], [29, 19], [0, 19], [29, 0], [1, 18], [15, 10]])
    with torch.inference_mode():
        dense = F.normalize(conv(inputs)[0, :128], dim=0)
        ours = descriptors_at(conv, inputs[0], xy, 128)
    torch.testing.assert_close(ours, dense[:, xy[:, 1], xy[:, 0]].T, atol=1e-5, rtol=0)


@pytest.mark.parametrize("radius", [1, 2, 4])
def test_max_filter_equals_max_pooling(radius):
    torch.manual_seed(0)
    x = torch.rand(2, 1, 23, 31)
    x[0, 0, 5:9, 5:9] = 0.5  # ties
    x[1, 0, -1, -1] = 2.0  # a maximum in the corner
    expected = F.max_pool2d(x, 2 * radius + 1, stride=1, padding=radius)
    assert torch.equal(max_filter(x, radius), expected)


def test_deformable_blocks_are_bit_identical(extractors):
    net = extractors["aliked"].net
    torch.manual_seed(0)
    x = torch.rand(2, net.block3.conv1.regular_conv.in_channels, 24, 40)
    with torch.inference_mode():
        out3 = deformable_res_block(net.block3, x)
        assert torch.equal(out3, net.block3(x))
        pooled = net.pool4(out3)
        assert torch.equal(deformable_res_block(net.block4, pooled), net.block4(pooled))


@pytest.mark.parametrize("feat", ["aliked", "disk"])
def test_fast_path_runs_under_autograd(extractors, batch, feat):
    """Outside inference mode (weights requiring grad) the in-place kernels fall back; same outputs."""
    image = batch[..., :96, :128]
    out = extractors[feat]({"image": image})
    with torch.inference_mode():
        ref = extractors[feat]({"image": image})
    assert out["descriptors"].requires_grad
    assert torch.equal(out["keypoints"], ref["keypoints"])
    torch.testing.assert_close(out["descriptors"].detach(), ref["descriptors"], atol=1e-6, rtol=0)
