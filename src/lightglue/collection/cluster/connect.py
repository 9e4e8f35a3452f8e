"""Joining a Ray cluster and sizing the worker pool."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


class ClusterUnavailableError(RuntimeError):
    """Ray is not installed, or no cluster answers at the given address."""


def require_ray() -> ModuleType:
    """The ``ray`` module, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ClusterUnavailableError(
            "--cluster needs Ray: pip install 'lightglue[cluster]' (on the driver and on every node)."
        ) from err
    return ray


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide to run.

    Attributes:
        address: ``"auto"`` (the cluster this machine belongs to, or ``RAY_ADDRESS``), a Ray
            address (``"ray://head:10001"``, ``"10.0.0.1:6379"``) or ``"local"`` (start a
            Ray instance inside this process, for one machine).
        workers: actors to start (None: one per GPU when the cluster has GPUs, else one per
            ``cpus_per_worker`` CPUs).
        cpus_per_worker: CPUs reserved by each actor (also its torch thread count).
        match_shard: pairs per matching call (whole batches; a shard needs about 64 images).
        extract_shard: images per extraction call.
    """

    address: str = "auto"
    workers: int | None = None
    cpus_per_worker: int = 1
    match_shard: int = 256
    extract_shard: int = 8


def connect(address: str) -> None:
    """Join the cluster at ``address`` (see :class:`ClusterOptions`), once per process."""
    ray = require_ray()
    if ray.is_initialized():
        return
    kwargs = {"log_to_driver": False, "include_dashboard": False}
    try:
        if address == "local":
            ray.init(**kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ClusterUnavailableError(f"Could not join the Ray cluster at {address!r}: {err}") from err


def worker_resources(options: ClusterOptions) -> tuple[int, dict[str, float]]:
    """How many actors to start and the resources each asks for (``num_cpus``, ``num_gpus``)."""
    ray = require_ray()
    total = ray.cluster_resources()
    gpus = int(total.get("GPU", 0))
    cpus = int(total.get("CPU", 0))
    per = {"num_cpus": float(options.cpus_per_worker), "num_gpus": 1.0 if gpus else 0.0}
    if options.workers is not None:
        count = options.workers
    elif gpus:
        count = gpus
    else:
        count = max(1, cpus // max(1, options.cpus_per_worker))
    if count < 1:
        raise ValueError(f"workers must be >= 1, got {count}.")
    return count, per

