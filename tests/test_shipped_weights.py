"""The project's own SIFT-LightGlue file: where the resolver puts it, and which weights ran.

Every test here builds its own "packaged" file (random weights, stored in float16 as the
shipped file is) in a temporary folder, so they do not depend on the real file being present;
the last test checks the real packaged file when it is there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lightglue import LightGlue
from lightglue import weights as W
from lightglue.cli import main
from lightglue.cli.evaluate import eval_group

CHURCHILL = Path(__file__).resolve().parents[2] / "shared" / "data" / "hpatches" / "v_churchill"
PACKAGED_NAME = W.PACKAGED_WEIGHTS["sift_lightglue"]


@pytest.fixture(scope="module")
def packaged_dir(tmp_path_factory) -> Path:
    """A folder holding a float16 SIFT-LightGlue state dict under the packaged file name."""
    torch.manual_seed(0)
    state = LightGlue(features=None, input_dim=128, add_scale_ori=True).state_dict()
    folder = tmp_path_factory.mktemp("pretrained")
    torch.save({k: v.half() for k, v in state.items()}, folder / PACKAGED_NAME)
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path, packaged_dir):
    """No official file anywhere, downloads forbidden (a call fails the test), our file packaged."""
    monkeypatch.delenv(W.ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.delenv(W.ENV_OFFLINE, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(W, "_scm_file", lambda name: None)
    monkeypatch.setattr(W, "PACKAGED_DIR", packaged_dir)

    def no_download(url, target):
        raise AssertionError(f"download attempted: {url}")

    monkeypatch.setattr(W, "_download", no_download)
    return tmp_path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[: W.SHA256_SHORT]


def _official_state() -> dict:
    torch.manual_seed(1)
    return LightGlue(features=None, input_dim=128, add_scale_ori=True).state_dict()


def test_packaged_file_is_used_before_any_download(isolated, packaged_dir):
    assert W.resolve_weights("sift_lightglue") == packaged_dir / PACKAGED_NAME
    assert W.candidate_paths("sift_lightglue")[-1] == packaged_dir / PACKAGED_NAME
    # only sift has a packaged file: others still go to the (here forbidden) download
    with pytest.raises(AssertionError, match="download attempted"):
        W.resolve_weights("doghardnet_lightglue")


def test_official_file_wins_over_the_packaged_one(isolated, packaged_dir, monkeypatch):
    state = _official_state()
    hub = isolated / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(state, hub / "sift_lightglue_v0-1_arxiv.pth")
    assert W.resolve_weights("sift_lightglue") == hub / "sift_lightglue_v0-1_arxiv.pth"
    scm = isolated / "scm" / "sift_lightglue.pth"
    scm.parent.mkdir()
    torch.save(state, scm)
    monkeypatch.setattr(W, "_scm_file", lambda name: scm if name == "sift_lightglue" else None)
    assert W.resolve_weights("sift_lightglue") == scm
    env_dir = isolated / "env"
    env_dir.mkdir()
    torch.save(state, env_dir / "sift_lightglue.pth")
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(env_dir))
    assert W.resolve_weights("sift_lightglue") == env_dir / "sift_lightglue.pth"
    explicit = isolated / "mine.pth"
    torch.save(state, explicit)
    assert W.resolve_weights("sift_lightglue", explicit) == explicit
    # and the matcher runs the official file, saying so
    model = LightGlue("sift")
    assert model.weights_provenance.name == "sift_lightglue"
    assert model.weights_provenance.sha256 == _sha(env_dir / "sift_lightglue.pth")
    assert torch.equal(model.input_proj.weight, state["input_proj.weight"])


def test_sift_preset_loads_the_float16_packaged_file(isolated, packaged_dir):
    model = LightGlue("sift")
    stored = torch.load(packaged_dir / PACKAGED_NAME, weights_only=True)
    assert model.input_proj.weight.dtype == torch.float32
    for name, value in model.state_dict().items():
        assert torch.equal(value, stored[name].float()), name
    found = model.weights_provenance
    assert found.name == Path(PACKAGED_NAME).stem and found.sha256 == _sha(packaged_dir / PACKAGED_NAME)
    assert found.as_dict() == {"name": found.name, "sha256": found.sha256, "path": str(packaged_dir / PACKAGED_NAME)}
    assert str(found) == f"{found.name} (sha256 {found.sha256})"
    assert LightGlue(features=None).weights_provenance is None


def test_match_verb_records_the_weights(isolated, packaged_dir, tmp_path):
    args = ["match", "--features", "sift", "--max-keypoints", "128", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "result.json").read_text())
    assert record["weights"]["name"] == Path(PACKAGED_NAME).stem
    assert record["weights"]["sha256"] == _sha(packaged_dir / PACKAGED_NAME)
    assert f"weights: {Path(PACKAGED_NAME).stem} (sha256 {_sha(packaged_dir / PACKAGED_NAME)})" in result.output


def _texture(seed: int, shape=(240, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = sum(cv2.resize(rng.uniform(0, 255, (s, s * 4 // 3, 3)), shape[::-1]) for s in (6, 24, 96)) / 3
    return np.clip(img, 0, 255).astype(np.uint8)


def test_collection_sift_preset_records_the_weights(isolated, packaged_dir, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        cv2.imwrite(str(photos / f"img{i}.png"), _texture(i))
    out = tmp_path / "work"
    common = ["--preset", "sift+lightglue", "--max-keypoints", "128", "--resize", "320", "-q"]
    assert CliRunner().invoke(main, ["extract", str(photos), "--out", str(out), *common]).exit_code == 0
    assert CliRunner().invoke(main, ["pairs", str(out)]).exit_code == 0
    result = CliRunner().invoke(main, ["match-pairs", str(out), *common])
    assert result.exit_code == 0, result.output
    with h5py.File(out / "matches.h5", "r") as f:
        weights = json.loads(f.attrs["lightglue_weights"])
        assert "img1.png" in f["img0.png"]
    assert weights == {"name": Path(PACKAGED_NAME).stem, "sha256": _sha(packaged_dir / PACKAGED_NAME)}
    # Other weights on the same matches.h5 are refused rather than mixed.
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    torch.save(_official_state(), env_dir / "sift_lightglue.pth")
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(env_dir))
    result = CliRunner().invoke(main, ["match-pairs", str(out), *common])
    assert result.exit_code != 0 and "lightglue_weights" in result.output


def test_eval_report_records_the_weights(isolated, packaged_dir, tmp_path):
    if not CHURCHILL.is_dir():
        pytest.skip(f"evaluation data not found at {CHURCHILL}")
    args = ["homography", str(CHURCHILL), "-m", "sift+lightglue", "-m", "sift+mnn", "--max-keypoints", "128"]
    args += ["--resize", "short:240", "--limit", "1", "--estimator", "dlt", "--out", str(tmp_path)]
    result = CliRunner().invoke(eval_group, args)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    weights = results["methods"]["sift+lightglue"]["weights"]
    assert weights["name"] == Path(PACKAGED_NAME).stem and weights["sha256"] == _sha(packaged_dir / PACKAGED_NAME)
    assert results["methods"]["sift+mnn"]["weights"] is None
    line = f"Weights: sift+lightglue: {weights['name']} (sha256 {weights['sha256']})."
    assert line in (tmp_path / "results.md").read_text() and line in result.output


def test_the_shipped_file_loads_with_the_sift_preset(monkeypatch):
    shipped = W.PACKAGED_DIR / PACKAGED_NAME
    if not shipped.is_file():
        pytest.skip(f"no shipped SIFT-LightGlue file at {shipped}")
    monkeypatch.delenv(W.ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.setenv("TORCH_HOME", "/nonexistent-torch-home")
    monkeypatch.setattr(W, "_scm_file", lambda name: None)
    model = LightGlue("sift")
    assert model.weights_provenance.path == str(shipped.resolve())
    assert next(iter(torch.load(shipped, weights_only=True).values())).dtype == torch.float16
