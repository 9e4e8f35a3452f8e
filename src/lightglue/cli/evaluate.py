"""``lightglue eval homography|pose`` and ``lightglue bench``: the benchmarks of the paper."""

from __future__ import annotations

from pathlib import Path

import click

from lightglue.cli.options import check_device, keypoint_counts, matcher_options, matcher_overrides, stack_options

_METHOD_HELP = (
    "Named method (repeat to compare): aliked+lightglue, disk+lightglue, xfeat+lightglue, aliked+mnn, aliked+ratio, "
    "disk+mnn, disk+ratio, sift+lightglue, sift+mnn, sift+ratio."
)


def _ransac_th(value: float | None) -> dict[str, float] | None:
    return None if value is None else {"opencv": value, "poselib": value}


_THREADS_HELP = "CPU threads of torch (default: torch's choice); 1 avoids thrashing on a busy machine."


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _run_and_report(run, out_dir: str | None) -> None:
    """Run a benchmark (a call returning its results), print its table and write its files."""
    from lightglue.evaluation.benchmarks import results_markdown, write_results

    try:
        results = run()
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(results_markdown(results))
    if out_dir is not None:
        for path in write_results(results, Path(out_dir)):
            click.echo(f"wrote {path}")


def _common_options(function):
    """The options of every benchmark: methods, thresholds, resizing, pair limit, device, output."""
    options = [
        click.option("--resize", default=None, help="'1600' (long side), 'short:480' or '640x480'; default: protocol."),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N pairs."),
    ]
    return _method_options(stack_options(function, options))


def _method_options(function):
    options = [
        click.option(
            "--method",
            "-m",
            "methods",
            multiple=True,
            default=("aliked+lightglue",),
            show_default=True,
            help=_METHOD_HELP,
        ),
        click.option(
            "--ransac-th",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Inlier threshold (px) of the robust estimators; default: per estimator.",
        ),
        click.option("--device", default="cpu", show_default=True, callback=check_device),
        click.option("--threads", type=click.IntRange(min=1), default=None, help=_THREADS_HELP),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Write results.json, results.md and curves.png here.",
        ),
    ]
    return stack_options(matcher_options(function), options)


def _homography_options(function):
    """Estimators and keypoint budget of the homography benchmarks."""
    function = click.option("--max-keypoints", type=click.IntRange(min=1), default=1024, show_default=True)(function)
    return click.option(
        "--estimator",
        "estimators",
        multiple=True,
        type=click.Choice(["opencv", "poselib", "dlt"]),
        default=("opencv", "poselib", "dlt"),
        show_default=True,
    )(function)


@click.group("eval")
def eval_group() -> None:
    """Accuracy benchmarks: homography (HPatches, held-out corpus photos) and relative pose.

    Relative pose: ScanNet / MegaDepth layouts, or a COLMAP model of your own photos.
    """


@eval_group.command("homography")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@_homography_options
@_common_options
def homography(root, estimators, max_keypoints, methods, ransac_th, resize, limit, device, threads, out_dir,
               **matcher) -> None:
    """HPatches at ROOT (a folder of sequences, or one sequence): AUC of the corner error at 1/3/5 px."""
    from lightglue.evaluation.benchmarks import run_homography_benchmark
    from lightglue.evaluation.homography import HOMOGRAPHY_RESIZE
    from lightglue.evaluation.preprocess import Resize

    _set_threads(threads)
    _run_and_report(
        lambda: run_homography_benchmark(
            Path(root),
            list(methods),
            max_keypoints,
            list(estimators),
            _ransac_th(ransac_th),
            Resize.parse(resize) if resize else HOMOGRAPHY_RESIZE,
            device,
            limit,
            progress=True,
            matcher_conf=matcher_overrides(**matcher),
        ),
        out_dir,
    )


@eval_group.command("heldout")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option("--pairs", "num_pairs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Seed of the pairs (the trainer validates with its train.seed, 0 by default).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True), default=0.1, show_default=True,
              help="Share of held-out photos; must be the training run's.")
@_homography_options
@_method_options
def heldout(root, num_pairs, seed, val_fraction, estimators, max_keypoints, methods, ransac_th, device, threads,
            out_dir, **matcher) -> None:
    """Homography pairs made from the photos of ROOT held out of training: AUC at 1/3/5 px.

    The pairs are random homographies and photometric augmentations (the training recipe's)
    of the corpus's validation split, as 'lightglue train' splits it (data.val_fraction).
    """
    from lightglue.training.heldout import run_heldout_benchmark

    _set_threads(threads)
    _run_and_report(
        lambda: run_heldout_benchmark(
            Path(root), list(methods), num_pairs, seed, max_keypoints, list(estimators), _ransac_th(ransac_th),
            device, progress=True, val_fraction=val_fraction,
            matcher_conf=matcher_overrides(**matcher),
        ),
        out_dir,
    )


