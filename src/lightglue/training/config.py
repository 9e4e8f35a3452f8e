"""The training configuration: a TOML file with four sections, plus command-line overrides.

Sections and their keys (defaults in brackets)::

    [model]   features ["sift"], init ["none"] (none | official | a weight name such as
              "aliked_lightglue" | a checkpoint or weight file), trainable [[], all
              parameters] (prefixes of the parameter names that are trained, the rest
              frozen, e.g. ["token_confidence"]), and any LightGlue option (n_layers,
              descriptor_dim, num_heads, filter_threshold, flash, ...).
    [data]    kind ["homography"] (homography | megadepth | colmap) and the options of that
              kind's dataset (checked against its constructor's keyword arguments);
              optionally a sub-table [data.mix] with a second source's kind, its share of
              the training pairs (0 < share < 1) and its options (see
              :mod:`lightglue.training.data.mixed`; validation uses the first source).
    [train]   steps, batch_size, optimizer, lr, weight_decay, schedule, decay_start,
              exp_div_10, warmup_steps, clip, seed, mp, checkpointed, device, threads,
              num_workers, log_every, val_every, val_batches, checkpoint_every,
              keep_checkpoints, export_fp16 (see :class:`TrainSection`).
    [loss]    gamma [1.0], nll_balancing [0.5].

The defaults are glue-factory's homography pre-training recipe where it has one (Adam,
learning rate 1e-4, constant then divided by 10 every ``exp_div_10`` steps, no gradient
clipping), with a batch size sized for a CPU. An unknown key anywhere is an error that names
it and the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightglue.matcher.config import CONFIG_KEYS, FEATURE_PRESETS, LightGlueConfig

DATA_KINDS = ("homography", "megadepth", "colmap")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "exp")
DEVICES = ("auto", "cpu", "cuda")
# LightGlue options that the trainer sets itself (weights come from model.init).
_MODEL_RESERVED = frozenset({"weights", "name"})
MODEL_OPTION_KEYS = frozenset(CONFIG_KEYS - _MODEL_RESERVED)


class ConfigError(ValueError):
    """A training configuration that cannot be used (unknown key, bad value, unreadable file)."""


@dataclass(frozen=True)
class ModelSection:
    """What is trained.

    Attributes:
        features: feature preset (fixes the descriptor size and the scale/orientation input).
        init: ``"none"`` (random), ``"official"`` (the preset's pretrained weights), a weight
            name known to :mod:`lightglue.weights` (e.g. ``"aliked_lightglue"``), or a path to
            a weight file or a trainer checkpoint.
        options: LightGlue options (``n_layers``, ``descriptor_dim``, ...).
        trainable: prefixes of the parameter names that are optimised (``"token_confidence"``,
            ``"log_assignment.8"``, ...); the other parameters are frozen. Empty: all of them.
    """

    features: str = "sift"
    init: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)
    trainable: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataSection:
    """Where the pairs come from.

    Attributes:
        kind: ``homography`` (synthetic pairs from a photo folder), ``megadepth`` or
            ``colmap`` (pairs of a COLMAP reconstruction).
        options: keyword arguments of that kind's dataset class (``root``,
            ``num_keypoints``, ...); the trainer adds ``seed`` and ``split`` itself.
    """

    kind: str = "homography"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSection:
    """How the model is optimised.

    Attributes:
        steps: optimiser steps in total (a resumed run continues up to it).
        batch_size: pairs per step, over all processes together.
        optimizer: ``adam`` (the reference) or ``adamw``.
        lr: base learning rate.
        weight_decay: decoupled weight decay (adamw only).
        schedule: ``constant`` or ``exp``: constant until ``decay_start``, then divided by 10
            every ``exp_div_10`` steps (the reference's "exp" schedule, counted in steps).
        decay_start, exp_div_10: parameters of the ``exp`` schedule, in steps.
        warmup_steps: linear warm-up from 0 over this many steps (0: none).
        clip: maximal gradient norm (0: no clipping, the reference's default).
        seed: seed of the model initialisation, the data order and the augmentations.
        mp: mixed precision (bfloat16 on CPU, float16 with loss scaling on CUDA).
        checkpointed: gradient checkpointing per layer (less memory, more compute).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        threads: torch CPU threads per process (0: torch's default).
        num_workers: data-loading worker processes (0: load in the training process).
        log_every: steps between two lines of the training log.
        val_every: steps between two validations (0: only at the end).
        val_batches: validation batches per validation (0: the whole validation split).
        checkpoint_every: steps between two checkpoints (the last step always writes one).
        keep_checkpoints: checkpoints kept on disk (the newest ones).
        export_fp16: write the exported weights in float16 (half the size).
    """

    steps: int = 1000
    batch_size: int = 8
    optimizer: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    schedule: str = "constant"
    decay_start: int = 0
    exp_div_10: int = 0
    warmup_steps: int = 0
    clip: float = 0.0
    seed: int = 0
    mp: bool = False
    checkpointed: bool = False
    device: str = "auto"
    threads: int = 0
    num_workers: int = 0
    log_every: int = 10
    val_every: int = 500
    val_batches: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    export_fp16: bool = False


@dataclass(frozen=True)
class LossSection:
    """Loss weights (see :func:`lightglue.training.losses.lightglue_loss`)."""

    gamma: float = 1.0
    nll_balancing: float = 0.5


@dataclass(frozen=True)
class TrainingConfig:
    """A complete, validated training configuration."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    loss: LossSection = field(default_factory=LossSection)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The configuration as the nested dict of its file (for logs and checkpoints)."""
        return {
            "model": {
                "features": self.model.features,
                "init": self.model.init,
                **({"trainable": list(self.model.trainable)} if self.model.trainable else {}),
                **self.model.options,
            },
            "data": {"kind": self.data.kind, **self.data.options},
            "train": dataclasses.asdict(self.train),
            "loss": dataclasses.asdict(self.loss),
        }


SECTIONS = ("model", "data", "train", "loss")


def _unknown(key: str, valid: Iterable[str], where: str) -> ConfigError:
    valid = sorted(valid)
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], valid, n=1)
    hint = f"; did you mean '{where}{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown config key '{where}{key}'{hint}")


