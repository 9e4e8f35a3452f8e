"""The trainer on synthetic pairs: it learns, resumes exactly, stops on a non-finite loss, exports."""

from __future__ import annotations

import json
import math

import pytest
import torch
from training_pairs import PoisonedPairs, SyntheticPairs

from lightglue import LightGlue
from lightglue.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from lightglue.training.config import ConfigError, config_from_dict
from lightglue.training.history import read_log
from lightglue.training.trainer import NonFiniteLossError, Stopped, Trainer, build_model, learning_rate

TINY = {"n_layers": 2, "descriptor_dim": 32, "num_heads": 2}


def tiny_config(**train):
    base = {"batch_size": 4, "lr": 3e-3, "log_every": 1, "val_every": 0, "checkpoint_every": 1000, "threads": 1}
    return config_from_dict({"model": dict(TINY), "train": {**base, **train}})


def train_losses(run_dir) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_log(run_dir / "log.jsonl") if r["kind"] == "train"]


def test_tiny_model_overfits_a_few_fixed_pairs(tmp_path):
    trainer = Trainer(tiny_config(steps=40), tmp_path, SyntheticPairs(n=4, k=64), show_progress=False)
    trainer.fit()
    losses = [loss for _, loss in train_losses(tmp_path)]
    assert len(losses) == 40
    assert losses[0] / losses[-1] > 5, losses


def test_resumed_run_repeats_the_uninterrupted_losses(tmp_path):
    data = SyntheticPairs(n=12, k=32)  # 3 batches per epoch: the resume crosses an epoch boundary
    full, part = tmp_path / "full", tmp_path / "part"
    Trainer(tiny_config(steps=7), full, data, show_progress=False).fit()
    Trainer(tiny_config(steps=4, checkpoint_every=2), part, data, show_progress=False).fit()
    with open(part / "log.jsonl", "a") as f:  # a record written after the checkpoint, then a kill
        f.write(json.dumps({"kind": "train", "step": 5, "loss": 123.0}) + "\n")
    resumed = Trainer(tiny_config(steps=7, checkpoint_every=2), part, data, show_progress=False)
    resumed.fit(resume=True)
    expected, got = train_losses(full), train_losses(part)
    assert [s for s, _ in got] == list(range(1, 8))
    for (_, a), (_, b) in zip(expected, got, strict=True):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-7)
    assert resumed.sampler.state_dict()["epoch"] == 2 and resumed.sampler.state_dict()["batch"] == 1


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    data = PoisonedPairs(poison_from=4 * 3, n=8, k=32)  # the 4th step reads NaN descriptors
    trainer = Trainer(tiny_config(steps=10, checkpoint_every=2), tmp_path, data, show_progress=False)
    with pytest.raises(NonFiniteLossError, match="step 4") as info:
        trainer.fit()
    assert "step_0000002.pt" in str(info.value)
    assert latest_checkpoint(tmp_path).name == "step_0000002.pt"
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    weights = torch.load(tmp_path / "weights.pth", weights_only=True)
    assert all(torch.equal(weights[k], state["model"][k]) for k in weights)


def test_checkpoints_rotate_and_exported_weights_load_strictly(tmp_path):
    config = tiny_config(steps=5, checkpoint_every=2, keep_checkpoints=2)
    trainer = Trainer(config, tmp_path, SyntheticPairs(n=8, k=32), show_progress=False)
    trainer.fit()
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4, 5]  # the last step always saves
    assert latest_checkpoint(tmp_path).name == "step_0000005.pt"
    assert not list((tmp_path / "checkpoints").glob(".*tmp"))
    model = LightGlue(features=None, input_dim=128, add_scale_ori=True, weights=str(tmp_path / "weights.pth"), **TINY)
    trained = trainer.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())
    assert (tmp_path / "log.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(Stopped, match="already holds a run"):
        Trainer(config, tmp_path, SyntheticPairs(n=8, k=32), show_progress=False).fit()
    other = tiny_config(steps=6, checkpoint_every=2, batch_size=2)
    with pytest.raises(Stopped, match="train.batch_size"):
        Trainer(other, tmp_path, SyntheticPairs(n=8, k=32), show_progress=False).fit(resume=True)


def test_fp16_export_loads_into_a_float32_model(tmp_path):
    trainer = Trainer(tiny_config(steps=1, export_fp16=True), tmp_path, SyntheticPairs(n=4, k=32), show_progress=False)
    trainer.fit()
    saved = torch.load(tmp_path / "weights.pth", weights_only=True)
    assert all(v.dtype == torch.float16 for v in saved.values() if v.is_floating_point())
    model = LightGlue(features=None, input_dim=128, add_scale_ori=True, weights=str(tmp_path / "weights.pth"), **TINY)
    for key, value in model.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, trainer.model.state_dict()[key].half().float())


