"""Training LightGlue: ground truth, the training forward pass, losses, data and the trainer.

Application layer: it builds on :mod:`lightglue.matcher` (the same module as inference),
:mod:`lightglue.extractors`, :mod:`lightglue.geometry` and :mod:`lightglue.evaluation`;
nothing below it imports it. Label conventions used throughout: ``gt_matches0[i] = j >= 0``
is a match, ``-1`` an unmatchable point (trained towards the dustbin), ``-2`` an ignored
(ambiguous) point.
"""
