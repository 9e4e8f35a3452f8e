"""Run an exported LightGlue with ONNX Runtime, with early exit and point pruning.

The graphs of an ``adaptive`` export do the numerical work; this module runs the control
flow between them as :class:`~lightglue.matcher.LightGlue` does for one pair: after each
layer it tests the early exit on the confidence of the points, then prunes the points that
are confident and unmatchable, and continues with the points that are left.

A batch is run pair by pair (every pair exits and prunes on its own, as in the PyTorch
model). Inputs are checked and normalised by the same code as the PyTorch model's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lightglue.matcher.config import PRUNING_MIN_KEYPOINTS
from lightglue.matcher.inputs import ImageInputs, parse_image_inputs
from lightglue.onnx.manifest import Manifest


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("OnnxLightGlue needs the 'onnxruntime' package: pip install 'lightglue[onnx]'") from None
    return onnxruntime


@dataclass
class _PairResult:
    """Outputs of one pair over its M and N real points (numpy)."""

    matches0: np.ndarray
    matches1: np.ndarray
    scores0: np.ndarray
    scores1: np.ndarray
    stop: int
    prune0: np.ndarray
    prune1: np.ndarray

    @classmethod
    def empty(cls, m: int, n: int, prune_start: int) -> "_PairResult":
        return cls(
            np.full(m, -1, np.int64), np.full(n, -1, np.int64),
            np.zeros(m, np.float32), np.zeros(n, np.float32),
            0, np.full(m, prune_start, np.int64), np.full(n, prune_start, np.int64),
        )


@dataclass
class _Side:
    """The active points of one image: states [1, W, d], encodings [1, 1, W, c], original indices [W]."""

    states: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    index: np.ndarray

    def keep(self, keep: np.ndarray) -> "_Side":
        return _Side(self.states[:, keep], self.cos[:, :, keep], self.sin[:, :, keep], self.index[keep])


class OnnxLightGlue:
    """LightGlue from a folder written by :func:`lightglue.onnx.export_onnx`, run by ONNX Runtime.

    Args:
        path: the export folder.
        providers: ONNX Runtime execution providers (default: CPU).
        threads: intra-op threads of ONNX Runtime (None: its default, one per core).
        **overrides: ``depth_confidence``, ``width_confidence``, ``filter_threshold`` or
            ``pruning_min_keypoints`` to use instead of the exported configuration (the
            first two only for an ``adaptive`` export; -1 disables early exit / pruning).

    Call it like :class:`~lightglue.matcher.LightGlue` (same input dict, same output keys);
    numpy inputs give numpy outputs, torch inputs give CPU torch tensors.
    """

    OVERRIDES = ("depth_confidence", "width_confidence", "filter_threshold", "pruning_min_keypoints")

    def __init__(self, path: str | Path, *, providers: list[str] | None = None, threads: int | None = None, **overrides) -> None:
        ort = _onnxruntime()
        self.path = Path(path)
        self.manifest = Manifest.read(self.path)
        self.providers = providers or ["CPUExecutionProvider"]
        self.conf = self.manifest.config
        self.conf = self._configure(**overrides)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self._sessions = {
            name: ort.InferenceSession(str(self.path / name), options, providers=self.providers)
            for name in self.manifest.files()
        }

    def _configure(self, **overrides):
        unknown = sorted(set(overrides) - set(self.OVERRIDES))
        if unknown:
            raise TypeError(f"Unknown OnnxLightGlue option(s) {unknown}; valid options: {list(self.OVERRIDES)}")
        conf = dataclasses.replace(self.conf, **overrides)
        adaptive = conf.depth_confidence > 0 or conf.width_confidence > 0
        if self.manifest.kind == "whole-graph" and adaptive:
            raise ValueError("a whole-graph export runs at full depth: early exit and pruning need an adaptive export")
        return conf

    def with_options(self, **overrides) -> "OnnxLightGlue":
        """A matcher sharing this one's sessions with other options (see the class arguments)."""
        clone = object.__new__(OnnxLightGlue)
        clone.__dict__.update(self.__dict__)
        clone.conf = self._configure(**overrides)
        return clone

    @property
    def pruning_min_keypoints(self) -> int:
        """Images with at most this many active points are not pruned (the reference's value per device)."""
        if self.conf.pruning_min_keypoints is not None:
            return self.conf.pruning_min_keypoints
        kind = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"  # plain attention: never "flash"
        return PRUNING_MIN_KEYPOINTS[kind]

    # ------------------------------------------------------------------ calling
    def __call__(self, data: dict) -> dict:
        """Match ``data["image0"]`` with ``data["image1"]``: see :meth:`lightglue.matcher.LightGlue.forward`.

        Returns:
            ``matches0 [B, M]``, ``matches1 [B, N]``, ``matching_scores0/1``, ``matches``
            (list of B [S, 2]), ``scores`` (list of B [S]), ``stop [B]``, ``prune0 [B, M]``,
            ``prune1 [B, N]``: numpy arrays, or torch tensors when the inputs were tensors.
        """
        if not isinstance(data, dict) or "image0" not in data or "image1" not in data:
            raise ValueError("OnnxLightGlue expects a dict with keys 'image0' and 'image1'")
        c = self.conf
        args = (c.input_dim, c.add_scale_ori, self.manifest.features, torch.float32)
        in0 = parse_image_inputs(_to_torch(data["image0"]), "image0", *args)
        in1 = parse_image_inputs(_to_torch(data["image1"]), "image1", *args)
        if in0.descriptors.shape[0] != in1.descriptors.shape[0]:
            raise ValueError(
                f"OnnxLightGlue inputs have different batch sizes: {in0.descriptors.shape[0]} and {in1.descriptors.shape[0]}"
            )
        as_torch = not isinstance(data["image0"]["keypoints"], np.ndarray)
        results = [self._match_pair(*_pair(in0, b), *_pair(in1, b)) for b in range(in0.descriptors.shape[0])]
        out = _batch_outputs(results, in0, in1)
        return {k: _to_output(v, as_torch) for k, v in out.items()}

    def _match_pair(self, desc0: np.ndarray, pos0: np.ndarray, desc1: np.ndarray, pos1: np.ndarray) -> _PairResult:
        """desc [M, D] / [N, D], pos [M, P] / [N, P] (normalised) of the real points of one pair."""
        c = self.conf
        layers = c.n_layers
        m, n = len(desc0), len(desc1)
        result = _PairResult.empty(m, n, 1 if c.width_confidence > 0 else layers)
        if m == 0 or n == 0:
            return result
        if self.manifest.kind == "whole-graph":
            feeds = {"descriptors0": desc0[None], "positions0": pos0[None], "descriptors1": desc1[None], "positions1": pos1[None]}
            self._assign(self.manifest.graphs["whole"], feeds, result, layers, np.arange(m), np.arange(n))
            return result
        graphs = self.manifest.graphs
        s0, s1 = self._encode(desc0, pos0), self._encode(desc1, pos1)
        thresholds = c.confidence_thresholds()
        total = np.float32(m + n)  # pruned points count as confident
        for i in range(layers):
            outputs = self._sessions[graphs["layers"][i]].run(None, {
                "states0": s0.states, "states1": s1.states,
                "cos0": s0.cos, "sin0": s0.sin, "cos1": s1.cos, "sin1": s1.sin,
            })
            s0.states, s1.states = outputs[0], outputs[1]
            if i == layers - 1:
                break
            conf0, conf1, prob0, prob1 = (o[0] for o in outputs[2:])
            threshold = thresholds[i]
            if c.depth_confidence > 0:
                unsure = np.count_nonzero(conf0 < threshold) + np.count_nonzero(conf1 < threshold)
                if np.float32(1.0) - np.float32(unsure) / total > np.float32(c.depth_confidence):
                    self._assign_states(graphs["assign"][i], result, i + 1, s0, s1)
                    return result
            if c.width_confidence > 0:
                keep0 = self._prune(prob0, conf0 if c.depth_confidence > 0 else None, threshold, s0.index, result.prune0)
                keep1 = self._prune(prob1, conf1 if c.depth_confidence > 0 else None, threshold, s1.index, result.prune1)
                if not keep0.any() or not keep1.any():  # every point of an image pruned: nothing to match
                    result.stop = i + 1
                    return result
                s0, s1 = s0.keep(keep0), s1.keep(keep1)
        self._assign_states(graphs["assign"][layers - 1], result, layers, s0, s1)
        return result

    def _encode(self, desc: np.ndarray, pos: np.ndarray) -> _Side:
        states, cos, sin = self._sessions[self.manifest.graphs["encode"]].run(None, {"descriptors": desc[None], "positions": pos[None]})
        return _Side(states, cos, sin, np.arange(len(desc)))

    def _prune(self, matchability, confidence, threshold, index: np.ndarray, prune_out: np.ndarray) -> np.ndarray:
        """Which active points stay [W] (bool); each kept point of a pruned image gains 1 in ``prune_out``."""
        keep = matchability > np.float32(1 - self.conf.width_confidence)
        if confidence is not None:  # low-confidence points are never pruned
            keep |= confidence <= threshold
        minimum = self.pruning_min_keypoints
        if minimum >= 0 and len(keep) <= minimum:  # images with few points are not pruned at all
            return np.ones_like(keep)
        prune_out[index[keep]] += 1
        return keep

    def _assign_states(self, graph: str, result: _PairResult, stop: int, s0: _Side, s1: _Side) -> None:
        self._assign(graph, {"states0": s0.states, "states1": s1.states}, result, stop, s0.index, s1.index)

    def _assign(self, graph: str, feeds: dict, result: _PairResult, stop: int, idx0: np.ndarray, idx1: np.ndarray) -> None:
        """Run an assignment graph on ``feeds`` and write its matches of the points ``idx0`` / ``idx1`` to ``result``."""
        threshold = np.array(self.conf.filter_threshold, np.float32)
        m0, m1, ms0, ms1 = (o[0] for o in self._sessions[graph].run(None, {**feeds, "threshold": threshold}))
        result.stop = stop
        result.matches0[idx0] = _remap(m0, idx1)
        result.matches1[idx1] = _remap(m1, idx0)
        result.scores0[idx0] = ms0
        result.scores1[idx1] = ms1


