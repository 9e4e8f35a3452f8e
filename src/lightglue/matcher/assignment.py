"""Assignment head, per-point confidence and match filtering.

Shapes: M, N points in image 0 and 1, d state size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TokenConfidence(nn.Module):
    """Per-point confidence that its prediction will not change: ``sigmoid(Linear(d, 1))``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.token = nn.Sequential(nn.Linear(dim, 1), nn.Sigmoid())

    def forward(self, desc: torch.Tensor) -> torch.Tensor:
        """desc [B, N, d] (gradient stopped) -> confidence [B, N] in (0, 1)."""
        return self.token(desc.detach()).squeeze(-1)


def log_double_softmax(sim: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Log-assignment matrix from similarities and matchability logits.

    Args:
        sim: [B, M, N] similarities.
        z0: [B, M, 1] and z1: [B, N, 1] matchability logits.

    Returns:
        [B, M+1, N+1]: top-left ``log_softmax_rows + log_softmax_cols + logsigmoid(z0) +
        logsigmoid(z1)^T``, last column ``logsigmoid(-z0)``, last row ``logsigmoid(-z1)``;
        the corner is 0.
    """
    b, m, n = sim.shape
    certainties = F.logsigmoid(z0) + F.logsigmoid(z1).transpose(1, 2)
    scores = sim.new_zeros((b, m + 1, n + 1))
    scores[:, :m, :n] = sim.log_softmax(2) + sim.log_softmax(1) + certainties
    scores[:, :-1, -1] = F.logsigmoid(-z0.squeeze(-1))
    scores[:, -1, :-1] = F.logsigmoid(-z1.squeeze(-1))
    return scores


class MatchAssignment(nn.Module):
    """Per-layer assignment head: projected similarity plus matchability."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.matchability = nn.Linear(dim, 1)
        self.final_proj = nn.Linear(dim, dim)

    def forward(self, desc0: torch.Tensor, desc1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """desc0 [B, M, d], desc1 [B, N, d] -> (log-assignment [B, M+1, N+1], sim [B, M, N])."""
        d = desc0.shape[-1]
        mdesc0 = self.final_proj(desc0) / d**0.25
        mdesc1 = self.final_proj(desc1) / d**0.25
        sim = mdesc0 @ mdesc1.transpose(-1, -2)
        z0, z1 = self.matchability(desc0), self.matchability(desc1)
        return log_double_softmax(sim, z0, z1), sim

    def matchability_probability(self, desc: torch.Tensor) -> torch.Tensor:
        """desc [B, N, d] -> probability that each point has a match [B, N]."""
        return torch.sigmoid(self.matchability(desc)).squeeze(-1)


def filter_matches(
    scores: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mutual-argmax matches of a log-assignment matrix, kept above a score threshold.

    Args:
        scores: [B, M+1, N+1] log-assignment.
        threshold: minimal probability ``exp(score)`` (strict).

    Returns:
        matches0 [B, M] (index into image 1 or -1), matches1 [B, N], matching_scores0 [B, M],
        matching_scores1 [B, N]. Scores are those of mutual pairs (also below the
        threshold), 0 elsewhere.
    """
    inner = scores[:, :-1, :-1]
    max0, max1 = inner.max(2), inner.max(1)
    m0, m1 = max0.indices, max1.indices
    indices0 = torch.arange(m0.shape[1], device=m0.device)[None]
    indices1 = torch.arange(m1.shape[1], device=m1.device)[None]
    mutual0 = indices0 == m1.gather(1, m0)
    mutual1 = indices1 == m0.gather(1, m1)
    zero = scores.new_zeros(())
    mscores0 = torch.where(mutual0, max0.values.exp(), zero)
    mscores1 = torch.where(mutual1, mscores0.gather(1, m1), zero)
    valid0 = mutual0 & (mscores0 > threshold)
    valid1 = mutual1 & valid0.gather(1, m1)
    m0 = torch.where(valid0, m0, -1)
    m1 = torch.where(valid1, m1, -1)
    return m0, m1, mscores0, mscores1
