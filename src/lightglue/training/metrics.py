"""Match metrics of a prediction against ground-truth labels (the reference's definitions).

Shapes: B pairs, M keypoints in image 0. Every metric is computed from image 0's side.
"""

from __future__ import annotations

import torch

_EPS = 1e-8


@torch.no_grad()
def matcher_metrics(pred: dict, data: dict) -> dict[str, torch.Tensor]:
    """Recall, precision, accuracy and the reference's "average precision", each [B].

    Args:
        pred: ``matches0 [B, M]`` (index into image 1, -1 none), ``matching_scores0 [B, M]``.
        data: ``gt_matches0 [B, M]`` (partner, -1 unmatchable, -2 ignored).

    Returns:
        ``recall``: correct predictions among points with a partner (gt >= 0);
        ``accuracy``: correct predictions (a -1 predicted for a -1 point counts) among gt >= -1;
        ``precision``: correct among predicted matches whose gt is not ignored;
        ``average_precision``: final precision × (final recall − recall after the first point
        ranked by score), the reference's figure (not a true AP).
    """
    m, gt = pred["matches0"], data["gt_matches0"].to(pred["matches0"].device)
    correct = (m == gt).float()
    has_partner = (gt > -1).float()
    labelled = (gt >= -1).float()
    predicted = ((m > -1) & (gt >= -1)).float()
    recall = (correct * has_partner).sum(1) / (_EPS + has_partner.sum(1))
    accuracy = (correct * labelled).sum(1) / (_EPS + labelled.sum(1))
    precision = (correct * predicted).sum(1) / (_EPS + predicted.sum(1))
    order = torch.argsort(-pred["matching_scores0"])
    sorted_predicted = predicted.gather(-1, order)
    sorted_partner = has_partner.gather(-1, order)
    sorted_correct = correct.gather(-1, order)
    precision_curve = torch.cumsum(sorted_correct * sorted_predicted, -1) / (_EPS + torch.cumsum(sorted_predicted, -1))
    recall_curve = torch.cumsum(sorted_correct * sorted_partner, -1) / (_EPS + sorted_partner.sum(-1)[:, None])
    ap = (recall_curve[..., 1:] - recall_curve[..., :-1]).sum(-1) * precision_curve[:, -1]
    return {"recall": recall, "precision": precision, "accuracy": accuracy, "average_precision": ap}