@eval_group.command("pose")
@click.argument("root", type=click.Path(exists=True))
@click.option(
    "--images",
    "image_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Image folder, when not next to the pairs file / model, or under ROOT.",
)
@click.option(
    "--min-covisible",
    type=click.IntRange(min=1),
    default=100,  # posedata.MIN_COVISIBLE, not imported: the CLI starts without torch
    show_default=True,
    help="COLMAP model: fewest 3D points both images of a pair must observe.",
)
@click.option(
    "--estimator",
    "estimators",
    multiple=True,
    type=click.Choice(["opencv", "poselib"]),
    default=("opencv", "poselib"),
    show_default=True,
)
@click.option("--max-keypoints", type=click.IntRange(min=1), default=2048, show_default=True)
@_common_options
def pose(
    root, image_dir, min_covisible, estimators, max_keypoints, methods, ransac_th, resize, limit, device, threads,
    out_dir, **matcher
) -> None:
    """Relative pose on ROOT: AUC at 5/10/20 deg.

    ROOT is a pairs file or its folder (pairs_with_gt.txt, pairs_calibrated.txt), MegaDepth
    scene-info .npz files, or a COLMAP model of undistorted images (ROOT holding cameras,
    images, points3D .bin/.txt, or ROOT/sparse + ROOT/images as COLMAP's image_undistorter
    writes them): pairs of registered images sharing --min-covisible 3D points.
    """
    from lightglue.evaluation.benchmarks import run_pose_benchmark
    from lightglue.evaluation.preprocess import Resize

    _set_threads(threads)
    _run_and_report(
        lambda: run_pose_benchmark(
            Path(root),
            list(methods),
            max_keypoints,
            list(estimators),
            _ransac_th(ransac_th),
            Resize.parse(resize) if resize else None,
            Path(image_dir) if image_dir else None,
            device,
            limit,
            progress=True,
            matcher_conf=matcher_overrides(**matcher),
            min_covisible=min_covisible,
        ),
        out_dir,
    )


@click.command()
@click.option("--features", type=click.Choice(["aliked", "disk"]), default="aliked", show_default=True)
@click.option(
    "--keypoints",
    default="256,512,1024,2048,4096",
    show_default=True,
    help="Comma-separated keypoint counts per image.",
)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="Timed runs (median).")
@click.option(
    "--resize",
    type=click.IntRange(min=32),
    default=1024,
    show_default=True,
    help="Long side (px) the images are resized to before extraction.",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help=_THREADS_HELP)
@click.option("--device", default="cpu", show_default=True, callback=check_device)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="outputs/bench", show_default=True)
def bench(features, keypoints, repeats, resize, threads, device, out_dir) -> None:
    """Matcher time vs keypoints, adaptive vs full, on an easy and a hard pair.

    Prints a table (time, layers run, share of points processed by each layer) and writes
    OUT/bench.json and OUT/time_vs_keypoints.png.
    """
    import dataclasses

    import torch

    import lightglue
    from lightglue.evaluation.plots import plot_time_vs_keypoints
    from lightglue.evaluation.report import markdown_table, write_json
    from lightglue.evaluation.speed import bench_pairs, benchmark_speed

    counts = keypoint_counts(keypoints)
    _set_threads(threads)
    extractor_cls = {"aliked": lightglue.ALIKED, "disk": lightglue.DISK}[features]
    # Threshold 0: the strongest keypoints (top-k), so that every count can be met.
    extractor = extractor_cls(max_num_keypoints=max(counts), detection_threshold=0.0).eval().to(device)
    matchers = {
        "adaptive": lightglue.LightGlue(features=features).eval().to(device),
        "full": lightglue.LightGlue(features=features, depth_confidence=-1, width_confidence=-1).eval().to(device),
    }
    feats = {
        name: tuple(extractor.extract(image.to(device), resize=resize) for image in images)
        for name, images in bench_pairs().items()
    }
    results = benchmark_speed(feats, matchers, counts, repeats)
    full_ms = {(r.pair, r.num_keypoints): r.time_ms for r in results if r.mode == "full"}
    rows = [
        [
            r.pair,
            r.mode,
            r.num_keypoints,
            r.time_ms,
            f"{full_ms[(r.pair, r.num_keypoints)] / r.time_ms:.2f}x",
            r.layers,
            r.num_matches,
            " ".join(f"{v:.0f}" for v in r.kept_per_layer),
        ]
        for r in results
    ]
    headers = [
        "pair",
        "mode",
        "keypoints",
        "time (ms)",
        "speed-up vs full",
        "layers",
        "matches",
        "points per layer (%)",
    ]
    click.echo(f"LightGlue ({features}) on {device}, torch threads: {torch.get_num_threads()}, median of {repeats}")
    click.echo(markdown_table(headers, rows))
    out = Path(out_dir)
    write_json(
        out / "bench.json",
        {
            "features": features,
            "device": str(device),
            "repeats": repeats,
            "results": [dataclasses.asdict(r) for r in results],
        },
    )
    series = {
        f"{pair} / {mode}": (
            [r.num_keypoints for r in results if (r.pair, r.mode) == (pair, mode)],
            [r.time_ms for r in results if (r.pair, r.mode) == (pair, mode)],
        )
        for pair, mode in dict.fromkeys((r.pair, r.mode) for r in results)
    }
    plot_time_vs_keypoints(series, out / "time_vs_keypoints.png", title=f"LightGlue ({features}) on {device}")
    click.echo(f"wrote {out / 'bench.json'}\nwrote {out / 'time_vs_keypoints.png'}")
