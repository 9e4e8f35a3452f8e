"""``lightglue train`` as a user runs it: bad input, kill -9 and --resume, the exported weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from lightglue.cli import main
from lightglue.training.config import DATA_KINDS, ConfigError, load_config
from lightglue.training.history import read_log

LIGHTGLUE = Path(sys.executable).with_name("lightglue")

TINY_TOML = """
[model]
features = "sift"
n_layers = 2
descriptor_dim = 32
num_heads = 2
[data]
kind = "homography"
root = "{root}"
num_keypoints = 48
min_photos = 1
val_fraction = 0.3
max_photo_side = 320
[train]
steps = {steps}
batch_size = 2
lr = 1e-3
log_every = 1
val_every = 0
val_batches = 1
checkpoint_every = 2
threads = 1
"""


def write_photos(folder: Path, n: int) -> Path:
    """``n`` textured 320x240 photos (blurred noise at several scales plus shapes), deterministic."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        image = np.zeros((240, 320), np.float32)
        for sigma in (1.5, 4, 10):
            image += cv2.GaussianBlur(rng.normal(size=(240, 320)).astype(np.float32), (0, 0), sigma) * sigma
        for _ in range(12):
            center = tuple(int(v) for v in rng.integers(0, (320, 240)))
            cv2.circle(image, center, int(rng.integers(4, 30)), float(rng.normal() * 3), -1)
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        cv2.imwrite(str(folder / f"photo_{i:02d}.png"), cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    return folder


def write_config(path: Path, root: Path, steps: int) -> Path:
    path.write_text(TINY_TOML.format(root=root, steps=steps))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(LIGHTGLUE), "train", *args, "--no-progress"], env=env, capture_output=True,
                          text=True, timeout=300)


def test_unknown_config_keys_are_named_with_the_closest_valid_key(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[train]\nstpes = 10\n")
    result = CliRunner().invoke(main, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "unknown config key 'train.stpes'; did you mean 'train.steps'?" in result.output
    with pytest.raises(ConfigError, match="did you mean 'model.n_layers'"):
        load_config(None, ["model.n_layer=3"])
    with pytest.raises(ConfigError, match="unknown config key 'trian'"):
        load_config(None, ["trian.steps=3"])
    with pytest.raises(ConfigError, match="train.steps must be of type int"):
        load_config(None, ["train.steps=ten"])
    assert load_config(None, ["train.steps=7", "train.mp=true", "data.root=a/b"]).train.steps == 7


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "train").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_the_repository_training_configs_load(path):
    """Every config the docs and the model card point to parses, with no unknown key."""
    config = load_config(path)
    assert config.train.steps > 0 and config.data.kind in DATA_KINDS


def test_unknown_dataset_option_and_too_small_corpus_are_clear_errors(tmp_path):
    photos = write_photos(tmp_path / "photos", 2)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    config = write_config(tmp_path / "c.toml", photos, steps=2)
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(config), "--out", str(tmp_path / "r1"), "data.nmu_keypoints=3"])
    assert result.exit_code == 1
    assert "'data.nmu_keypoints'; did you mean 'data.num_keypoints'?" in result.output
    result = runner.invoke(main, ["train", str(config), "--out", str(tmp_path / "r2"), "data.min_photos=5"])
    assert result.exit_code == 1
    assert "usable photo(s)" in result.output and "at least 5 are needed" in result.output
    assert "Traceback" not in result.output


def test_kill_9_then_resume_repeats_the_uninterrupted_losses(tmp_path):
    photos = write_photos(tmp_path / "photos", 10)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    steps = 16
    config = write_config(tmp_path / "c.toml", photos, steps)
    cache = f"data.cache_dir=\"{tmp_path / 'cache'}\""
    full = run_cli(str(config), "--out", str(tmp_path / "full"), cache)
    assert full.returncode == 0, full.stderr[-3000:]
    assert "skipped 1 unusable file(s): broken.jpg" in full.stderr

    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(LIGHTGLUE), "train", str(config), "--out", str(out), cache, "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = out / "checkpoints" / "latest"
    deadline = time.monotonic() + 240
    while not latest.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(r["step"] for r in read_log(out / "log.jsonl"))
    assert killed_at < steps

    resumed = run_cli(str(config), "--out", str(out), cache, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = [(r["step"], r["loss"]) for r in read_log(tmp_path / "full" / "log.jsonl") if r["kind"] == "train"]
    got = [(r["step"], r["loss"]) for r in read_log(out / "log.jsonl") if r["kind"] == "train"]
    assert [s for s, _ in got] == list(range(1, steps + 1))
    for (_, a), (_, b) in zip(expected, got, strict=True):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-7)
    val = [r for r in read_log(out / "log.jsonl") if r["kind"] == "val"]
    assert [r["step"] for r in val] == [steps] and 0 <= val[0]["precision"] <= 1

    from lightglue import LightGlue

    LightGlue(features="sift", weights=str(out / "weights.pth"), n_layers=2, descriptor_dim=32, num_heads=2)