def _remap(matches: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Match indices into a subset of points [K] (-1: none) -> indices ``index[matches]`` of the full set."""
    out = np.full(matches.shape, -1, np.int64)
    found = matches >= 0
    out[found] = index[matches[found]]
    return out


def _to_torch(feats):
    """A feature dict with numpy arrays turned into tensors (other values untouched)."""
    if not isinstance(feats, dict):
        return feats  # parse_image_inputs reports it
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in feats.items()}


def _pair(inputs: ImageInputs, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors [n, D] and positions [n, P] (float32) of the real points of batch element ``b``."""
    desc, pos = inputs.descriptors[b], inputs.positions[b]
    if inputs.mask is not None:
        desc, pos = desc[inputs.mask[b]], pos[inputs.mask[b]]
    return (np.ascontiguousarray(desc.detach().cpu().numpy(), np.float32),
            np.ascontiguousarray(pos.detach().cpu().numpy(), np.float32))


def _batch_outputs(results: list[_PairResult], in0: ImageInputs, in1: ImageInputs) -> dict:
    """Scatter the per-pair results to [B, M] / [B, N] outputs (padding: no match, score 0, prune 0)."""
    (b, m), n = in0.descriptors.shape[:2], in1.descriptors.shape[1]
    real0 = np.ones((b, m), bool) if in0.mask is None else in0.mask.cpu().numpy()
    real1 = np.ones((b, n), bool) if in1.mask is None else in1.mask.cpu().numpy()
    out = {
        "matches0": np.full((b, m), -1, np.int64), "matches1": np.full((b, n), -1, np.int64),
        "matching_scores0": np.zeros((b, m), np.float32), "matching_scores1": np.zeros((b, n), np.float32),
        "stop": np.zeros(b, np.int64), "prune0": np.zeros((b, m), np.int64), "prune1": np.zeros((b, n), np.int64),
    }
    for k, r in enumerate(results):
        out["matches0"][k, real0[k]] = _remap(r.matches0, np.flatnonzero(real1[k]))
        out["matches1"][k, real1[k]] = _remap(r.matches1, np.flatnonzero(real0[k]))
        out["matching_scores0"][k, real0[k]] = r.scores0
        out["matching_scores1"][k, real1[k]] = r.scores1
        out["stop"][k] = r.stop
        out["prune0"][k, real0[k]] = r.prune0
        out["prune1"][k, real1[k]] = r.prune1
    valid = out["matches0"] > -1
    out["matches"] = [np.stack([np.flatnonzero(v), m0[v]], -1) for v, m0 in zip(valid, out["matches0"])]
    out["scores"] = [s[v] for v, s in zip(valid, out["matching_scores0"])]
    return out


def _to_output(value, as_torch: bool):
    if not as_torch:
        return value
    if isinstance(value, list):
        return [torch.from_numpy(v) for v in value]
    return torch.from_numpy(value)
