"""Collection verbs: clear errors, unreadable images skipped, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from lightglue.cli import main
from lightglue.collection.features_h5 import ImageFeatures, feature_record
from lightglue.collection.h5store import H5Store
from lightglue.collection.pairs import exhaustive_pairs, write_pairs

CLI = [sys.executable, "-c", "from lightglue.cli import main; main()"]
# One torch thread in the subprocesses: their results do not depend on it (both runs use the
# same), and it keeps them fast when other processes compete for the cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _texture(seed: int, shape=(240, 320)) -> np.ndarray:
    """A blurred random texture with structure at several scales (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    img = sum(cv2.resize(rng.uniform(0, 255, (s, s * 4 // 3, 3)), shape[::-1]) for s in (6, 24, 96)) / 3
    return np.clip(img, 0, 255).astype(np.uint8)


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
        cv2.imwrite(str(photos / f"img{i}.png"), _texture(i))
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
    cv2.imwrite(str(out / "picture.png"), _texture(7))
    (photos / ".hidden").mkdir()
    cv2.imwrite(str(photos / ".hidden" / "x.png"), _texture(8))
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


def _synthetic_features(path: Path, num_images: int = 8, n: int = 128) -> list[str]:
    """features.h5 of images that see one random scene with small shifts (matchable)."""
    rng = np.random.default_rng(0)
    base_kpts = rng.uniform(0, [640, 480], (n, 2))
    base_desc = rng.normal(size=(n, 128))
    store = H5Store(path)
    names = [f"frame{i:03d}.jpg" for i in range(num_images)]
    records = []
    for i, name in enumerate(names):
        desc = base_desc + 0.3 * rng.normal(size=base_desc.shape)
        perm = rng.permutation(n)
        records.append(
            feature_record(
                name,
                ImageFeatures(
                    keypoints=(base_kpts + [3.0 * i, 2.0 * i] + rng.normal(size=(n, 2)))[perm].astype(np.float32),
                    descriptors=(desc / np.linalg.norm(desc, axis=1, keepdims=True))[perm].astype(np.float32),
                    scores=rng.uniform(size=n),
                    image_size=np.array([640, 480]),
                ),
            )
        )
    store.append(records)
    store.consolidate()
    return names


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
    names = _synthetic_features(tmp_path / "features.h5")
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
    _synthetic_features(tmp_path / "features.h5")
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
        cv2.imwrite(str(photos / f"img{i}.png"), _texture(10 + i))
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
