"""``--cluster`` / ``--workers`` of the collection verbs: the Ray backend, chosen per run."""

from __future__ import annotations

from collections.abc import Callable

import click


def cluster_options(fn: Callable) -> Callable:
    """``--cluster ADDRESS``, ``--workers N`` and ``--shard-size N``."""
    fn = click.option(
        "--shard-size", type=click.IntRange(min=1), default=None,
        help="Work per worker call with --cluster: pairs when matching, images when extracting. "
             "[default: 256 pairs, 8 images]",
    )(fn)
    fn = click.option(
        "--workers", type=click.IntRange(min=1), default=None,
        help="Ray actors to start with --cluster. [default: one per GPU of the cluster, else one per CPU]",
    )(fn)
    return click.option(
        "--cluster", default=None, metavar="auto|local|ADDRESS",
        help="Run on a Ray cluster: 'auto' (the cluster this machine is part of, or RAY_ADDRESS), 'local' "
             "(a Ray instance started here) or an address such as ray://head:10001. Needs lightglue[cluster].",
    )(fn)


def cluster_settings(cluster: str | None, workers: int | None, shard_size: int | None) -> object | None:
    """The :class:`~lightglue.collection.cluster.connect.ClusterOptions` of the flags, or None (local run)."""
    if cluster is None:
        if workers is not None or shard_size is not None:
            raise click.UsageError("--workers and --shard-size need --cluster.")
        return None
    from lightglue.collection.cluster.connect import ClusterOptions, ClusterUnavailableError, require_ray

    try:
        require_ray()
    except ClusterUnavailableError as err:
        raise click.ClickException(str(err)) from err
    if shard_size is None:
        return ClusterOptions(address=cluster, workers=workers)
    return ClusterOptions(address=cluster, workers=workers, match_shard=shard_size, extract_shard=shard_size)


def echo_worker_summary(title: str, engine: object | None, quiet: bool) -> None:
    """Print an engine's per-worker table (nothing for a local run, or with ``--quiet``)."""
    table = engine.summary() if engine is not None else ""
    if table and not quiet:
        click.echo(f"{title} per worker:\n{table}")
