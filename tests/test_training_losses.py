"""Training forward, losses and metrics against the reference recipe (../shared/golden/training).

The official ALIKED-LightGlue weights run on the fixture's batch (2 pairs × 512 points) once
per module; every value below is compared with the reference's float32 run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lightglue.matcher import LightGlue
from lightglue.training.forward import training_forward
from lightglue.training.losses import layer_weights, lightglue_loss
from lightglue.training.metrics import matcher_metrics

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "golden" / "training" / "loss_aliked.npz"
BATCH_KEYS = ("keypoints0", "keypoints1", "descriptors0", "descriptors1", "image_size0", "image_size1",
              "gt_matches0", "gt_matches1", "gt_assignment")
FULL = {"flash": False, "depth_confidence": -1, "width_confidence": -1}
RTOL = 1e-4


def _model() -> LightGlue:
    return LightGlue("aliked", **FULL).train()


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    if not FIXTURE.is_file():
        pytest.skip(f"golden fixture not found: {FIXTURE}")
    return dict(np.load(FIXTURE))


@pytest.fixture(scope="module")
def batch(golden) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(golden[key]) for key in BATCH_KEYS}


@pytest.fixture(scope="module")
def small_batch(batch) -> dict[str, torch.Tensor]:
    """The first 96 points of each image (labels recomputed by slicing: still valid GT)."""
    k = 96
    out = {key: batch[key][:, :k] for key in BATCH_KEYS if key not in ("image_size0", "image_size1", "gt_assignment")}
    assignment = batch["gt_assignment"][:, :k, :k]
    for i, axis in ((0, 2), (1, 1)):  # a partner outside the slice makes the point ignored
        m = out[f"gt_matches{i}"]
        out[f"gt_matches{i}"] = torch.where((m >= 0) & ~assignment.any(axis), -2, m)
    return {**out, "gt_assignment": assignment, "image_size0": batch["image_size0"], "image_size1": batch["image_size1"]}


@pytest.fixture(scope="module")
def run(batch):
    """One training step's forward, loss and gradients with the official weights."""
    torch.manual_seed(0)
    model = _model()
    pred = training_forward(model, batch)
    loss = lightglue_loss(pred, batch)
    loss["total"].mean().backward()
    return model, pred, loss


def _grads(model: LightGlue) -> dict[str, torch.Tensor]:
    return {
        "grad_token_confidence_weight": torch.stack([m.token[0].weight.grad[0] for m in model.token_confidence]),
        "grad_token_confidence_bias": torch.stack([m.token[0].bias.grad[0] for m in model.token_confidence]),
        "grad_matchability_weight": torch.stack([m.matchability.weight.grad[0] for m in model.log_assignment]),
        "grad_matchability_bias": torch.stack([m.matchability.bias.grad[0] for m in model.log_assignment]),
        "grad_final_proj_bias": torch.stack([m.final_proj.bias.grad for m in model.log_assignment]),
        "grad_posenc_Wr": model.posenc.Wr.weight.grad,
        "grad_input_proj_bias": model.input_proj.bias.grad,
    }


def _step(model: LightGlue, data: dict, **kwargs) -> tuple[dict, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = lightglue_loss(training_forward(model, data, **kwargs), data)
    loss["total"].mean().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in loss.items()}, grads


