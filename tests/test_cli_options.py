"""Bad option values of match / bench / eval are clear usage errors before any work starts."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from lightglue.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def verbs(tmp_path):
    """Each verb's command line up to its --device option (eval needs an existing root)."""
    return {
        "match": ["match"],
        "bench": ["bench", "--out", str(tmp_path / "bench")],
        "eval homography": ["eval", "homography", str(tmp_path)],
        "eval pose": ["eval", "pose", str(tmp_path)],
    }


@pytest.mark.parametrize("verb", ["match", "bench", "eval homography", "eval pose"])
def test_unknown_device_is_a_usage_error(verbs, verb):
    result = invoke(*verbs[verb], "--device", "foo")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--device'" in result.output and "'foo' is not a torch device" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("verb", ["match", "bench", "eval homography"])
def test_cuda_without_a_gpu_is_a_usage_error(verbs, verb):
    result = invoke(*verbs[verb], "--device", "cuda")
    assert result.exit_code == 2 and "no CUDA GPU is available" in result.output


@pytest.mark.parametrize("value", ["-5", "0,256", "abc"])
def test_bench_keypoint_counts_are_checked(tmp_path, value):
    result = invoke("bench", "--keypoints", value, "--out", str(tmp_path / "bench"))
    assert result.exit_code == 2, result.output
    assert "Invalid value for --keypoints" in result.output
    assert not (tmp_path / "bench").exists()


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("--depth-confidence", "nan", "not in (0, 1]"),
        ("--depth-confidence", "1.5", "not in (0, 1]"),
        ("--width-confidence", "0", "not in (0, 1]"),
        ("--width-confidence", "x", "not a number"),
        ("--filter-threshold", "5", "not in the range 0<=x<=1"),
        ("--filter-threshold", "-0.1", "not in the range 0<=x<=1"),
    ],
)
@pytest.mark.parametrize("verb", ["match", "eval homography", "eval pose"])
def test_matcher_options_are_range_checked(verbs, tmp_path, verb, option, value, message):
    result = invoke(*verbs[verb], option, value, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output and message in result.output
    assert not (tmp_path / "out").exists()
