"""Collection verbs: clear errors, unreadable images skipped, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from collection_helpers import CLI, ENV, synthetic_features, texture
from lightglue.cli import main
from lightglue.collection.h5store import H5Store
from lightglue.collection.pairs import exhaustive_pairs, write_pairs


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    for verb in ("extract", "reconstruct"):
        result = CliRunner().invoke(main, [verb, str(tmp_path / "photos"), "--out", str(tmp_path / "out"), "-q"])
        assert result.exit_code == 1, result.output
        assert "No images found in" in result.output
    result = CliRunner().invoke(main, ["extract", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_corrupt_image_is_reported_and_skipped(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        cv2.imwrite(str(photos / f"img{i}.png"), texture(i))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" * 10)
    out = photos / "work"  # the output folder inside the image folder
    args = ["extract", str(photos), "--out", str(out), "--max-keypoints", "128", "--resize", "320", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "broken.jpg" in result.stderr and "corrupt" in result.stderr
    assert "features of 3/4 images" in result.stdout
    with h5py.File(out / "features.h5", "r") as f:
        assert sorted(f) == ["img0.png", "img1.png", "img2.png"]
        assert f["img0.png"]["keypoints"].shape[1] == 2
    # A re-run extracts nothing again, and still says which image is unreadable.
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and "(0 extracted now)" in result.stdout and "broken.jpg" in result.stderr
    # The rest of the pipeline goes on without the unreadable image.
    # Outputs written inside the image folder are not taken for photos.
    result = CliRunner().invoke(main, ["show-pair", str(out), "img0.png", "img1.png", "--images", str(photos)])
    assert result.exit_code == 1 and "run 'lightglue match-pairs' first" in result.output
    cv2.imwrite(str(out / "picture.png"), texture(7))
    (photos / ".hidden").mkdir()
    cv2.imwrite(str(photos / ".hidden" / "x.png"), texture(8))
    result = CliRunner().invoke(main, args)
    assert "features of 3/4 images" in result.stdout and "(0 extracted now)" in result.stdout
    assert CliRunner().invoke(main, ["pairs", str(out)]).exit_code == 0
    assert (out / "pairs.txt").read_text().count("\n") == 3
    result = CliRunner().invoke(main, ["match-pairs", str(out), "--max-keypoints", "128", "--resize", "320", "-q"])
    assert result.exit_code == 0, result.output
    with h5py.File(out / "matches.h5", "r") as f:
        assert sorted(f["img0.png"]) == ["img1.png", "img2.png"]
    result = CliRunner().invoke(main, ["show-pair", str(out), "img0.png", "img1.png", "--images", str(photos)])
    assert result.exit_code == 0, result.output
    assert (out / "pair_img0_img1.png").read_bytes()[:4] == b"\x89PNG"
    result = CliRunner().invoke(main, ["show-pair", str(out), "img1.png", "broken.jpg", "--images", str(photos)])
    assert result.exit_code == 1 and "not in" in result.output
    # Matching with another extractor's preset is refused with a clear message.
    result = CliRunner().invoke(main, ["match-pairs", str(out), "--preset", "disk+lightglue", "-q"])
    assert result.exit_code == 1 and "disk" in result.output.lower()


def _all_matches(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        for a in f:
            for b in f[a]:
                out[f"{a}/{b}"] = f[a][b]["matches0"][()]
    return out


def _kill_after_first_part(cmd: list[str], parts: Path) -> None:
    """Start ``cmd``, SIGKILL it as soon as it has stored its first part in ``parts``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 240
    while not (parts.is_dir() and any(parts.glob("*.h5"))):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "nothing was written in time"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_killed_match_run_resumes_to_the_same_matches(tmp_path):
    names = synthetic_features(tmp_path / "features.h5")
    write_pairs(exhaustive_pairs(names), tmp_path / "pairs.txt")  # 28 pairs
    args = ["match-pairs", str(tmp_path), "--batch-size", "2", "-q"]

    def run(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args, "--out", str(out)], capture_output=True, text=True, timeout=300, env=ENV)

    reference = run(tmp_path / "reference.h5")
    assert reference.returncode == 0, reference.stderr
    expected = _all_matches(tmp_path / "reference.h5")
    assert len(expected) == 28 and sum(int((m >= 0).sum()) for m in expected.values()) > 28 * 20

    target = tmp_path / "matches.h5"
    _kill_after_first_part([*CLI, *args, "--out", str(target)], Path(str(target) + ".parts"))
    written = H5Store(target).keys()  # every file left behind opens
    assert 0 < len(written) < 28, "the run was not killed in the middle"

    resumed = run(target)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({28 - len(written)} matched now" in resumed.stdout
    assert not Path(str(target) + ".parts").exists()
    got = _all_matches(target)
    assert got.keys() == expected.keys()
    for key, m in expected.items():
        np.testing.assert_array_equal(got[key], m, err_msg=key)


@pytest.mark.parametrize("strategy,extra,count", [("sequential", ["--window", "2"], 13), ("retrieval", [], 7)])
def test_pairs_verb_strategies(tmp_path, strategy, extra, count):
    synthetic_features(tmp_path / "features.h5")
    args = ["pairs", str(tmp_path), "--strategy", strategy, *extra]
    if strategy == "retrieval":
        args += ["--num-neighbors", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "pairs.txt").read_text().splitlines()
    assert len(lines) <= count and (strategy != "sequential" or len(lines) == count)
    result = CliRunner().invoke(main, ["pairs", str(tmp_path), "--strategy", "file"])
    assert result.exit_code != 0 and "--pairs-file" in result.output


def test_killed_extract_run_resumes_to_the_same_features(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        cv2.imwrite(str(photos / f"img{i}.png"), texture(10 + i))
    args = ["extract", str(photos), "--max-keypoints", "128", "--resize", "320", "-q"]
    reference = subprocess.run([*CLI, *args, "--out", str(tmp_path / "ref")], capture_output=True, env=ENV)
    assert reference.returncode == 0, reference.stderr

    _kill_after_first_part([*CLI, *args, "--out", str(tmp_path / "run")], tmp_path / "run" / "features.h5.parts")
    assert 0 < len(H5Store(tmp_path / "run" / "features.h5").keys()) < 5, "the run was not killed in the middle"
    resumed = subprocess.run([*CLI, *args, "--out", str(tmp_path / "run")], capture_output=True, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    with h5py.File(tmp_path / "ref" / "features.h5") as ref, h5py.File(tmp_path / "run" / "features.h5") as run:
        assert sorted(ref) == sorted(run) == [f"img{i}.png" for i in range(5)]
        for name in ref:
            for key in ("keypoints", "descriptors", "scores", "image_size"):
                np.testing.assert_array_equal(run[name][key][()], ref[name][key][()], err_msg=f"{name}/{key}")