def test_losses_match_reference(run, golden) -> None:
    _, _, loss = run
    for key in ("total", "last", "nll_pos", "nll_neg", "confidence", "num_matchable", "num_unmatchable"):
        np.testing.assert_allclose(loss[key].detach().numpy(), golden[f"loss_{key}"], rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(loss["total"].mean().item(), golden["loss_mean_total"], rtol=RTOL)
    for key in ("layer_nll", "layer_nll_pos", "layer_nll_neg"):
        np.testing.assert_allclose(loss[key].detach().numpy(), golden[key], rtol=RTOL, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(loss["layer_confidence"].detach().numpy(), golden["conf_loss"], rtol=RTOL)
    np.testing.assert_array_equal(layer_weights(9, 1.0), golden["layer_weight"])
    assert loss["layer_nll"].shape == (9, 2) and loss["layer_confidence"].shape == (8, 2)


def test_per_layer_log_assignments_match_reference(run, golden) -> None:
    _, pred, _ = run
    las = torch.stack([la.detach() for la in pred["layer_log_assignments"]])  # [L, B, M+1, N+1]
    m, n = las.shape[-2] - 1, las.shape[-1] - 1
    gt0 = torch.from_numpy(golden["gt_matches0"])
    at_gt = las[:, :, :m, :n].gather(-1, gt0.clamp(min=0)[None, ..., None].expand(9, -1, -1, 1))[..., 0]
    at_gt = torch.where(gt0[None] >= 0, at_gt, 0.0)
    np.testing.assert_allclose(at_gt.numpy(), golden["layer_la_gt0"], atol=2e-3)
    np.testing.assert_allclose(las[:, :, :m, n].numpy(), golden["layer_la_dustbin0"], atol=2e-3)
    np.testing.assert_allclose(las[:, :, m, :n].numpy(), golden["layer_la_dustbin1"], atol=2e-3)
    np.testing.assert_array_equal(las[:, :, :m, :].argmax(-1).numpy(), golden["layer_argmax0"])
    np.testing.assert_array_equal(las[:, :, :, :n].argmax(-2).numpy(), golden["layer_argmax1"])
    final, ref = pred["log_assignment"].detach().numpy(), golden["log_assignment"]
    assert final.shape == ref.shape == (2, 513, 513)
    significant = ref > -10  # below that both are float32 noise of a ~0 probability
    np.testing.assert_allclose(final[significant], ref[significant], atol=2e-3)
    for i in range(2):
        np.testing.assert_allclose(torch.stack(pred[f"confidence_logits{i}"]).detach().numpy(),
                                   golden[f"conf_logit{i}"], atol=2e-3)
        np.testing.assert_array_equal(pred[f"matches{i}"].numpy(), golden[f"train_matches{i}"])
        np.testing.assert_allclose(pred[f"matching_scores{i}"].numpy(), golden[f"train_matching_scores{i}"], atol=1e-4)


def test_gradients_match_reference(run, golden) -> None:
    model, _, _ = run
    for key, grad in _grads(model).items():
        ref = golden[key]
        assert grad.shape == ref.shape, key
        np.testing.assert_allclose(grad.numpy(), ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max(), err_msg=key)
    norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters() if p.grad is not None))
    np.testing.assert_allclose(norm.item(), golden["grad_global_norm"], rtol=1e-4)


def test_eval_metrics_of_the_inference_forward(batch, golden) -> None:
    model = LightGlue("aliked", **FULL).eval()
    images = {f"image{i}": {"keypoints": batch[f"keypoints{i}"], "descriptors": batch[f"descriptors{i}"],
                            "image_size": batch[f"image_size{i}"]} for i in range(2)}
    with torch.no_grad():
        pred = model(images)
    metrics = matcher_metrics(pred, batch)
    for key, ref in (("recall", "match_recall"), ("precision", "match_precision"),
                     ("accuracy", "accuracy"), ("average_precision", "average_precision")):
        np.testing.assert_allclose(metrics[key].numpy(), golden[f"eval_metric_{ref}"], rtol=1e-5, err_msg=key)
    np.testing.assert_array_equal(pred["matches0"].numpy(), golden["train_matches0"])


