"""The training loop: optimiser, schedule, validation, logs, checkpoints, resuming.

One :class:`Trainer` runs on every process of a ``torchrun`` group (or alone): each process
computes the loss of its slice of the global batch, the gradients are averaged over the
processes (:mod:`lightglue.training.distributed`), and only rank 0 validates and writes the
run folder::

    OUT/config.json                 the resolved configuration
    OUT/log.jsonl, OUT/log.png      training and validation records, and their plot
    OUT/checkpoints/step_*.pt       full training state (atomic; the newest few are kept)
    OUT/checkpoints/latest          name of the newest checkpoint
    OUT/weights.pth                 plain state dict for ``LightGlue(features=..., weights=...)``

A resumed run (``resume=True``) loads the newest checkpoint: model, optimiser, loss scaler,
data-order position and random generators, so that it computes the same losses as a run that
was never interrupted.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightglue.evaluation.homography import HOMOGRAPHY_AUC_THRESHOLDS, HOMOGRAPHY_RANSAC_TH
from lightglue.evaluation.metrics import error_auc
from lightglue.evaluation.pose import POSE_AUC_THRESHOLDS, POSE_RANSAC_TH
from lightglue.evaluation.summary import auc_key
from lightglue.geometry import estimate_homography, estimate_relative_pose, homography_corner_error, relative_pose_error
from lightglue.matcher import FEATURE_PRESETS, LightGlue
from lightglue.training import distributed
from lightglue.training.checkpoint import (
    export_weights,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from lightglue.training.config import ConfigError, ModelSection, TrainingConfig, TrainSection, dataset_kwargs
from lightglue.training.data.collate import collate as default_collate
from lightglue.training.data.sampler import ResumableSampler
from lightglue.training.forward import training_forward
from lightglue.training.history import LOG_FILE, PLOT_FILE, TrainingLog, plot_log
from lightglue.training.losses import lightglue_loss
from lightglue.training.metrics import matcher_metrics
from lightglue.utils import batch_to_device

WEIGHTS_FILE = "weights.pth"
CONFIG_FILE = "config.json"
VAL_ESTIMATOR = "poselib"
"""Homography / relative-pose estimator of the validation AUCs (thresholds: the evaluation's defaults)."""
DATASETS = {
    "homography": ("lightglue.training.data.homography_pairs", "HomographyPairs"),
    "megadepth": ("lightglue.training.data.megadepth", "MegaDepthPairs"),
    "colmap": ("lightglue.training.data.colmap_pairs", "ColmapPairs"),
}
# Settings that fix what a checkpoint means: resuming with other values is an error (the
# starting weights and the feature cache's location do not matter once a run has started).
_RESUME_FREE = ("model.init", "data.cache_dir", "data.mix.cache_dir")


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient became NaN or infinite; the run stopped."""


class Stopped(RuntimeError):
    """A run that cannot start or continue (existing run folder, incompatible checkpoint)."""


def build_model(model: ModelSection) -> LightGlue:
    """A LightGlue for ``model.features`` with ``model.options``, initialised as ``model.init`` says.

    ``init``: ``none`` (random, from the current torch seed), ``official`` (the preset's
    pretrained file), a weight name of :mod:`lightglue.weights`, or a file: exported weights
    or a trainer checkpoint (its ``model`` entry). With ``model.trainable``, only the
    parameters whose names start with one of its prefixes keep ``requires_grad``.

    Raises:
        ConfigError: a ``trainable`` prefix that names no parameter.
    """
    preset = FEATURE_PRESETS[model.features]
    options = {"input_dim": preset.input_dim, "add_scale_ori": preset.add_scale_ori, **model.options}
    weights = {"none": None, "official": preset.weights}.get(model.init, model.init)
    net = LightGlue(features=None, weights=weights, **options)
    if model.trainable:
        freeze_except(net, model.trainable)
    return net


def freeze_except(net: torch.nn.Module, prefixes: tuple[str, ...]) -> None:
    """Set ``requires_grad`` on the parameters named ``<prefix>`` or ``<prefix>.*``, clear it elsewhere.

    Raises:
        ConfigError: a prefix that names no parameter (the message lists the top-level modules).
    """
    def under(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    names = [name for name, _ in net.named_parameters()]
    for prefix in prefixes:
        if not any(under(name, prefix) for name in names):
            modules = sorted({name.split(".")[0] for name in names})
            raise ConfigError(f"model.trainable: {prefix!r} names no parameter (the model's modules: {modules})")
    for name, param in net.named_parameters():
        param.requires_grad_(any(under(name, p) for p in prefixes))


def build_datasets(config: TrainingConfig) -> tuple[Any, Any | None]:
    """The training and validation datasets of ``config.data`` (validation: None if the kind has no split).

    The ``[data]`` options are checked against the dataset's keyword arguments; ``seed`` comes
    from ``train.seed``, ``features`` from ``model.features`` unless given. With ``[data.mix]``,
    the training set is a :class:`~lightglue.training.data.mixed.MixedPairs` of both sources'
    training splits; validation stays the first source's.

    Raises:
        ConfigError: an option the dataset does not take, or features that differ from the model's.
    """
    options = dict(config.data.options)
    mix = options.pop("mix", None)
    train_set, val_set = _source_datasets(config, config.data.kind, options)
    if mix is not None:
        from lightglue.training.data.mixed import MixedPairs

        mix = dict(mix)
        kind, share = mix.pop("kind"), mix.pop("share")
        secondary = _source_datasets(config, kind, mix, val=False, section="data.mix")[0]
        train_set = MixedPairs(train_set, secondary, share)
    return train_set, val_set


def _source_datasets(
    config: TrainingConfig, kind: str, options: Mapping[str, Any], val: bool = True, section: str = "data"
) -> tuple[Any, Any | None]:
    """The training and (when ``val`` and the kind has a split) validation datasets of one source
    (``section``: where its options are, for error messages)."""
    module, name = DATASETS[kind]
    cls = getattr(importlib.import_module(module), name)
    params = inspect.signature(cls).parameters
    kwargs = dataset_kwargs(kind, cls, options, reserved=("seed", "split"), section=section)
    if "features" in params:
        features = kwargs.setdefault("features", config.model.features)
        if features != config.model.features:
            raise ConfigError(f"{section}.features = {features!r} but model.features = {config.model.features!r}")
    if "seed" in params:
        kwargs["seed"] = config.train.seed
    if "split" not in params:
        return cls(**kwargs), None
    return cls(**kwargs, split="train"), (cls(**kwargs, split="val") if val else None)


def learning_rate(step: int, t: TrainSection) -> float:
    """Learning rate of optimiser step ``step`` (0-based): warm-up, then constant or exp decay."""
    lr = t.lr
    if t.warmup_steps and step < t.warmup_steps:
        lr *= (step + 1) / t.warmup_steps
    if t.schedule == "exp" and step >= t.decay_start:
        lr *= 10.0 ** (-(step - t.decay_start) / t.exp_div_10)
    return lr


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _flatten(prefix: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """``{"key": {"sub": v}}`` -> ``{"<prefix>key.sub": v}``: sub-tables down to their leaves."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(f"{prefix}{key}.", value))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _fixed_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with its checkpoint, as ``{"section.key[.sub]": value}``
    (sub-tables such as ``[data.mix]`` key by key)."""
    flat = {**_flatten("model.", config["model"]), **_flatten("data.", config["data"])}
    flat.update({f"train.{key}": config["train"][key] for key in ("batch_size", "seed")})
    return {key: value for key, value in flat.items() if key not in _RESUME_FREE}


class Trainer:
    """Train a LightGlue as a :class:`~lightglue.training.config.TrainingConfig` says.

    Args:
        config: the validated configuration.
        out_dir: the run folder (written by rank 0 only).
        train_set: a dataset (``__len__``, ``__getitem__``, ``collate``) of training pairs.
        val_set: held-out pairs for validation, or None.
        ctx: this process in the data-parallel group (default: set up from the environment).
        model: the model to train (default: :func:`build_model` of ``config.model``).
        show_progress: draw a progress bar (rank 0).
    """

    def __init__(
        self,
        config: TrainingConfig,
        out_dir: str | Path,
        train_set: Any,
        val_set: Any | None = None,
        ctx: distributed.Distributed | None = None,
        model: LightGlue | None = None,
        show_progress: bool = True,
    ) -> None:
        self.config = config
        self.t = config.train
        self.out = Path(out_dir)
        self.train_set, self.val_set = train_set, val_set
        self.ctx = ctx if ctx is not None else distributed.setup(self.t.device)
        if self.t.threads:
            torch.set_num_threads(self.t.threads)
        if model is None:
            torch.manual_seed(self.t.seed)
            model = build_model(config.model)
        self.model = model.to(self.ctx.device).train()
        distributed.broadcast_parameters(self.model, self.ctx)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if self.t.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.params, lr=self.t.lr, weight_decay=self.t.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.t.mp and self.ctx.device.type == "cuda")
        self.sampler = ResumableSampler(len(train_set), self.t.batch_size, self.t.seed, self.ctx.world_size, self.ctx.rank)
        self.step = 0
        self.show_progress = show_progress

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (tensors and plain values only)."""
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": _rng_state(),
            "config": self.config.to_dict(),
            "world_size": self.ctx.world_size,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpoint of the same model, data, batch size and seed (``train.steps``,
        the intervals, ``model.init`` and ``data.cache_dir`` may differ).

        Raises:
            Stopped: the checkpoint was written with another model, data, batch size or seed.
        """
        saved, current = _fixed_settings(state["config"]), _fixed_settings(self.config.to_dict())
        differ = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
        if differ:
            raise Stopped(f"cannot resume: the checkpoint was written with other settings for {differ}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        _set_rng_state(state["rng"])
        self.step = int(state["step"])

    # ------------------------------------------------------------------ data
    def batches(self):
        """Training batches of this rank forever, from the sampler's position (epoch after epoch)."""
        collate = getattr(self.train_set, "collate", default_collate)
        while True:
            if self.t.num_workers:
                loader = torch.utils.data.DataLoader(
                    self.train_set, batch_sampler=self.sampler, collate_fn=collate, num_workers=self.t.num_workers
                )
                yield from loader
            else:
                for indices in self.sampler:
                    yield collate([self.train_set[i] for i in indices])
            # train_step's sampler.advance() has rolled over to the next epoch by now

    # ------------------------------------------------------------------ one step
    def train_step(self, batch: dict) -> dict[str, float]:
        """One optimiser step on this rank's part of a global batch; returns the global batch's means.

        Raises:
            NonFiniteLossError: the loss or the gradient norm is not finite on some process.
        """
        t = self.t
        lr = learning_rate(self.step, t)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        data = batch_to_device(batch, self.ctx.device)
        self.optimizer.zero_grad(set_to_none=True)
        pred = training_forward(self.model, data, checkpointed=t.checkpointed, mp=t.mp)
        losses = lightglue_loss(pred, data, gamma=self.config.loss.gamma, nll_balancing=self.config.loss.nll_balancing)
        loss = losses["total"].mean()
        if not distributed.all_ranks_true(bool(torch.isfinite(loss)), self.ctx):
            raise NonFiniteLossError(f"the loss is not finite at step {self.step + 1} (value {loss.item()})")
        self.scaler.scale(loss).backward()
        distributed.average_gradients(self.params, self.ctx)
        self.scaler.unscale_(self.optimizer)
        max_norm = t.clip if t.clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        if not self.scaler.is_enabled() and not bool(torch.isfinite(grad_norm)):
            raise NonFiniteLossError(f"the gradient is not finite at step {self.step + 1}")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.sampler.advance()
        self.step += 1
        keys = ("total", "last", "nll_pos", "nll_neg", "confidence")
        means = distributed.mean_over_ranks(torch.stack([losses[k].detach().float().mean() for k in keys]), self.ctx)
        record = {("loss" if k == "total" else k): float(v) for k, v in zip(keys, means.tolist(), strict=True)}
        record.update(lr=lr, grad_norm=float(grad_norm))
        return record

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss, precision, recall (means over the validation pairs) and AUCs.

        Homography pairs (``H_0to1``): AUC at 1/3/5 px of the corner error of the homography
        estimated from the predicted matches. Posed pairs (``K0``, ``K1``, ``T_0to1``): AUC at
        5/10/20 degrees of the relative-pose error (max of rotation and translation angle).
        PoseLib with the evaluation's thresholds; a failed estimate counts as infinite error.
        """
        val = self.val_set
        n_batches = math.ceil(len(val) / self.t.batch_size)
        if self.t.val_batches:
            n_batches = min(n_batches, self.t.val_batches)
        sums: dict[str, float] = {}
        count = 0
        errors: list[float] = []
        for b in range(n_batches):
            indices = range(b * self.t.batch_size, min(len(val), (b + 1) * self.t.batch_size))
            collate = getattr(val, "collate", default_collate)
            data = batch_to_device(collate([val[i] for i in indices]), self.ctx.device)
            pred = training_forward(self.model, data, mp=self.t.mp)
            losses = lightglue_loss(pred, data, gamma=self.config.loss.gamma, nll_balancing=self.config.loss.nll_balancing)
            metrics = matcher_metrics(pred, data)
            per_pair = {"loss": losses["total"], "precision": metrics["precision"], "recall": metrics["recall"]}
            for key, values in per_pair.items():
                sums[key] = sums.get(key, 0.0) + float(values.float().sum())
            count += len(indices)
            if "H_0to1" in data:
                errors.extend(self._homography_errors(pred, data))
            elif all(k in data for k in ("K0", "K1", "T_0to1")):
                errors.extend(self._pose_errors(pred, data))
        record = {key: total / max(count, 1) for key, total in sums.items()}
        record["pairs"] = count
        if errors:
            thresholds, unit = (HOMOGRAPHY_AUC_THRESHOLDS, "px") if "H_0to1" in data else (POSE_AUC_THRESHOLDS, "deg")
            aucs = error_auc(errors, thresholds)
            record.update({auc_key(t, unit): a for t, a in zip(thresholds, aucs, strict=True)})
        return record

    @staticmethod
    def _matched_keypoints(pred: dict, data: dict, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``[S, 2]`` (float64) of pair ``b``'s predicted matches in image 0 and image 1."""
        m0 = pred["matches0"][b].cpu()
        valid = m0 > -1
        k0 = data["keypoints0"][b].cpu()[valid].double().numpy()
        k1 = data["keypoints1"][b].cpu()[m0[valid]].double().numpy()
        return k0, k1

    @classmethod
    def _pose_errors(cls, pred: dict, data: dict) -> list[float]:
        """Pose error (degrees, max of rotation and translation angle; inf on failure) of each pair."""
        errors = []
        for b in range(pred["matches0"].shape[0]):
            k0, k1 = cls._matched_keypoints(pred, data, b)
            K0, K1, T = (data[k][b].cpu().double().numpy() for k in ("K0", "K1", "T_0to1"))
            pose = estimate_relative_pose(k0, k1, K0, K1, VAL_ESTIMATOR, POSE_RANSAC_TH[VAL_ESTIMATOR])
            errors.append(float("inf") if pose is None else max(relative_pose_error(T, pose.R, pose.t)))
        return errors

    @classmethod
    def _homography_errors(cls, pred: dict, data: dict) -> list[float]:
        """Corner error (pixels, inf on failure) of the homography estimated from each pair's matches."""
        errors = []
        for b in range(pred["matches0"].shape[0]):
            k0, k1 = cls._matched_keypoints(pred, data, b)
            H, _ = estimate_homography(k0, k1, VAL_ESTIMATOR, HOMOGRAPHY_RANSAC_TH[VAL_ESTIMATOR])
            w, h = data["image_size0"][b].tolist()
            errors.append(homography_corner_error(H, data["H_0to1"][b].cpu().double().numpy(), w, h))
        return errors

    # ------------------------------------------------------------------ outputs
    def save(self) -> Path:
        """Checkpoint the current step and export the weights (rank 0 only; call on every rank)."""
        path = None
        if self.ctx.is_main:
            path = save_checkpoint(self.out, self.step, self.state_dict(), keep=self.t.keep_checkpoints)
            export_weights(self.model.state_dict(), self.out / WEIGHTS_FILE, fp16=self.t.export_fp16)
        distributed.barrier(self.ctx)
        return path

    def _prepare_run_folder(self, resume: bool) -> TrainingLog | None:
        """Load the newest checkpoint when resuming; refuse to overwrite an existing run otherwise."""
        if resume:
            path = latest_checkpoint(self.out)
            if path is None:
                raise Stopped(f"nothing to resume: {self.out} has no checkpoint")
            self.load_state_dict(load_checkpoint(path))
        elif list_checkpoints(self.out):
            raise Stopped(f"{self.out} already holds a run; resume it (--resume) or choose another folder")
        if not self.ctx.is_main:
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.config.to_dict(), indent=2)
        (self.out / CONFIG_FILE).write_text(text)
        return TrainingLog(self.out / LOG_FILE, resume_step=self.step if resume else None)

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train up to ``train.steps``; returns the last training and validation records.

        Raises:
            NonFiniteLossError: the run stopped; the newest checkpoint on disk is the last good one.
            Stopped: nothing to resume, or an existing run folder without ``resume``.
        """
        from tqdm import tqdm

        t = self.t
        log = self._prepare_run_folder(resume)
        pairs_per_step = t.batch_size
        last_train: dict[str, float] = {}
        last_val: dict[str, float] = {}
        bar = tqdm(total=t.steps, initial=self.step, disable=not (self.show_progress and self.ctx.is_main),
                   unit="step", dynamic_ncols=True)
        batches = self.batches()
        smoothed = None
        try:
            while self.step < t.steps:
                start = time.perf_counter()
                batch = next(batches)
                record = self.train_step(batch)
                rate = pairs_per_step / max(time.perf_counter() - start, 1e-9)
                record["pairs_per_s"] = rate
                last_train = record
                smoothed = record["loss"] if smoothed is None else 0.9 * smoothed + 0.1 * record["loss"]
                bar.update(1)
                bar.set_postfix(loss=f"{smoothed:.3f}", pairs_s=f"{rate:.1f}", lr=f"{record['lr']:.1e}")
                if log is not None and (self.step % t.log_every == 0 or self.step == t.steps):
                    log.write("train", self.step, record)
                final = self.step == t.steps
                if self.val_set is not None and ((t.val_every and self.step % t.val_every == 0) or final):
                    if self.ctx.is_main:
                        last_val = self.validate()
                        log.write("val", self.step, last_val)
                        if self.show_progress:
                            bar.write(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in last_val.items()))
                    distributed.barrier(self.ctx)
                if self.step % t.checkpoint_every == 0 or final:
                    self.save()
                    if log is not None:
                        plot_log(self.out / LOG_FILE, self.out / PLOT_FILE)
        except NonFiniteLossError as err:
            good = latest_checkpoint(self.out)
            kept = f"the last good checkpoint is {good}" if good else "no checkpoint was written yet"
            raise NonFiniteLossError(f"{err}; training stopped, {kept}") from None
        finally:
            bar.close()
            if log is not None:
                log.close()
        return {"step": self.step, "train": last_train, "val": last_val}
