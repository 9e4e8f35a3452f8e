"""Fine-tuning on a user's own reconstruction: ``lightglue reconstruct``, then ``lightglue train``
on its COLMAP model, then the result in ``LightGlue(...)`` and ``lightglue match --weights``.

The full chain on the Sacre Coeur photos (official ALIKED-LightGlue) is slow; the default run
fine-tunes a tiny model from a checkpoint on a synthetic COLMAP model and runs the match verb
with an explicit weights file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_training_data_colmap import write_model

from lightglue import LightGlue
from lightglue.cli import main
from lightglue.collection._pycolmap import pycolmap
from lightglue.training.config import ModelSection
from lightglue.training.data.colmap_pairs import ColmapPairs
from lightglue.training.history import read_log
from lightglue.training.trainer import build_model
from lightglue.weights import WeightsNotFoundError, resolve_weights

SACRE_COEUR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"


def official(name: str) -> Path:
    try:
        return resolve_weights(name, allow_download=False)
    except WeightsNotFoundError:
        pytest.skip(f"the official {name} weights are not on this machine")


def repeated_ids(ids: np.ndarray) -> np.ndarray:
    """[K] bool: the keypoint's 3D point is also seen by another keypoint of the list."""
    values, counts = np.unique(ids[ids >= 0], return_counts=True)
    return np.isin(ids, values[counts > 1])


def train(*args: str) -> None:
    result = CliRunner().invoke(main, ["train", *args, "--no-progress"])
    assert result.exit_code == 0, result.output


def train_losses(run: Path) -> list[float]:
    return [r["loss"] for r in read_log(run / "log.jsonl") if r["kind"] == "train"]


def test_finetune_a_checkpoint_on_a_colmap_model(tmp_path):
    write_model(tmp_path / "colmap")
    config = tmp_path / "ft.toml"
    config.write_text(f"""
[model]
features = "sift"
input_dim = 16
n_layers = 2
descriptor_dim = 32
num_heads = 2
[data]
kind = "colmap"
model_dir = "{tmp_path / 'colmap' / 'sparse'}"
features_h5 = "{tmp_path / 'colmap' / 'features.h5'}"
num_keypoints = 100
val_fraction = 0.4
min_covisible = 5
[train]
steps = 2
batch_size = 1
lr = 1e-3
log_every = 1
checkpoint_every = 2
threads = 1
""")
    train(str(config), "--out", str(tmp_path / "pre"))
    checkpoint = tmp_path / "pre" / "checkpoints" / "step_0000002.pt"
    options = {"input_dim": 16, "n_layers": 2, "descriptor_dim": 32, "num_heads": 2}
    start = build_model(ModelSection("sift", str(checkpoint), options))  # a checkpoint as init
    exported = torch.load(tmp_path / "pre" / "weights.pth", weights_only=True)
    assert all(torch.equal(v, exported[k]) for k, v in start.state_dict().items())

    train(str(config), "--out", str(tmp_path / "ft"), f'model.init="{checkpoint}"', "train.steps=3")
    losses = train_losses(tmp_path / "ft")
    assert len(losses) == 3 and all(np.isfinite(losses))
    val = [r for r in read_log(tmp_path / "ft" / "log.jsonl") if r["kind"] == "val"]
    assert val and 0 <= val[-1]["precision"] <= 1 and "auc@1px" not in val[-1]  # posed pairs: pose AUC
    assert 0 <= val[-1]["auc@5deg"] <= val[-1]["auc@10deg"] <= val[-1]["auc@20deg"] <= 1
    tuned = LightGlue(features="sift", weights=str(tmp_path / "ft" / "weights.pth"), **options)
    assert any(not torch.equal(v, exported[k]) for k, v in tuned.state_dict().items())
    again = CliRunner().invoke(main, ["train", str(config), "--out", str(tmp_path / "ft"), "--resume",
                                      "train.steps=3", "--no-progress"])  # model.init does not matter now
    assert again.exit_code == 0 and "nothing to do: the run" in again.output and "at step 3" in again.output


