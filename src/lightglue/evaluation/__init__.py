"""Benchmarks: homography (HPatches), relative pose (ScanNet-1500, MegaDepth-1500), speed.

Modules: :mod:`~lightglue.evaluation.metrics` (AUC), dataset readers
(:mod:`~lightglue.evaluation.hpatches`, :mod:`~lightglue.evaluation.posedata`), nearest-
neighbour baselines (:mod:`~lightglue.evaluation.baselines`), named methods
(:mod:`~lightglue.evaluation.methods`), runners (:mod:`~lightglue.evaluation.homography`,
:mod:`~lightglue.evaluation.pose`, :mod:`~lightglue.evaluation.speed`), and outputs
(:mod:`~lightglue.evaluation.report`, :mod:`~lightglue.evaluation.plots`).
"""
