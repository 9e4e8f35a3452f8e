"""Click options shared by the verbs, checked before any work starts."""

from __future__ import annotations

import math
from typing import Any

import click


def check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: ``value`` must name a torch device that exists here (None passes)."""
    if value is None:
        return None
    import torch

    try:
        device = torch.device(value)
    except RuntimeError as err:
        raise click.BadParameter(f"{value!r} is not a torch device (e.g. cpu, cuda, cuda:1).") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise click.BadParameter("CUDA was asked for but no CUDA GPU is available.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise click.BadParameter(f"there is no GPU {device.index}: {torch.cuda.device_count()} visible.")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise click.BadParameter("MPS was asked for but it is not available on this machine.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise click.BadParameter(f"device {value!r} is not supported: use cpu, cuda[:N] or mps.")
    return value


class Confidence(click.ParamType):
    """A LightGlue confidence option: a number in (0, 1], or -1 to disable the mechanism."""

    name = "confidence"

    def convert(self, value, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (number == -1 or (math.isfinite(number) and 0 < number <= 1)):
            self.fail(f"{value!r} is not in (0, 1] (or -1 to disable)", param, ctx)
        return number


def matcher_options(function):
    """Add LightGlue's ``--depth-confidence``, ``--width-confidence`` and ``--filter-threshold``.

    Each defaults to None, which keeps the feature preset's value (see :func:`matcher_overrides`);
    the command receives them as the keywords ``depth_confidence``, ``width_confidence`` and
    ``filter_threshold``.
    """
    options = [
        click.option("--depth-confidence", type=Confidence(), default=None,
                     help="In (0, 1]; -1 disables early exit. [default: the preset's: 0.95; xfeat: -1]"),
        click.option("--width-confidence", type=Confidence(), default=None,
                     help="In (0, 1]; -1 disables pruning. [default: the preset's: 0.99; xfeat: 0.95]"),
        click.option("--filter-threshold", type=click.FloatRange(0, 1), default=None,
                     help="Minimal match score, in [0, 1]. [default: 0.1]"),
    ]
    return stack_options(function, options)


def stack_options(function, options: list):
    """Apply the click ``options`` to ``function`` so that ``--help`` lists them in that order."""
    for option in reversed(options):
        function = option(function)
    return function


def matcher_overrides(**options: Any) -> dict[str, Any]:
    """The LightGlue options given on the command line (those not None), for ``LightGlue(**...)``."""
    return {key: value for key, value in options.items() if value is not None}


def keypoint_counts(value: str) -> tuple[int, ...]:
    """Parse a comma-separated list of positive keypoint counts, sorted and unique.

    Raises:
        click.BadParameter: not integers, or a count below 1.
    """
    try:
        counts = {int(v) for v in value.split(",")}
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint="--keypoints") from None
    if min(counts) < 1:
        raise click.BadParameter(f"keypoint counts must be >= 1, got {value!r}", param_hint="--keypoints")
    return tuple(sorted(counts))
