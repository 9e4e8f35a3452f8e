"""The training forward pass of LightGlue: every layer, every layer's assignment.

It drives the inference module's own parts (``input_proj``, ``posenc``, ``transformers``,
``log_assignment``, ``token_confidence``), so a trained state dict is an inference state dict.
Shapes: B pairs, M and N keypoints (no padding), D descriptor size, L layers.
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

from lightglue.matcher import LightGlue
from lightglue.matcher.assignment import filter_matches
from lightglue.matcher.inputs import ImageInputs, parse_image_inputs


def _side_inputs(model: LightGlue, data: dict, i: int) -> ImageInputs:
    """The checked, normalised inputs of image ``i`` from a flat training batch."""
    feats = {key: data[f"{key}{i}"] for key in ("keypoints", "descriptors", "image_size", "scales", "oris")
             if f"{key}{i}" in data}
    for key in ("keypoints", "descriptors"):
        if key not in feats:
            raise ValueError(f"training batch is missing {key}{i} (have {sorted(data)})")
    c = model.conf
    dtype = model.log_assignment[0].final_proj.weight.dtype
    return parse_image_inputs(feats, f"image{i}", c.input_dim, c.add_scale_ori, model.feature_type, dtype)


def _attention_backends(model: LightGlue):
    """flash=False forces the plain math attention kernel, as in inference."""
    return contextlib.nullcontext() if model.conf.flash else sdpa_kernel([SDPBackend.MATH])


def _run_layer(model: LightGlue, i: int, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer ``i`` under the model's attention kernels (also when recomputed by checkpointing)."""
    with _attention_backends(model):
        return model.transformers[i](*args)


def training_forward(model: LightGlue, data: dict, checkpointed: bool = False, mp: bool = False) -> dict:
    """Run all L layers of ``model`` on a training batch, without early exit or pruning.

    Args:
        model: the inference :class:`~lightglue.matcher.LightGlue` module (its own parameters
            are used; train/eval mode makes no difference: the model has no dropout).
        data: ``keypoints0/1 [B, M|N, 2]`` pixels, ``descriptors0/1 [B, M|N, D]``,
            ``image_size0/1 [B, 2]`` (W, H) used for the normalisation (without it, the
            keypoints' extent), ``scales0/1``, ``oris0/1 [B, M|N]`` for scale/orientation
            features. Descriptors are treated as constants (detached).
        checkpointed: recompute each transformer layer in the backward pass (less memory).
        mp: mixed precision, bfloat16 autocast on CPU, float16 on CUDA (scale the loss
            with a ``torch.amp.GradScaler`` for float16). Log assignments are returned in
            float32 either way.

    Returns:
        dict with ``log_assignment [B, M+1, N+1]`` (last layer, with dustbins),
        ``layer_log_assignments`` (list of L [B, M+1, N+1]), ``confidence_logits0/1`` (lists
        of L-1 [B, M] / [B, N] pre-sigmoid logits of the confidence heads on the detached
        layer states), ``matches0 [B, M]``, ``matches1 [B, N]`` (mutual arg-max of the last
        layer above ``model.conf.filter_threshold``, -1 if none) and
        ``matching_scores0/1``.
    """
    in0, in1 = _side_inputs(model, data, 0), _side_inputs(model, data, 1)
    if in0.descriptors.shape[0] != in1.descriptors.shape[0]:
        raise ValueError(
            f"training batch images have different batch sizes: {in0.descriptors.shape[0]} and {in1.descriptors.shape[0]}"
        )
    device = in0.descriptors.device
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    layer_las: list[torch.Tensor] = []
    logits0: list[torch.Tensor] = []
    logits1: list[torch.Tensor] = []
    n_layers = len(model.transformers)
    with torch.autocast(device.type, dtype=amp_dtype, enabled=mp):
        desc0, desc1 = model.input_proj(in0.descriptors), model.input_proj(in1.descriptors)
        enc0, enc1 = model.posenc(in0.positions), model.posenc(in1.positions)
        for i in range(n_layers):
            if checkpointed:
                desc0, desc1 = checkpoint(_run_layer, model, i, desc0, desc1, enc0, enc1, use_reentrant=False)
            else:
                desc0, desc1 = _run_layer(model, i, desc0, desc1, enc0, enc1)
            la, _ = model.log_assignment[i](desc0, desc1)
            layer_las.append(la.float())
            if i < n_layers - 1:
                linear = model.token_confidence[i].token[0]  # the head without its sigmoid
                logits0.append(linear(desc0.detach()).squeeze(-1).float())
                logits1.append(linear(desc1.detach()).squeeze(-1).float())
    final = layer_las[-1]
    m0, m1, ms0, ms1 = filter_matches(final.detach(), model.conf.filter_threshold)
    return {
        "log_assignment": final,
        "layer_log_assignments": layer_las,
        "confidence_logits0": logits0,
        "confidence_logits1": logits1,
        "matches0": m0,
        "matches1": m1,
        "matching_scores0": ms0,
        "matching_scores1": ms1,
    }