def _typed(section: str, name: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of the field's default (ints accepted for floats)."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{section}.{name} must be of type {kind.__name__}, got {value!r}")
    return value


def _section(cls: type, name: str, values: Mapping[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    out = {}
    for key, value in values.items():
        if key not in fields:
            raise _unknown(key, fields, f"{name}.")
        out[key] = _typed(name, key, value, getattr(defaults, key))
    return cls(**out)


def _check_train(t: TrainSection) -> None:
    positive = ("steps", "batch_size", "log_every", "checkpoint_every", "keep_checkpoints")
    for key in positive:
        if getattr(t, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {getattr(t, key)}")
    for key in ("val_every", "val_batches", "warmup_steps", "decay_start", "threads", "num_workers", "seed"):
        if getattr(t, key) < 0:
            raise ConfigError(f"train.{key} must be >= 0, got {getattr(t, key)}")
    if not t.lr > 0:
        raise ConfigError(f"train.lr must be > 0, got {t.lr}")
    if t.clip < 0 or t.weight_decay < 0:
        raise ConfigError("train.clip and train.weight_decay must be >= 0")
    for key, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("device", DEVICES)):
        if getattr(t, key) not in choices:
            raise ConfigError(f"train.{key} must be one of {choices}, got {getattr(t, key)!r}")
    if t.schedule == "exp" and t.exp_div_10 < 1:
        raise ConfigError("train.schedule = 'exp' needs train.exp_div_10 >= 1 (steps per 10x decrease)")


def config_from_dict(raw: Mapping[str, Any]) -> TrainingConfig:
    """Validate a nested dict (the parsed file with overrides applied).

    Raises:
        ConfigError: unknown section or key (naming the closest valid one), wrong type or value.
    """
    for name, values in raw.items():
        if name not in SECTIONS:
            raise _unknown(name, SECTIONS, "")
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{name}] must be a table of keys, got {values!r}")
    model_raw = dict(raw.get("model", {}))
    features = model_raw.pop("features", ModelSection.features)
    init = model_raw.pop("init", ModelSection.init)
    if features not in FEATURE_PRESETS:
        raise ConfigError(f"model.features must be one of {sorted(FEATURE_PRESETS)}, got {features!r}")
    if not isinstance(init, str) or not init:
        raise ConfigError(f"model.init must be a non-empty string, got {init!r}")
    trainable = model_raw.pop("trainable", [])
    if not isinstance(trainable, list) or not all(isinstance(p, str) and p for p in trainable):
        raise ConfigError(f"model.trainable must be a list of parameter-name prefixes, got {trainable!r}")
    defaults = LightGlueConfig()
    for key, value in model_raw.items():
        if key == "weights":
            raise ConfigError("model.weights is not a training option: set the starting weights with model.init")
        if key not in MODEL_OPTION_KEYS:
            raise _unknown(key, MODEL_OPTION_KEYS | {"features", "init", "trainable"}, "model.")
        if getattr(defaults, key) is not None:
            model_raw[key] = _typed("model", key, value, getattr(defaults, key))
    data_raw = dict(raw.get("data", {}))
    kind = data_raw.pop("kind", DataSection.kind)
    if kind not in DATA_KINDS:
        raise ConfigError(f"data.kind must be one of {DATA_KINDS}, got {kind!r}")
    if "mix" in data_raw:
        _check_mix(data_raw["mix"])
    train = _section(TrainSection, "train", raw.get("train", {}))
    _check_train(train)
    return TrainingConfig(
        model=ModelSection(features, init, model_raw, tuple(trainable)),
        data=DataSection(kind, data_raw),
        train=train,
        loss=_section(LossSection, "loss", raw.get("loss", {})),
    )


def _check_mix(mix: Any) -> None:
    """Check the ``[data.mix]`` table: a known ``kind`` and a ``share`` in (0, 1) (its other keys are
    checked against that kind's dataset when the datasets are built)."""
    if not isinstance(mix, Mapping):
        raise ConfigError(f"data.mix must be a table (kind, share and the source's options), got {mix!r}")
    if mix.get("kind") not in DATA_KINDS:
        raise ConfigError(f"data.mix.kind must be one of {DATA_KINDS}, got {mix.get('kind')!r}")
    share = mix.get("share")
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ConfigError(f"data.mix.share must be a number in (0, 1), got {share!r}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.steps=100"`` -> ``(["train", "steps"], 100)``.

    The value is read as a TOML value (numbers, booleans, quoted strings, arrays); anything
    that is not valid TOML is taken as a plain string (``data.root=photos/``).
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, value = text.split("=", 1)
    path = key.strip().split(".")
    if len(path) < 2 or not all(path):
        raise ConfigError(f"override {text!r}: the key must be section.key, e.g. train.steps=100")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return path, parsed


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainingConfig:
    """Read a TOML configuration file and apply ``section.key=value`` overrides.

    Args:
        path: the file, or None for the defaults.
        overrides: strings such as ``"train.steps=100"`` (applied in order).
    Raises:
        ConfigError: unreadable file, invalid TOML, unknown key, bad value.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as err:
            raise ConfigError(f"cannot read config file {str(path)!r}: {err.strerror or err}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    for text in overrides:
        keys, value = parse_override(text)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return config_from_dict(raw)


def dataset_kwargs(
    kind: str, cls: type, options: Mapping[str, Any], reserved: Iterable[str] = (), section: str = "data"
) -> dict[str, Any]:
    """Check the ``[data]`` options (or those of ``section``, e.g. ``data.mix``) against ``cls``'s
    keyword arguments and convert sub-tables.

    A sub-table (``[data.homography]``) given for an argument typed as a dataclass (e.g.
    ``homography: HomographyConfig | None``) becomes that dataclass, its keys checked too.

    Raises:
        ConfigError: a key the dataset (or the dataclass) does not take.
    """
    params = inspect.signature(cls).parameters
    accepted = set(params) - set(reserved)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # unresolvable annotations: no sub-table conversion
        hints = {}
    kwargs = {}
    for key, value in options.items():
        if key not in accepted:
            err = _unknown(key, accepted | {"kind"}, f"{section}.")
            raise ConfigError(f"{err} ({section}.kind = {kind!r})")
        if isinstance(value, Mapping):
            target = next((t for t in typing.get_args(hints.get(key)) or (hints.get(key),)
                           if dataclasses.is_dataclass(t)), None)
            if target is not None:
                fields = {f.name for f in dataclasses.fields(target)}
                for sub in value:
                    if sub not in fields:
                        raise _unknown(sub, fields, f"{section}.{key}.")
                value = target(**value)
        kwargs[key] = value
    return kwargs