def test_match_verb_takes_a_weights_file(tmp_path):
    weights = official("aliked_lightglue")
    out = tmp_path / "match"
    args = ["match", "--features", "aliked", "--max-keypoints", "256", "--weights", str(weights), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "result.json").read_text())
    assert Path(record["weights"]["path"]) == weights and record["num_matches"] > 50
    result = CliRunner().invoke(main, [*args[:-2], "--weights", str(tmp_path / "missing.pth"), "--out", str(out)])
    assert result.exit_code == 1 and "missing.pth" in result.output


@pytest.mark.slow
@pytest.mark.skipif(not SACRE_COEUR.is_dir(), reason=f"real data not found at {SACRE_COEUR}")
def test_finetune_official_aliked_on_a_reconstruction_of_the_sacre_coeur(tmp_path):
    official_file = official("aliked_lightglue")
    rec_dir = tmp_path / "reconstruction"
    result = CliRunner().invoke(main, ["reconstruct", str(SACRE_COEUR), "--out", str(rec_dir),
                                       "--max-keypoints", "1024", "--resize", "1024", "-q"])
    assert result.exit_code == 0, result.output
    model_dir, features_h5 = rec_dir / "sparse", rec_dir / "features.h5"

    # the ground truth of every pair is the model's tracks among the kept keypoints
    rec = pycolmap.Reconstruction(str(model_dir))
    pairs = ColmapPairs(model_dir, features_h5, features="aliked", num_keypoints=512, split="all")
    assert len(pairs) >= 20
    for index in range(0, len(pairs), 5):
        sample = pairs[index]
        name0, name1, covisible = pairs.pairs[index]
        ids = []
        for name in (name0, name1):
            points = rec.find_image_with_name(name).points2D
            ids.append(np.array([points[int(i)].point3D_id if points[int(i)].has_point3D() else -1
                                 for i in pairs.keypoint_indices[name]]))
        # a 3D point seen by two kept keypoints of one image makes them ambiguous (ignored)
        repeated = [repeated_ids(i) for i in ids]
        shared = (ids[0][:, None] == ids[1][None, :]) & (ids[0][:, None] >= 0)
        same = shared & ~repeated[0][:, None] & ~repeated[1][None, :]
        assert torch.equal(sample["gt_assignment"], torch.from_numpy(same))
        assert 0 < int(same.sum()) <= int(shared.sum()) and len(set(ids[0][ids[0] >= 0]) & set(ids[1])) == covisible
        m0 = sample["gt_matches0"].numpy()
        assert (ids[0][m0 >= 0] == ids[1][m0[m0 >= 0]]).all()
        assert ((m0 >= 0) == same.any(1)).all() and (m0[repeated[0]] == -2).all()

    config = tmp_path / "finetune.toml"
    config.write_text(f"""
[model]
features = "aliked"
init = "official"
[data]
kind = "colmap"
model_dir = "{model_dir}"
features_h5 = "{features_h5}"
num_keypoints = 512
val_fraction = 0.2
[train]
steps = 3
batch_size = 2
lr = 1e-5
log_every = 1
val_batches = 2
checkpoint_every = 3
""")
    out = tmp_path / "finetuned"
    train(str(config), "--out", str(out))
    losses = train_losses(out)
    assert len(losses) == 3 and all(np.isfinite(losses))
    val = [r for r in read_log(out / "log.jsonl") if r["kind"] == "val"][-1]
    assert val["precision"] > 0.5 and val["recall"] > 0.5  # the official weights already match well
    assert val["auc@20deg"] > 0.2

    tuned = LightGlue(features="aliked", weights=str(out / "weights.pth"))
    start = torch.load(official_file, weights_only=True)
    changed = [k for k, v in tuned.state_dict().items() if k in start and not torch.equal(v, start[k].float())]
    assert changed  # the fine-tuning moved the weights
    images = sorted(SACRE_COEUR.iterdir())[:2]
    result = CliRunner().invoke(main, ["match", str(images[0]), str(images[1]), "--features", "aliked",
                                       "--weights", str(out / "weights.pth"), "--out", str(tmp_path / "match")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "match" / "result.json").read_text())
    assert record["weights"]["path"] == str(out / "weights.pth") and record["num_matches"] > 100