def test_validation_reports_precision_recall_and_homography_auc(tmp_path):
    trainer = Trainer(tiny_config(steps=2, val_every=1), tmp_path, SyntheticPairs(n=4, k=64),
                      SyntheticPairs(n=6, k=64, seed=1), show_progress=False)
    trainer.fit()
    val = [r for r in read_log(tmp_path / "log.jsonl") if r["kind"] == "val"]
    assert [r["step"] for r in val] == [1, 2]
    for r in val:
        assert r["pairs"] == 6
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and math.isfinite(r["loss"])
        assert 0 <= r["auc@1px"] <= r["auc@3px"] <= r["auc@5px"] <= 1


def test_learning_rate_schedule():
    t = tiny_config(steps=100, lr=1e-4, schedule="exp", decay_start=10, exp_div_10=20, warmup_steps=4).train
    assert learning_rate(0, t) == pytest.approx(0.25e-4)
    assert learning_rate(3, t) == pytest.approx(1e-4)
    assert learning_rate(10, t) == pytest.approx(1e-4)
    assert learning_rate(30, t) == pytest.approx(1e-5)
    assert learning_rate(50, t) == pytest.approx(1e-6)


def test_worker_processes_load_the_same_batches(tmp_path):
    data = SyntheticPairs(n=8, k=32)
    Trainer(tiny_config(steps=3), tmp_path / "main", data, show_progress=False).fit()
    Trainer(tiny_config(steps=3, num_workers=2), tmp_path / "workers", data, show_progress=False).fit()
    assert train_losses(tmp_path / "workers") == train_losses(tmp_path / "main")


def test_gradient_checkpointing_keeps_the_losses_and_mixed_precision_trains(tmp_path):
    data = SyntheticPairs(n=4, k=32)
    Trainer(tiny_config(steps=3), tmp_path / "plain", data, show_progress=False).fit()
    Trainer(tiny_config(steps=3, checkpointed=True), tmp_path / "ckpt", data, show_progress=False).fit()
    plain, ckpt = train_losses(tmp_path / "plain"), train_losses(tmp_path / "ckpt")
    assert [s for s, _ in ckpt] == [1, 2, 3]
    for (_, a), (_, b) in zip(plain, ckpt, strict=True):
        assert b == pytest.approx(a, rel=1e-5)
    Trainer(tiny_config(steps=3, mp=True), tmp_path / "mp", data, show_progress=False).fit()
    mp = train_losses(tmp_path / "mp")
    assert all(math.isfinite(loss) for _, loss in mp)
    assert mp[0][1] == pytest.approx(plain[0][1], rel=0.05) and mp[0][1] != plain[0][1]  # bfloat16 differs a little


def test_trainable_prefixes_train_only_those_parameters(tmp_path):
    config = config_from_dict({"model": {**TINY, "trainable": ["token_confidence"]},
                               "train": {"batch_size": 4, "lr": 3e-3, "val_every": 0, "threads": 1, "steps": 10, "log_every": 1}})
    assert config.to_dict()["model"]["trainable"] == ["token_confidence"]
    trainer = Trainer(config, tmp_path, SyntheticPairs(n=8, k=32), show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    changed = {k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("token_confidence.") for k in changed), changed
    heads = {k for k in before if k.startswith("token_confidence.")}
    assert changed == heads  # every head learned (their loss reaches each of them)
    confidence = [r["confidence"] for r in read_log(tmp_path / "log.jsonl") if r["kind"] == "train"]
    assert confidence[-1] < confidence[0]


def test_a_trainable_prefix_that_names_no_parameter_is_an_error():
    config = config_from_dict({"model": {**TINY, "trainable": ["token_confidance"]}})
    with pytest.raises(ConfigError, match="token_confidance.*token_confidence"):
        build_model(config.model)
    with pytest.raises(ConfigError, match="list of parameter-name prefixes"):
        config_from_dict({"model": {"trainable": "token_confidence"}})
