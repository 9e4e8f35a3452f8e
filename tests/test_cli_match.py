"""The ``lightglue match`` verb: bundled pair with its ground truth, user images, bad input."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from lightglue.cli import main
from lightglue.sample_data import disparity_errors, stereo_motorcycle


def test_bundled_pair_meets_its_ground_truth(tmp_path):
    result = CliRunner().invoke(main, ["match", "--max-keypoints", "1024", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "result.json").read_text())
    assert (tmp_path / "matches.png").stat().st_size > 10_000
    assert (tmp_path / "pruning.png").stat().st_size > 10_000
    assert record["num_keypoints"] == [len(record["keypoints0"]), len(record["keypoints1"])]
    assert record["num_matches"] == len(record["matches"]) == len(record["scores"]) > 500
    assert 1 <= record["layers_run"] <= 9
    assert min(record["scores"]) > 0.1
    check = record["disparity_check"]
    assert check["share_within_1px"] > 0.8
    assert "within 1 px" in result.output
    # the printed share is recomputable from the written keypoints and matches
    _, _, disparity = stereo_motorcycle()
    m = np.array(record["matches"])
    errors = disparity_errors(np.array(record["keypoints0"])[m[:, 0]], np.array(record["keypoints1"])[m[:, 1]], disparity)
    known = np.isfinite(errors)
    assert known.sum() == check["matches_with_ground_truth"]
    assert abs((errors[known] < 1).mean() - check["share_within_1px"]) < 0.01


def test_disparity_errors_on_exact_correspondences():
    disparity = np.full((20, 30), 4.0, dtype=np.float32)
    disparity[0, 0] = np.inf
    k0 = np.array([[10.0, 5.0], [12.5, 7.25], [0.2, 0.2], [40.0, 3.0]])
    k1 = k0 - [4.0, 0.0]
    k1[1, 1] += 3.0
    err = disparity_errors(k0, k1, disparity)
    assert err[0] == 0 and err[1] == pytest.approx(3.0)
    assert np.isnan(err[2]) and np.isnan(err[3])


def test_user_images(tmp_path):
    left, right, _ = stereo_motorcycle()
    paths = []
    for name, im in (("a.png", left[::2, ::2]), ("b.png", right[::2, ::2])):
        cv2.imwrite(str(tmp_path / name), im[..., ::-1])
        paths.append(str(tmp_path / name))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["match", *paths, "--features", "disk", "--max-keypoints", "512", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "result.json").read_text())
    assert record["features"] == "disk" and record["num_matches"] > 100
    assert "disparity_check" not in record


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing0.png", "missing1.png"], "missing0.png"),
        (["only_one.png"], "give two images"),
        (["--features", "orb"], "Invalid value for '--features'"),
        (["--max-keypoints", "0"], "Invalid value for '--max-keypoints'"),
        (["--bogus"], "No such option"),
    ],
)
def test_bad_arguments(tmp_path, args, message):
    result = CliRunner().invoke(main, ["match", *args, "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize("shape,dtype", [((5, 5, 3), np.uint8), ((120, 160), np.uint16), ((120, 160, 4), np.uint8)])
def test_tiny_sixteen_bit_and_rgba_images(tmp_path, shape, dtype):
    image = (np.random.default_rng(0).random(shape) * np.iinfo(dtype).max).astype(dtype)
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), image)
    result = CliRunner().invoke(main, ["match", str(path), str(path), "--max-keypoints", "64", "--out", str(tmp_path / "o")])
    assert "Traceback" not in result.output
    if shape[0] < 32:
        assert result.exit_code == 1 and "5x5 pixels" in result.output
        assert not (tmp_path / "o" / "result.json").exists()
    else:  # an image matched with itself: every keypoint finds itself
        assert result.exit_code == 0, result.output
        record = json.loads((tmp_path / "o" / "result.json").read_text())
        assert record["num_matches"] >= 0.9 * record["num_keypoints"][0] > 0


def test_corrupt_image(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    result = CliRunner().invoke(main, ["match", str(bad), str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "bad.jpg" in result.output
    assert "Traceback" not in result.output
