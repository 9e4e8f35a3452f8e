"""The LightGlue matcher with adaptive depth and width that is correct for any batch.

Every pair of a batch exits and prunes on its own: pairs that stop leave the batch, pruned
points leave their image, and the remaining points are packed left with a key mask where
images of the batch hold different numbers of points. A pair therefore gets the same result
in a batch as alone (up to float rounding of the padded attention).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from lightglue.matcher.assignment import MatchAssignment, TokenConfidence, filter_matches
from lightglue.matcher.config import FEATURE_PRESETS, PRUNING_MIN_KEYPOINTS, LightGlueConfig, make_config
from lightglue.matcher.inputs import ImageInputs, parse_image_inputs
from lightglue.matcher.layers import FourierPositionalEncoding, TransformerLayer
from lightglue.weights import WeightsProvenance, load_state_dict, resolve_weights, weights_provenance


# flash=True lets torch pick any attention kernel; flash=False forces the plain math one.
_FUSED_ATTENTION = [
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.CUDNN_ATTENTION,
    SDPBackend.MATH,
]


@dataclass
class _Side:
    """The still-active points of one image for the pairs still in the batch.

    Attributes:
        desc: [b, W, d] states, packed left.
        cos, sin: [b, 1, W, c] rotary encoding.
        index: [b, W] original keypoint index of each slot.
        valid: [b, W] slot holds a real, unpruned point.
        dense: every slot is valid (no attention mask needed).
    """

    desc: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    index: torch.Tensor
    valid: torch.Tensor
    dense: bool

    @classmethod
    def create(cls, desc, cos, sin, index, valid) -> "_Side":
        return cls(desc, cos, sin, index, valid, bool(valid.all()))

    def select_rows(self, rows: torch.Tensor) -> "_Side":
        return _Side.create(self.desc[rows], self.cos[rows], self.sin[rows], self.index[rows], self.valid[rows])

    def pack(self) -> "_Side":
        """Move valid slots to the front (order kept) and drop all-empty columns."""
        if self.valid.shape[0] == 1:  # one pair: keep the valid slots, no padding
            keep = torch.nonzero(self.valid[0]).squeeze(1)
            if keep.numel() == self.valid.shape[1]:
                return dataclasses.replace(self, dense=True)
            return _Side(
                self.desc.index_select(1, keep),
                self.cos.index_select(2, keep),
                self.sin.index_select(2, keep),
                self.index.index_select(1, keep),
                self.valid.new_ones((1, keep.numel())),
                True,
            )
        width = int(self.valid.sum(1).max()) if self.valid.numel() else 0
        packed = bool((self.valid[:, :-1] >= self.valid[:, 1:]).all())  # valid slots first
        if width == self.valid.shape[1] and packed:
            return _Side.create(self.desc, self.cos, self.sin, self.index, self.valid)
        order = torch.argsort((~self.valid).to(torch.uint8), dim=1, stable=True)[:, :width]
        d, c = self.desc.shape[-1], self.cos.shape[-1]
        enc_order = order[:, None, :, None].expand(-1, 1, -1, c)
        return _Side.create(
            self.desc.gather(1, order[..., None].expand(-1, -1, d)),
            self.cos.gather(2, enc_order),
            self.sin.gather(2, enc_order),
            self.index.gather(1, order),
            self.valid.gather(1, order),
        )

    @property
    def mask(self) -> torch.Tensor | None:
        """Key mask for attention, None when every slot is valid."""
        return None if self.dense else self.valid


class _CompiledForward:
    """A layer's forward through ``torch.compile``, falling back to eager if compiling fails."""

    def __init__(self, eager: Callable, mode: str) -> None:
        import torch._dynamo.exc
        import torch._inductor.exc

        self._failures = (torch._dynamo.exc.BackendCompilerFailed, torch._inductor.exc.InductorError)
        self.eager = eager
        self.compiled: Callable | None = torch.compile(eager, mode=mode, dynamic=True)

    def __call__(self, *args: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except self._failures as err:
                self.compiled = None
                warnings.warn(
                    f"LightGlue.compile: torch.compile cannot run here ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}); the layers run uncompiled.",
                    UserWarning,
                    stacklevel=2,
                )
        return self.eager(*args)


def weights_file(weights: str) -> Path:
    """The file that ``weights`` names: a path (``.pth``/``.pt`` or existing), else a canonical
    name found by :func:`lightglue.weights.resolve_weights` (e.g. ``"sift_lightglue"``)."""
    is_path = Path(str(weights)).suffix in (".pth", ".pt") or Path(str(weights)).exists()
    return resolve_weights(Path(weights).stem, path=weights if is_path else None)


class LightGlue(nn.Module):
    """LightGlue: match two sets of local features (ICCV 2023).

    A drop-in for the official ``lightglue.LightGlue``: same constructor, options, class
    attributes (:attr:`default_conf`, :attr:`features`, :attr:`required_data_keys`,
    :attr:`version`, :attr:`url`, :attr:`pruning_keypoint_thresholds`) and methods
    (:meth:`compile`, :meth:`confidence_threshold`, :meth:`get_pruning_mask`,
    :meth:`check_if_stop`, :meth:`pruning_min_kpts`).

    Args:
        features: preset name (``superpoint``, ``disk``, ``aliked``, ``sift``, ``doghardnet``,
            ``xfeat`` for LighterGlue) that selects the pretrained weights and descriptor size
            (and, for ``xfeat``, the smaller architecture), or None for a model with
            random weights (or the file given by ``weights``).
        **conf: overrides of :class:`~lightglue.matcher.config.LightGlueConfig`; a value
            passed here always wins over the preset. An unknown key is ignored with a
            warning naming the closest valid key; an out-of-range value is a ValueError.

    Inputs and outputs: see :meth:`forward`.
    """

    default_conf: ClassVar[dict[str, Any]] = {
        f.name: f.default for f in dataclasses.fields(LightGlueConfig)
    }
    """Every option with its default (the official keys, plus ``pruning_min_keypoints``)."""

    features: ClassVar[dict[str, dict[str, Any]]] = {
        name: {
            "weights": p.weights,
            "input_dim": p.input_dim,
            **({"add_scale_ori": True} if p.add_scale_ori else {}),
        }
        for name, p in FEATURE_PRESETS.items()
    }
    """The options each feature preset sets, as in the official class."""

    pruning_keypoint_thresholds: ClassVar[dict[str, int]] = dict(PRUNING_MIN_KEYPOINTS)
    """Images with at most this many points are not pruned, per device kind."""

    required_data_keys: ClassVar[list[str]] = ["image0", "image1"]
    version: ClassVar[str] = "v0.1_arxiv"
    url: ClassVar[str] = "https://github.com/cvg/LightGlue/releases/download/{}/{}_lightglue.pth"

    def __init__(self, features: str | None = "superpoint", **conf) -> None:
        super().__init__()
        self.conf: LightGlueConfig = make_config(features, **conf)
        self.feature_type = features
        self.static_lengths: list[int] | None = None
        c = self.conf
        d = c.descriptor_dim
        self.input_proj = nn.Linear(c.input_dim, d) if c.input_dim != d else nn.Identity()
        self.posenc = FourierPositionalEncoding(2 + 2 * c.add_scale_ori, c.head_dim)
        self.transformers = nn.ModuleList([TransformerLayer(d, c.num_heads) for _ in range(c.n_layers)])
        self.log_assignment = nn.ModuleList([MatchAssignment(d) for _ in range(c.n_layers)])
        self.token_confidence = nn.ModuleList([TokenConfidence(d) for _ in range(c.n_layers - 1)])
        thresholds = torch.from_numpy(c.confidence_thresholds())
        self.register_buffer("confidence_thresholds", thresholds, persistent=False)
        self.weights_provenance: WeightsProvenance | None = None  # the file loaded, if any
        if c.weights is not None:
            self.load_weights(c.weights)

    # ------------------------------------------------------------------ official API
    def compile(
        self,
        mode: str = "reduce-overhead",
        static_lengths: Sequence[int] = (256, 512, 768, 1024, 1280, 1536),
    ) -> None:
        """Compile every transformer layer with ``torch.compile`` (in place).

        Like the official method, it compiles the attention layers only; they are compiled for
        dynamic shapes, so inputs are not padded to ``static_lengths`` (recorded in
        :attr:`static_lengths` for compatibility). With point pruning enabled the number of
        points changes at every layer, which costs recompilations: a warning says so, as the
        official one does. When the compiler cannot run on this machine (no C++ toolchain,
        unsupported device), the first call warns and the layers run uncompiled, with the
        same results.

        Args:
            mode: a ``torch.compile`` mode (``default``, ``reduce-overhead``, ``max-autotune``...).
            static_lengths: point counts the official implementation pads to.
        """
        if self.conf.width_confidence != -1:
            warnings.warn(
                "LightGlue.compile: point pruning (width_confidence != -1) changes the number of "
                "points at every layer, so the compiled layers are re-specialised and gain less; "
                "pass width_confidence=-1 for the fastest compiled forward.",
                UserWarning,
                stacklevel=2,
            )
        for layer in self.transformers:
            eager = layer.forward
            if isinstance(eager, _CompiledForward):
                eager = eager.eager
            layer.forward = _CompiledForward(eager, mode)
        self.static_lengths = list(static_lengths)

    def confidence_threshold(self, layer_index: int) -> float:
        """Early-exit confidence threshold of layer ``layer_index``: ``clip(0.8 + 0.1 exp(-4 i / L), 0, 1)``."""
        return float(self.confidence_thresholds[layer_index])

    def get_pruning_mask(
        self, confidences: torch.Tensor | None, scores: torch.Tensor, layer_index: int
    ) -> torch.Tensor:
        """Points to keep after layer ``layer_index``: matchable, or not yet confident.

        Args:
            confidences: [B, N] token confidences, or None (no early exit).
            scores: [B, N] matchability probabilities.

        Returns:
            [B, N] bool, True = keep.
        """
        keep = scores > (1 - self.conf.width_confidence)
        if confidences is not None:  # low-confidence points are never pruned
            keep |= confidences <= self.confidence_thresholds[layer_index]
        return keep

    def check_if_stop(
        self,
        confidences0: torch.Tensor,
        confidences1: torch.Tensor,
        layer_index: int,
        num_points: int | torch.Tensor,
    ) -> torch.Tensor:
        """Early-exit test after layer ``layer_index``, per pair.

        Args:
            confidences0, confidences1: [B, M] / [B, N] token confidences (points that do not
                count must hold a value >= the threshold, e.g. 1).
            num_points: points of the pair, an int or [B].

        Returns:
            [B] bool: the share of confident points exceeds ``depth_confidence``.
        """
        threshold = self.confidence_thresholds[layer_index]
        unsure = (confidences0 < threshold).sum(-1) + (confidences1 < threshold).sum(-1)
        return (1.0 - unsure.float() / num_points) > self.conf.depth_confidence

    # ------------------------------------------------------------------ weights
    def load_weights(self, weights: str) -> None:
        """Load a state dict: a file path, or a canonical name found by the weights resolver.

        Old files with top-level ``self_attn.{i}`` / ``cross_attn.{i}`` keys are renamed.
        Keys are checked strictly: a missing or unexpected key is an error. Half-precision
        files load into the float32 model. The file that ran is kept in ``weights_provenance``.
        """
        file = weights_file(weights)
        state = load_state_dict(file.stem, path=file)
        try:
            self.load_state_dict(rename_legacy_keys(state, self.conf.n_layers), strict=True)
        except RuntimeError as err:
            raise ValueError(f"Weights {weights!r} do not fit this LightGlue configuration: {err}") from None
        self.weights_provenance = weights_provenance(file)

    # ------------------------------------------------------------------ forward
    def forward(self, data: dict) -> dict:
        """Match the features of ``data["image0"]`` and ``data["image1"]``.

        Each side is a dict with ``keypoints [B, N, 2]`` (pixels), ``descriptors [B, N, D]``,
        ``image_size [B, 2]`` (W, H) or ``image [B, C, H, W]``; ``scales``/``oris`` [B, N] for
        sift/doghardnet; ``keypoint_mask [B, N]`` for batches with unequal keypoint counts.
        Descriptors of any float dtype are converted to the model's; a NaN or infinite value
        in a real keypoint's inputs is a ValueError naming the image, batch element and index.

        Returns:
            dict with ``matches0 [B, M]`` (index into image 1, -1 if none), ``matches1 [B, N]``,
            ``matching_scores0 [B, M]``, ``matching_scores1 [B, N]``, ``matches`` (list of B
            [S, 2] index pairs), ``scores`` (list of B [S]), ``stop`` (LongTensor [B]: layers
            run per pair), ``prune0 [B, M]`` / ``prune1 [B, N]`` (layer at which each point
            was dropped, ``n_layers`` if never; 0 for padding).
        """
        if not isinstance(data, dict) or "image0" not in data or "image1" not in data:
            raise ValueError("LightGlue expects a dict with keys 'image0' and 'image1'")
        c = self.conf
        args = (c.input_dim, c.add_scale_ori, self.feature_type, self.log_assignment[0].final_proj.weight.dtype)
        in0 = parse_image_inputs(data["image0"], "image0", *args)
        in1 = parse_image_inputs(data["image1"], "image1", *args)
        if in0.descriptors.shape[0] != in1.descriptors.shape[0]:
            raise ValueError(
                f"LightGlue inputs have different batch sizes: {in0.descriptors.shape[0]} and {in1.descriptors.shape[0]}"
            )
        device = in0.descriptors.device
        backends = _FUSED_ATTENTION if c.flash else [SDPBackend.MATH]
        # Mixed precision: float16 autocast on CUDA (the reference's). On other devices the
        # transformer's dense layers multiply in bfloat16 while the residual states, norms,
        # attention and the assignment head stay in float32 (CPU autocast rounds the states
        # to bfloat16 at every layer and changes more matches; docs/speed.md has the figures).
        autocast = c.mp and device.type == "cuda"
        with torch.autocast(device.type, dtype=torch.float16, enabled=autocast), sdpa_kernel(backends):
            return self._match(in0, in1)

    def pruning_min_keypoints(self, device: torch.device) -> int:
        """Images with at most this many active points are not pruned (reference behaviour)."""
        if self.conf.pruning_min_keypoints is not None:
            return self.conf.pruning_min_keypoints
        kind = "flash" if device.type == "cuda" and self.conf.flash else device.type
        return self.pruning_keypoint_thresholds.get(kind, -1)

    pruning_min_kpts = pruning_min_keypoints  # the official name

    def _initial_side(self, inputs: ImageInputs) -> _Side:
        b, n = inputs.descriptors.shape[:2]
        device = inputs.descriptors.device
        desc = self.input_proj(inputs.descriptors)
        cos, sin = self.posenc(inputs.positions)
        index = torch.arange(n, device=device).expand(b, n)
        valid = inputs.mask if inputs.mask is not None else torch.ones((b, n), dtype=torch.bool, device=device)
        return _Side.create(desc, cos, sin, index, valid)

    def _match(self, in0: ImageInputs, in1: ImageInputs) -> dict:
        c = self.conf
        s0, s1 = self._initial_side(in0), self._initial_side(in1)
        out = _Outputs.empty(s0.valid, s1.valid, c.n_layers, pruning=c.width_confidence > 0)
        counts0, counts1 = in0.counts, in1.counts
        total = (counts0 + counts1).float()  # pruned points count as confident
        rows = torch.nonzero((counts0 > 0) & (counts1 > 0)).squeeze(1)  # pairs still running
        s0, s1 = s0.select_rows(rows), s1.select_rows(rows)
        for i in range(c.n_layers):
            if rows.numel() == 0:
                break
            s0.desc, s1.desc = self._layer(i, s0, s1)
            if i == c.n_layers - 1:
                break
            conf0 = conf1 = None
            changed = False
            if c.depth_confidence > 0:
                conf0 = self.token_confidence[i](s0.desc)
                conf1 = self.token_confidence[i](s1.desc)
                done = self.check_if_stop(
                    conf0.masked_fill(~s0.valid, 1.0), conf1.masked_fill(~s1.valid, 1.0), i, total[rows]
                )
                if bool(done.any()):  # these pairs exit: predict with this layer's head
                    self._finalize(out, i, i + 1, rows, done, s0, s1)
                    stay = torch.nonzero(~done).squeeze(1)
                    rows, s0, s1 = rows[stay], s0.select_rows(stay), s1.select_rows(stay)
                    conf0, conf1 = conf0[stay], conf1[stay]
                    changed = True
            if c.width_confidence > 0 and rows.numel():
                left0 = self._prune(i, s0, conf0, rows, out.prune0)
                left1 = self._prune(i, s1, conf1, rows, out.prune1)
                emptied = (left0 == 0) | (left1 == 0)
                if bool(emptied.any()):  # every point of an image pruned: nothing to match
                    out.stop[rows[emptied]] = i + 1
                    stay = torch.nonzero(~emptied).squeeze(1)
                    rows, s0, s1 = rows[stay], s0.select_rows(stay), s1.select_rows(stay)
                changed = True
            if changed:
                s0, s1 = s0.pack(), s1.pack()
        if rows.numel():
            self._finalize(out, c.n_layers - 1, c.n_layers, rows, None, s0, s1)
        return out.as_dict()

    def _prune(
        self,
        layer: int,
        side: _Side,
        confidence: torch.Tensor | None,
        rows: torch.Tensor,
        prune_out: torch.Tensor,
    ) -> torch.Tensor:
        """Drop the points that are confident and unmatchable (adaptive width), in place.

        Only images with more active points than :meth:`pruning_min_keypoints` are pruned;
        each kept point's ``prune_out`` entry gains 1. Returns the active points left per
        pair [b].
        """
        keep = self.get_pruning_mask(confidence, self.log_assignment[layer].matchability_probability(side.desc), layer)
        keep &= side.valid
        minimum = self.pruning_min_keypoints(side.desc.device)
        counted = keep  # points that went through a pruning step and stayed
        if minimum >= 0:  # images with few points are not pruned at all
            eligible = (side.valid.sum(1) > minimum)[:, None]
            counted = keep & eligible
            keep = torch.where(eligible, keep, side.valid)
        slot_rows, slots = counted.nonzero(as_tuple=True)
        prune_out.index_put_(
            (rows[slot_rows], side.index[slot_rows, slots]),
            torch.ones((), dtype=prune_out.dtype, device=prune_out.device),
            accumulate=True,
        )
        side.valid = keep
        side.dense = False  # until the next pack() looks
        return keep.sum(1)

    def _layer(self, i: int, s0: _Side, s1: _Side) -> tuple[torch.Tensor, torch.Tensor]:
        mask0, mask1 = s0.mask, s1.mask
        if (mask0 is None) != (mask1 is None):  # the cross block needs both or none
            mask0, mask1 = s0.valid, s1.valid
        enc0, enc1 = (s0.cos, s0.sin), (s1.cos, s1.sin)
        # mp off CUDA: bfloat16 products in the dense layers (see forward()); CUDA autocasts.
        gemm_dtype = torch.bfloat16 if self.conf.mp and s0.desc.device.type != "cuda" else None
        return self.transformers[i](s0.desc, s1.desc, enc0, enc1, mask0, mask1, gemm_dtype)

    def _finalize(
        self,
        out: "_Outputs",
        layer: int,
        stop: int,
        rows: torch.Tensor,
        which: torch.Tensor | None,
        s0: _Side,
        s1: _Side,
    ) -> None:
        """Predict the matches of the selected pairs with the assignment head of ``layer``."""
        head = self.log_assignment[layer]
        selected = range(rows.numel()) if which is None else torch.nonzero(which).squeeze(1).tolist()
        for r in selected:
            bi = int(rows[r])
            out.stop[bi] = stop
            v0, v1 = s0.valid[r], s1.valid[r]
            idx0, idx1 = s0.index[r][v0], s1.index[r][v1]
            if idx0.numel() == 0 or idx1.numel() == 0:
                continue
            scores, _ = head(s0.desc[r][v0][None], s1.desc[r][v1][None])
            m0, m1, ms0, ms1 = filter_matches(scores.float(), self.conf.filter_threshold)
            out.matches0[bi, idx0] = torch.where(m0[0] >= 0, idx1[m0[0].clamp(min=0)], -1)
            out.matches1[bi, idx1] = torch.where(m1[0] >= 0, idx0[m1[0].clamp(min=0)], -1)
            out.scores0[bi, idx0] = ms0[0]
            out.scores1[bi, idx1] = ms1[0]


@dataclass
class _Outputs:
    matches0: torch.Tensor
    matches1: torch.Tensor
    scores0: torch.Tensor
    scores1: torch.Tensor
    stop: torch.Tensor
    prune0: torch.Tensor
    prune1: torch.Tensor

    @classmethod
    def empty(cls, real0: torch.Tensor, real1: torch.Tensor, n_layers: int, pruning: bool) -> "_Outputs":
        """No matches yet for keypoints ``real0 [B, M]`` / ``real1 [B, N]`` (False = padding)."""
        (b, m), n = real0.shape, real1.shape[1]
        start = 1 if pruning else n_layers
        return cls(
            torch.full((b, m), -1, dtype=torch.long, device=real0.device),
            torch.full((b, n), -1, dtype=torch.long, device=real0.device),
            torch.zeros((b, m), device=real0.device),
            torch.zeros((b, n), device=real0.device),
            torch.zeros((b,), dtype=torch.long, device=real0.device),
            real0.long() * start,
            real1.long() * start,
        )

    def as_dict(self) -> dict:
        matches, scores = [], []
        for k in range(self.matches0.shape[0]):
            valid = self.matches0[k] > -1
            idx0 = torch.nonzero(valid).squeeze(1)
            matches.append(torch.stack([idx0, self.matches0[k][valid]], -1))
            scores.append(self.scores0[k][valid])
        return {
            "matches0": self.matches0,
            "matches1": self.matches1,
            "matching_scores0": self.scores0,
            "matching_scores1": self.scores1,
            "matches": matches,
            "scores": scores,
            "stop": self.stop,
            "prune0": self.prune0,
            "prune1": self.prune1,
        }


_BUNDLED_MATCHER = "matcher."


def rename_legacy_keys(state: dict, n_layers: int) -> dict:
    """Bring an official state dict to the current layout.

    Old top-level ``self_attn.{i}`` / ``cross_attn.{i}`` keys become ``transformers.{i}.*``.
    Some released files (DISK+LightGlue) carry ``log_assignment.{i}.r``, a scalar that no
    version of the model uses; it is dropped when it is the neutral value 1, kept (and so
    rejected by the strict load) otherwise. XFeat's LighterGlue file holds the matcher under
    ``matcher.*`` beside a copy of the XFeat network under ``extractor.*``: only the matcher's
    keys are kept, without the prefix.
    """
    if any(key.startswith(_BUNDLED_MATCHER) for key in state):
        state = {k[len(_BUNDLED_MATCHER) :]: v for k, v in state.items() if k.startswith(_BUNDLED_MATCHER)}
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "log_assignment" and parts[2] == "r":
            if value.numel() == 1 and float(value) == 1.0:
                continue
        for kind in ("self_attn", "cross_attn"):
            prefix = f"{kind}."
            if key.startswith(prefix):
                layer, rest = key[len(prefix) :].split(".", 1)
                if layer.isdigit() and int(layer) < n_layers:
                    key = f"transformers.{layer}.{kind}.{rest}"
        renamed[key] = value
    return renamed