def test_metrics_definitions_on_a_hand_made_case() -> None:
    gt = torch.tensor([[0, 1, 2, -1, -2, 3]])
    pred = {"matches0": torch.tensor([[0, 2, -1, -1, 4, 3]]),
            "matching_scores0": torch.tensor([[0.9, 0.8, 0.0, 0.0, 0.7, 0.6]])}
    out = matcher_metrics(pred, {"gt_matches0": gt})
    np.testing.assert_allclose(out["recall"], [2 / 4], rtol=1e-6)  # 0 and 3 of four with a partner
    np.testing.assert_allclose(out["accuracy"], [3 / 5], rtol=1e-6)  # the -1 counts, the -2 does not
    np.testing.assert_allclose(out["precision"], [2 / 3], rtol=1e-6)  # the match of the -2 point does not count
    np.testing.assert_allclose(out["average_precision"], [2 / 3 * (2 / 4 - 1 / 4)], rtol=1e-6)


def test_trained_state_dict_loads_strictly_into_inference(small_batch, tmp_path) -> None:
    torch.manual_seed(0)
    model = _model()
    loss, _ = _step(model, small_batch)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.optim.SGD(model.parameters(), lr=1e-2).step()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    path = tmp_path / "finetuned.pth"
    torch.save(model.state_dict(), path)
    loaded = LightGlue("aliked", weights=str(path), **FULL).eval()
    fresh = LightGlue("aliked", **FULL)
    assert fresh.load_state_dict(torch.load(path), strict=True) is not None
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    images = {f"image{i}": {"keypoints": small_batch[f"keypoints{i}"], "descriptors": small_batch[f"descriptors{i}"],
                            "image_size": small_batch[f"image_size{i}"]} for i in range(2)}
    with torch.no_grad():
        inference = loaded(images)
        training = training_forward(model, small_batch)
    np.testing.assert_array_equal(inference["matches0"].numpy(), training["matches0"].numpy())
    assert torch.isfinite(loss["total"]).all()


def test_checkpointing_gives_the_same_loss_and_gradients(small_batch) -> None:
    model = _model()
    plain_loss, plain_grads = _step(model, small_batch)
    ckpt_loss, ckpt_grads = _step(model, small_batch, checkpointed=True)
    for key in ("total", "confidence", "layer_nll"):
        torch.testing.assert_close(ckpt_loss[key], plain_loss[key], rtol=1e-6, atol=1e-7)
    assert plain_grads.keys() == ckpt_grads.keys() and len(plain_grads) == len(list(model.parameters()))
    for name, grad in plain_grads.items():
        torch.testing.assert_close(ckpt_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_mixed_precision_runs_and_is_close(small_batch) -> None:
    model = _model()
    fp32_loss, fp32_grads = _step(model, small_batch)
    bf16_loss, bf16_grads = _step(model, small_batch, mp=True)
    torch.testing.assert_close(bf16_loss["total"], fp32_loss["total"], rtol=0.1, atol=0.0)
    assert all(torch.isfinite(g).all() for g in bf16_grads.values())
    ref = fp32_grads["log_assignment.8.matchability.weight"]
    cosine = torch.nn.functional.cosine_similarity(bf16_grads["log_assignment.8.matchability.weight"].flatten(), ref.flatten(), 0)
    assert cosine > 0.95


def test_layer_weights_and_bad_input(small_batch) -> None:
    assert layer_weights(3, 0.5) == [0.25, 0.5, 1.0]
    assert layer_weights(4, 0.0) == [1.0, 2.0, 3.0, 1.0]  # the reference's rule for gamma <= 0
    pred = {"layer_log_assignments": [torch.zeros(2, 97, 97)], "log_assignment": torch.zeros(2, 97, 97),
            "confidence_logits0": [], "confidence_logits1": []}
    with pytest.raises(ValueError, match="gt_assignment"):
        lightglue_loss(pred, {k: v for k, v in small_batch.items() if k != "gt_assignment"})
    with pytest.raises(ValueError, match="does not fit"):
        lightglue_loss({**pred, "layer_log_assignments": [torch.zeros(2, 9, 9)]}, small_batch)
    with pytest.raises(ValueError, match="descriptors1"):
        training_forward(_model(), {k: v for k, v in small_batch.items() if k != "descriptors1"})
