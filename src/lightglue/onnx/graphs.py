"""The pieces of a LightGlue model that are exported as ONNX graphs.

Each wrapper calls the submodules of one :class:`~lightglue.matcher.LightGlue` (never a copy
of their code) for a single pair (batch 1) whose point counts M and N are dynamic axes:

- :class:`EncodeGraph`: input projection and rotary positional encoding of one image;
- :class:`LayerGraph`: transformer layer ``i`` (self blocks on both images, then the cross
  block), plus, for every layer but the last, the per-point confidence and matchability
  probability that the early-exit and pruning decisions need;
- :class:`AssignGraph`: the assignment head of layer ``i`` and the mutual-argmax filter;

Attention runs without a mask (one pair, no padding), so the exporter writes the plain
``MatMul``/``Softmax`` form that every ONNX runtime has.
"""

from __future__ import annotations

import torch
from torch import nn

from lightglue.matcher.assignment import filter_matches
from lightglue.matcher.lightglue import LightGlue


class EncodeGraph(nn.Module):
    """descriptors [1, N, D], positions [1, N, P] (normalised) -> states [1, N, d], cos, sin [1, 1, N, c]."""

    def __init__(self, model: LightGlue) -> None:
        super().__init__()
        self.input_proj, self.posenc = model.input_proj, model.posenc

    def forward(self, descriptors: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cos, sin = self.posenc(positions)
        return self.input_proj(descriptors), cos, sin


class LayerGraph(nn.Module):
    """Layer ``i``: states [1, M, d], [1, N, d] and their encodings -> updated states.

    With ``heads`` (every layer but the last) it also returns the token confidence
    [1, M] / [1, N] and the matchability probability [1, M] / [1, N] of the updated states.
    """

    def __init__(self, model: LightGlue, i: int, heads: bool) -> None:
        super().__init__()
        self.layer = model.transformers[i]
        self.confidence = model.token_confidence[i] if heads else None
        self.assignment = model.log_assignment[i] if heads else None

    def forward(self, desc0, desc1, cos0, sin0, cos1, sin1) -> tuple[torch.Tensor, ...]:
        desc0, desc1 = self.layer(desc0, desc1, (cos0, sin0), (cos1, sin1))
        if self.confidence is None:
            return desc0, desc1
        return (
            desc0,
            desc1,
            self.confidence(desc0),
            self.confidence(desc1),
            self.assignment.matchability_probability(desc0),
            self.assignment.matchability_probability(desc1),
        )


class AssignGraph(nn.Module):
    """Head ``i``: states [1, M, d], [1, N, d], threshold (0-d) -> matches0 [1, M], matches1 [1, N], scores."""

    def __init__(self, model: LightGlue, i: int) -> None:
        super().__init__()
        self.head = model.log_assignment[i]

    def forward(self, desc0, desc1, threshold) -> tuple[torch.Tensor, ...]:
        scores, _ = self.head(desc0, desc1)
        return filter_matches(scores, threshold)
