"""The LightGlue training loss: deeply supervised assignment NLL plus the confidence loss.

Shapes: B pairs, M and N keypoints, L layers. Every normalisation is per pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def assignment_weights(gt_matches0: torch.Tensor, gt_matches1: torch.Tensor, gt_assignment: torch.Tensor) -> torch.Tensor:
    """[B, M+1, N+1] float target of the log assignment.

    ``[:M, :N]`` are the ground-truth matches, the last column the unmatchable (-1) points of
    image 0, the last row those of image 1; ignored points (-2) and the corner are 0.
    """
    b, m, n = gt_assignment.shape
    weights = gt_assignment.new_zeros((b, m + 1, n + 1), dtype=torch.float32)
    weights[:, :m, :n] = gt_assignment.float()
    weights[:, :m, n] = (gt_matches0 == -1).float()
    weights[:, m, :n] = (gt_matches1 == -1).float()
    return weights


def assignment_nll(
    log_assignment: torch.Tensor, weights: torch.Tensor, nll_balancing: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NLL of one layer's log assignment [B, M+1, N+1] under ``weights`` (same shape).

    ``nll_pos = -Σ w·L / max(P, 1)`` over the inner matrix (P positives);
    ``nll_neg = -(Σ dustbin column + Σ dustbin row) / (max(U0, 1) + max(U1, 1))`` with one
    pooled denominator (U0, U1 the unmatchable counts).

    Returns:
        (nll, nll_pos, nll_neg), each [B]; ``nll = b·nll_pos + (1 - b)·nll_neg``.
    """
    m, n = log_assignment.shape[1] - 1, log_assignment.shape[2] - 1
    weighted = log_assignment * weights
    num_pos = weights[:, :m, :n].sum((-1, -2)).clamp(min=1.0)
    num_neg = weights[:, :m, n].sum(-1).clamp(min=1.0) + weights[:, m, :n].sum(-1).clamp(min=1.0)
    nll_pos = -weighted[:, :m, :n].sum((-1, -2)) / num_pos
    nll_neg = -(weighted[:, :m, n].sum(-1) + weighted[:, m, :n].sum(-1)) / num_neg
    return nll_balancing * nll_pos + (1 - nll_balancing) * nll_neg, nll_pos, nll_neg


def confidence_targets(layer_la: torch.Tensor, final_la: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Whether each point's arg-max (dustbin included) at this layer equals the final one's.

    Args:
        layer_la, final_la: [B, M+1, N+1] log assignments (gradients are not followed).

    Returns:
        targets0 [B, M], targets1 [B, N], bool.
    """
    layer_la, final_la = layer_la.detach(), final_la.detach()
    t0 = final_la[:, :-1, :].max(-1).indices == layer_la[:, :-1, :].max(-1).indices
    t1 = final_la[:, :, :-1].max(-2).indices == layer_la[:, :, :-1].max(-2).indices
    return t0, t1


def layer_weights(n_layers: int, gamma: float) -> list[float]:
    """Deep-supervision weight of each layer: ``gamma**(L-1-l)``; for gamma <= 0, l+1 and 1 for the last."""
    if gamma > 0:
        return [gamma ** (n_layers - 1 - i) for i in range(n_layers)]
    return [float(i + 1) for i in range(n_layers - 1)] + [1.0]


def lightglue_loss(pred: dict, data: dict, gamma: float = 1.0, nll_balancing: float = 0.5) -> dict:
    """Per-pair training loss of :func:`lightglue.training.forward.training_forward` outputs.

    ``total = Σ_l w_l·nll_l / Σ_l w_l + confidence``, where ``nll_l`` is the balanced NLL of
    layer l's log assignment against the ground truth and ``confidence`` the mean over the
    L-1 confidence heads of ``(mean_i BCE(logit0_i, t0_i) + mean_j BCE(logit1_j, t1_j)) / 2``
    with targets from :func:`confidence_targets` (all points, ignored ones included).

    Args:
        pred: ``layer_log_assignments`` (L of [B, M+1, N+1]), ``log_assignment`` (the last),
            ``confidence_logits0/1`` (L-1 of [B, M] / [B, N]).
        data: ``gt_matches0 [B, M]``, ``gt_matches1 [B, N]`` (i64, -1 unmatchable,
            -2 ignored), ``gt_assignment [B, M, N]`` bool.
        gamma: deep-supervision decay (1: every layer counts the same).
        nll_balancing: weight of the positive NLL against the unmatchable NLL.

    Returns:
        dict of [B] tensors ``total``, ``last`` (last layer's NLL, detached), ``nll_pos``,
        ``nll_neg`` (last layer), ``confidence``, ``num_matchable``, ``num_unmatchable``,
        and ``layer_nll``, ``layer_nll_pos``, ``layer_nll_neg`` [L, B], ``layer_confidence``
        [L-1, B] (per-head BCE before averaging). Back-propagate ``total.mean()``.
    """
    layers = pred["layer_log_assignments"]
    for key in ("gt_matches0", "gt_matches1", "gt_assignment"):
        if key not in data:
            raise ValueError(f"the loss needs {key!r} in the batch (have {sorted(data)})")
    weights = assignment_weights(data["gt_matches0"], data["gt_matches1"], data["gt_assignment"])
    if weights.shape != layers[-1].shape:
        raise ValueError(f"ground truth {list(weights.shape)} does not fit the log assignment {list(layers[-1].shape)}")
    weights = weights.to(layers[-1].device)
    per_layer = [assignment_nll(la, weights, nll_balancing) for la in layers]
    w = layer_weights(len(layers), gamma)
    total_nll = sum(wi * nll for wi, (nll, _, _) in zip(w, per_layer)) / sum(w)
    final = pred["log_assignment"]
    confidence_terms = []
    for la, logit0, logit1 in zip(layers[:-1], pred["confidence_logits0"], pred["confidence_logits1"]):
        t0, t1 = confidence_targets(la, final)
        bce0 = F.binary_cross_entropy_with_logits(logit0, t0.float(), reduction="none").mean(-1)
        bce1 = F.binary_cross_entropy_with_logits(logit1, t1.float(), reduction="none").mean(-1)
        confidence_terms.append((bce0 + bce1) / 2)
    b = final.shape[0]
    if confidence_terms:
        layer_confidence = torch.stack(confidence_terms)
        confidence = layer_confidence.sum(0) / len(confidence_terms)
    else:
        layer_confidence = final.new_zeros((0, b))
        confidence = final.new_zeros((b,))
    m, n = final.shape[1] - 1, final.shape[2] - 1
    nll_last, pos_last, neg_last = per_layer[-1]
    return {
        "total": total_nll + confidence,
        "last": nll_last.detach(),
        "nll_pos": pos_last,
        "nll_neg": neg_last,
        "confidence": confidence,
        "num_matchable": weights[:, :m, :n].sum((-1, -2)).clamp(min=1.0),
        "num_unmatchable": (weights[:, :m, n].sum(-1).clamp(min=1.0) + weights[:, m, :n].sum(-1).clamp(min=1.0)) / 2,
        "layer_nll": torch.stack([nll for nll, _, _ in per_layer]),
        "layer_nll_pos": torch.stack([p for _, p, _ in per_layer]),
        "layer_nll_neg": torch.stack([q for _, _, q in per_layer]),
        "layer_confidence": layer_confidence,
    }
