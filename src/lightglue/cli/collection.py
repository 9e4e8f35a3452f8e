"""Collection verbs: ``extract``, ``pairs``, ``match-pairs``, ``reconstruct``, ``show-pair``.

A working folder collects every stage's output: ``features.h5``, ``pairs.txt``,
``matches.h5``, then ``database.db``, ``sparse/``, ``points.ply``, ``reconstruction.png``,
``reconstruction.html``, ``matches.html`` and ``summary.json``. Every verb resumes what a
previous (possibly killed) run left, and the verbs that write hold the working folder's lock
(a second process gets a clear error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lightglue.cli.cluster_options import cluster_options, cluster_settings, echo_worker_summary
from lightglue.cli.options import check_device

_PRESET_NAMES = ("aliked+lightglue", "disk+lightglue", "sift+lightglue", "superpoint+lightglue", "xfeat+lightglue")


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", force=True)


def _fail(err: Exception) -> click.ClickException:
    return click.ClickException(str(err))


def _preset_options(fn: Callable) -> Callable:
    """``--preset``, ``--max-keypoints``, ``--resize``."""
    fn = click.option(
        "--resize",
        type=click.IntRange(min=0),
        default=None,
        help="Long side in pixels before extraction (0: no resizing). [default: the preset's, 1024]",
    )(fn)
    fn = click.option(
        "--max-keypoints", type=click.IntRange(min=1), default=None, help="Keypoints per image. [default: 2048]"
    )(fn)
    return click.option(
        "--preset", type=click.Choice(_PRESET_NAMES), default="aliked+lightglue", show_default=True,
        help="Extractor + matcher configuration.",
    )(fn)


def _preset(preset: str, max_keypoints: int | None, resize: int | None) -> Any:
    from lightglue.collection.presets import get_preset

    if resize is None:
        return get_preset(preset, max_keypoints=max_keypoints)
    return get_preset(preset, max_keypoints=max_keypoints, resize=resize or None)


def _pairs_options(fn: Callable) -> Callable:
    """``--strategy``, ``--window``, ``--num-neighbors``, ``--pairs-file``."""
    fn = click.option(
        "--pairs-file", type=click.Path(exists=True, dir_okay=False), default=None,
        help="Pairs file, 'name0 name1' per line (strategy 'file'; see docs/reconstruction.md for names "
             "with spaces).",
    )(fn)
    fn = click.option(
        "--num-neighbors", type=click.IntRange(min=1), default=10, show_default=True,
        help="Neighbours per image (strategy 'retrieval').",
    )(fn)
    fn = click.option(
        "--window", type=click.IntRange(min=1), default=5, show_default=True,
        help="Following images paired with each image (strategy 'sequential').",
    )(fn)
    return click.option(
        "--strategy", type=click.Choice(["exhaustive", "sequential", "retrieval", "file"]), default=None,
        help="Which pairs to match. [default: 'file' with --pairs-file, else exhaustive]",
    )(fn)


def _strategy(strategy: str | None, pairs_file: str | None) -> str:
    if strategy is None:
        return "file" if pairs_file else "exhaustive"
    if strategy == "file" and not pairs_file:
        raise click.UsageError("--strategy file needs --pairs-file.")
    return strategy


_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bars or info messages.")


_device = click.option(
    "--device", default=None, callback=check_device,
    help="torch device, e.g. cpu or cuda:0. [default: cuda if there is one, else cpu]",
)


@click.command()
@click.argument("images", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Working folder; receives features.h5.")
@_preset_options
@_device
@cluster_options
@_quiet
def extract(images: Path, out_dir: Path, preset: str, max_keypoints: int | None, resize: int | None,
            device: str | None, cluster: str | None, workers: int | None, shard_size: int | None,
            quiet: bool) -> None:
    """Extract local features of every image in IMAGES once (hloc-compatible features.h5)."""
    from lightglue.collection.extract import EmptyCollectionError, extract_collection, list_images
    from lightglue.collection.h5store import MetadataMismatchError
    from lightglue.collection.lock import FolderBusyError

    _setup_logging(quiet)
    options = cluster_settings(cluster, workers, shard_size)
    try:
        names = list_images(images, exclude=out_dir)
        chosen = _preset(preset, max_keypoints, resize)
        engine = _engine("extract", chosen, options, device)
        report = extract_collection(images, out_dir / "features.h5", chosen, names, progress=not quiet,
                                    device=device, engine=engine)
    except (EmptyCollectionError, OSError, MetadataMismatchError, ValueError, RuntimeError, FolderBusyError) as err:
        raise _fail(err) from err
    click.echo(f"features of {len(report.names)}/{len(names)} images in {out_dir / 'features.h5'} "
               f"({len(report.extracted)} extracted now)")
    echo_worker_summary("extract", engine, quiet)
    _report_skipped(report.skipped)


def _engine(stage: str, preset: Any, options: Any, device: str | None) -> Any:
    """The cluster engine of ``stage`` ("extract" or "match"), or None for a local run."""
    if options is None:
        return None
    from lightglue.collection.cluster.driver import ClusterExtractor, ClusterMatcher

    return (ClusterExtractor if stage == "extract" else ClusterMatcher)(preset, options, device)


def _report_skipped(skipped: dict[str, str]) -> None:
    if skipped:
        click.echo(f"skipped {len(skipped)} unreadable image(s):", err=True)
        for name, reason in skipped.items():
            click.echo(f"  {name}: {reason}", err=True)


@click.command()
@click.argument("workdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_pairs_options
@click.option("--features", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="[default: WORKDIR/features.h5]")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="[default: WORKDIR/pairs.txt]")
def pairs(workdir: Path, strategy: str | None, window: int, num_neighbors: int, pairs_file: str | None,
          features: Path | None, out_path: Path | None) -> None:
    """Choose the image pairs to match among the images of WORKDIR/features.h5."""
    from lightglue.collection.lock import FolderBusyError, folder_lock
    from lightglue.collection.pairs import write_pairs
    from lightglue.collection.pipeline import make_pairs

    features = features or workdir / "features.h5"
    out_path = out_path or workdir / "pairs.txt"
    if not features.is_file():
        raise click.ClickException(f"No features at {features}: run 'lightglue extract' first.")
    try:
        with folder_lock(out_path.parent):
            chosen = make_pairs(_strategy(strategy, pairs_file), features, window, num_neighbors, pairs_file)
            write_pairs(chosen, out_path)
    except (OSError, ValueError, FolderBusyError) as err:
        raise _fail(err) from err
    click.echo(f"{len(chosen)} pairs written to {out_path}")


@click.command("match-pairs")
@click.argument("workdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--features", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="[default: WORKDIR/features.h5]")
@click.option("--pairs", "pairs_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="[default: WORKDIR/pairs.txt]")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="[default: WORKDIR/matches.h5]")
@_preset_options
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Pairs per matcher call.")
@_device
@cluster_options
@_quiet
def match_pairs(workdir: Path, features: Path | None, pairs_path: Path | None, out_path: Path | None,
                preset: str, max_keypoints: int | None, resize: int | None, batch_size: int, device: str | None,
                cluster: str | None, workers: int | None, shard_size: int | None, quiet: bool) -> None:
    """Match the pairs of WORKDIR/pairs.txt in batches (hloc-compatible matches.h5)."""
    from lightglue.collection.h5store import MetadataMismatchError
    from lightglue.collection.lock import FolderBusyError
    from lightglue.collection.match import match_collection
    from lightglue.collection.pairs import read_pairs

    _setup_logging(quiet)
    features = features or workdir / "features.h5"
    pairs_path = pairs_path or workdir / "pairs.txt"
    out_path = out_path or workdir / "matches.h5"
    for path, verb in ((features, "extract"), (pairs_path, "pairs")):
        if not path.is_file():
            raise click.ClickException(f"No {path.name} at {path}: run 'lightglue {verb}' first.")
    options = cluster_settings(cluster, workers, shard_size)
    try:
        chosen = _preset(preset, max_keypoints, resize)
        engine = _engine("match", chosen, options, device)
        report = match_collection(features, read_pairs(pairs_path), out_path, chosen, batch_size,
                                  progress=not quiet, device=device, engine=engine)
    except (OSError, ValueError, MetadataMismatchError, RuntimeError, FolderBusyError) as err:
        raise _fail(err) from err
    rate = report.matched / report.seconds if report.seconds and report.matched else 0.0
    click.echo(f"{report.num_pairs} pairs in {out_path} ({report.matched} matched now, {rate:.2f} pairs/s)")
    echo_worker_summary("match", engine, quiet)


@click.command()
@click.argument("images", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Working folder for every stage's output.")
@_preset_options
@_pairs_options
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Pairs per matcher call.")
@click.option("--camera-mode", type=click.Choice(["per-image", "single"]), default="per-image", show_default=True,
              help="One camera per photo, or one shared camera.")
@click.option("--mapper", type=click.Choice(["incremental", "global"]), default="incremental", show_default=True,
              help="pycolmap's incremental mapper, or its global mapper (GLOMAP; large collections).")
@click.option("--mapper-threads", type=click.IntRange(min=1), default=None,
              help="Mapper threads; 1 makes the mapping repeat exactly, as pycolmap's multi-threaded mapper is "
                   "not deterministic (the same matches can give different models). [default: all cores]")
@click.option("--verbose", is_flag=True, help="Show pycolmap's log.")
@_device
@cluster_options
@_quiet
def reconstruct(images: Path, out_dir: Path, preset: str, max_keypoints: int | None, resize: int | None,
                strategy: str | None, window: int, num_neighbors: int, pairs_file: str | None, batch_size: int,
                camera_mode: str, mapper: str, mapper_threads: int | None, verbose: bool, device: str | None,
                cluster: str | None, workers: int | None, shard_size: int | None, quiet: bool) -> None:
    """Photos in IMAGES to a 3D model: extract, pairs, match-pairs, COLMAP database, mapping."""
    from lightglue.collection.h5store import MetadataMismatchError
    from lightglue.collection.lock import FolderBusyError
    from lightglue.collection.pipeline import PairsOptions, reconstruct_collection

    _setup_logging(quiet)
    options = PairsOptions(_strategy(strategy, pairs_file), window, num_neighbors, pairs_file)
    cluster_opts = cluster_settings(cluster, workers, shard_size)
    try:
        chosen = _preset(preset, max_keypoints, resize)
        engines = (_engine("extract", chosen, cluster_opts, device), _engine("match", chosen, cluster_opts, device))
        summary = reconstruct_collection(images, out_dir, chosen, options, batch_size, camera_mode,
                                         progress=not quiet, verbose=verbose, device=device,
                                         log=logging.getLogger(__name__).info, engines=engines, mapper=mapper,
                                         mapper_threads=mapper_threads or -1)
    except (OSError, ValueError, MetadataMismatchError, RuntimeError, FolderBusyError) as err:
        raise _fail(err) from err
    echo_worker_summary("extract", engines[0], quiet)
    echo_worker_summary("match", engines[1], quiet)
    click.echo(summary.format())
    written = [f"{label}: {out_dir / name}" for label, name in
               (("model", "sparse"), ("points", "points.ply"), ("picture", "reconstruction.png"),
                ("3D viewer", "reconstruction.html"), ("matches", "matches.html"))
               if (out_dir / name).exists()]
    if written:
        click.echo("  ".join(written) + f"  (lightglue view {out_dir})")
    if summary.num_registered == 0:
        raise click.ClickException("No model could be reconstructed (too few verified matches).")


@click.command("show-pair")
@click.argument("workdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name0")
@click.argument("name1")
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The image folder.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="[default: WORKDIR/pair_NAME0_NAME1.png]")
def show_pair(workdir: Path, name0: str, name1: str, images: Path, out_path: Path | None) -> None:
    """Draw the stored matches of the pair NAME0 NAME1 to a PNG."""
    import h5py

    from lightglue.collection.features_h5 import open_features, read_features
    from lightglue.collection.matches_h5 import read_matches
    from lightglue.collection.render import render_matches
    from lightglue.image import read_image

    out_path = out_path or workdir / f"pair_{Path(name0).stem}_{Path(name1).stem}.png"
    for file, verb in (("features.h5", "extract"), ("matches.h5", "match-pairs")):
        if not (workdir / file).is_file():
            raise click.ClickException(f"No {file} in {workdir}: run 'lightglue {verb}' first.")
    try:
        with open_features(workdir / "features.h5") as ff, h5py.File(workdir / "matches.h5", "r") as mf:
            k0, k1 = read_features(ff, name0).keypoints, read_features(ff, name1).keypoints
            matches, _ = read_matches(mf, name0, name1)
        render_matches(read_image(images / name0), read_image(images / name1), k0, k1, matches, out_path,
                       title=f"{name0} - {name1}: {len(matches)} matches")
    except (OSError, ValueError) as err:
        raise _fail(err) from err
    except KeyError as err:  # str(KeyError) adds quotes
        raise click.ClickException(str(err.args[0])) from err
    click.echo(f"{len(matches)} matches drawn to {out_path}")


COMMANDS = (extract, pairs, match_pairs, reconstruct, show_pair)
