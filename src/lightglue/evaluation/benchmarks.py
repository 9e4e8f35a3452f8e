"""Whole benchmarks: read a dataset, run named methods, summarise, and write the outputs.

``results`` dicts hold ``benchmark``, ``root``, ``protocol`` (resizing, keypoints,
estimators and thresholds) and ``methods``: ``{name: {"summary": ..., "pairs": [records]}}``.
Outputs in a folder: ``results.json`` (everything), ``results.md`` (tables) and
``curves.png`` (recall versus error, one panel per estimator).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from lightglue.evaluation.homography import (
    HOMOGRAPHY_AUC_THRESHOLDS,
    HOMOGRAPHY_RANSAC_TH,
    HOMOGRAPHY_RESIZE,
    HomographyCase,
    evaluate_homography,
    load_homography_cases,
    summarize_homography,
)
from lightglue.evaluation.hpatches import read_hpatches
from lightglue.evaluation.methods import METHODS, Method
from lightglue.evaluation.plots import plot_error_curves
from lightglue.evaluation.pose import (
    POSE_AUC_THRESHOLDS,
    POSE_RANSAC_TH,
    evaluate_pose,
    load_pose_cases,
    summarize_pose,
)
from lightglue.evaluation.posedata import MIN_COVISIBLE, read_pose_dataset
from lightglue.evaluation.preprocess import Resize
from lightglue.evaluation.report import per_group_table, summary_table, weights_lines, write_json
from lightglue.geometry import HOMOGRAPHY_ESTIMATORS, POSE_ESTIMATORS

T = TypeVar("T")


def _progress(items: Iterable[T], total: int, label: str, enabled: bool) -> Iterable[T]:
    return tqdm(items, total=total, desc=label, disable=not enabled, leave=False)


def run_homography_benchmark(
    root: Path,
    methods: Sequence[str],
    max_keypoints: int = 1024,
    estimators: Sequence[str] = HOMOGRAPHY_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
    resize: Resize | None = HOMOGRAPHY_RESIZE,
    device: str = "cpu",
    limit: int | None = None,
    progress: bool = False,
    matcher_conf: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the HPatches homography benchmark for each named method.

    Args:
        root: an HPatches folder, or one sequence folder.
        methods: names from :data:`~lightglue.evaluation.methods.METHODS`.
        max_keypoints: keypoints per image.
        estimators: homography estimators to score.
        ransac_th: inlier thresholds per estimator, pixels (defaults: ``HOMOGRAPHY_RANSAC_TH``).
        resize: image resizing (default: short side 480 px, the published protocol).
        device: where the networks run.
        limit: evaluate only the first ``limit`` pairs.
        progress: show a progress bar.
        matcher_conf: LightGlue options (e.g. ``filter_threshold``) of the ``*+lightglue`` methods.
    """
    pairs = read_hpatches(root)[:limit]
    return run_homography_cases(
        root, lambda: load_homography_cases(pairs, resize), len(pairs), methods, max_keypoints, estimators,
        ransac_th, device, progress, {"resize": str(resize)}, matcher_conf,
    )


def run_homography_cases(
    root: Path | str,
    load_cases: Callable[[], Iterable[HomographyCase]],
    num_pairs: int,
    methods: Sequence[str],
    max_keypoints: int = 1024,
    estimators: Sequence[str] = HOMOGRAPHY_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
    device: str = "cpu",
    progress: bool = False,
    protocol: dict[str, Any] | None = None,
    matcher_conf: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The homography benchmark on any pairs with a known homography (HPatches, synthetic pairs).

    Args:
        root: what the cases come from (reported).
        load_cases: returns a fresh iterable of the ``num_pairs`` cases (called once per method).
        protocol: entries describing how the cases were made (e.g. resizing, seed), reported first.
        Others: as :func:`run_homography_benchmark`.
    """
    thresholds = {**HOMOGRAPHY_RANSAC_TH, **(ransac_th or {})}
    protocol = {
        **(protocol or {}),
        "max_keypoints": max_keypoints,
        "estimators": list(estimators),
        "ransac_th_px": thresholds,
        "auc_thresholds_px": list(HOMOGRAPHY_AUC_THRESHOLDS),
    }
    return _run_methods(
        "homography", root, protocol, methods, device, progress, num_pairs, load_cases,
        lambda cases, method: evaluate_homography(cases, method, estimators, thresholds),
        summarize_homography, matcher_conf,
    )


def run_pose_benchmark(
    root: Path,
    methods: Sequence[str],
    max_keypoints: int = 2048,
    estimators: Sequence[str] = POSE_ESTIMATORS,
    ransac_th: dict[str, float] | None = None,
    resize: Resize | None = None,
    image_dir: Path | None = None,
    device: str = "cpu",
    limit: int | None = None,
    progress: bool = False,
    matcher_conf: dict[str, Any] | None = None,
    min_covisible: int = MIN_COVISIBLE,
) -> dict[str, Any]:
    """Run a relative-pose benchmark (ScanNet-1500 / MegaDepth-1500 / COLMAP model layouts) per method.

    Args:
        root: a pairs file, a scene-info npz, a folder holding either, or a COLMAP model
            (see :func:`~lightglue.evaluation.posedata.read_pose_dataset`).
        methods: names from :data:`~lightglue.evaluation.methods.METHODS`.
        max_keypoints: keypoints per image.
        estimators: pose estimators to score.
        ransac_th: inlier thresholds per estimator, pixels (defaults: ``POSE_RANSAC_TH``).
        resize: image resizing; None: the dataset's protocol (ScanNet 640x480, MegaDepth
            long side 1600, COLMAP model long side 1024).
        image_dir: where the images are, when not next to the pairs file / under ``root``.
        device: where the networks run.
        limit: evaluate only the first ``limit`` pairs.
        progress: show a progress bar.
        matcher_conf: LightGlue options (e.g. ``filter_threshold``) of the ``*+lightglue`` methods.
        min_covisible: COLMAP models: fewest 3D points both images of a pair must observe.
    """
    pairs, default_resize = read_pose_dataset(root, image_dir, min_covisible)
    pairs = pairs[:limit]
    resize = resize or default_resize
    thresholds = {**POSE_RANSAC_TH, **(ransac_th or {})}
    protocol = {
        "resize": str(resize),
        "max_keypoints": max_keypoints,
        "estimators": list(estimators),
        "ransac_th_px": thresholds,
        "auc_thresholds_deg": list(POSE_AUC_THRESHOLDS),
    }
    return _run_methods(
        "pose", root, protocol, methods, device, progress, len(pairs),
        lambda: load_pose_cases(pairs, resize),
        lambda cases, method: evaluate_pose(cases, method, estimators, thresholds),
        summarize_pose, matcher_conf,
    )


def _run_methods(
    benchmark: str,
    root: Path,
    protocol: dict[str, Any],
    methods: Sequence[str],
    device: str,
    progress: bool,
    num_pairs: int,
    load_cases: Callable[[], Iterable],
    evaluate: Callable[[Iterable, Method], list],
    summarize: Callable[[list], dict],
    matcher_conf: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate every method on freshly loaded cases: per-pair records and a summary each.

    ``matcher_conf`` goes to the LightGlue methods (an error when none is named) and is
    recorded in the protocol as ``matcher_options``.
    """
    learned = [name for name in methods if name in METHODS and METHODS[name].matcher == "lightglue"]
    if matcher_conf:
        if not learned:
            raise ValueError(f"LightGlue options {sorted(matcher_conf)} given, but no LightGlue method: {list(methods)}")
        protocol = {**protocol, "matcher_options": dict(matcher_conf)}
    results: dict[str, Any] = {"benchmark": benchmark, "root": str(root), "protocol": protocol, "methods": {}}
    for name in methods:
        method = Method(name, protocol["max_keypoints"], device, matcher_conf=matcher_conf if name in learned else None)
        records = evaluate(_progress(load_cases(), num_pairs, name, progress), method)
        results["methods"][name] = {"summary": summarize(records), "weights": method.weights, "pairs": records}
    return results


def results_markdown(results: dict[str, Any]) -> str:
    """The Markdown report of a benchmark run: protocol, summary table, per-sequence table."""
    summaries = {name: m["summary"] for name, m in results["methods"].items()}
    homography = results["benchmark"] == "homography"
    protocol = ", ".join(f"{k}: {v}" for k, v in results["protocol"].items())
    parts = [
        f"## {results['benchmark']} benchmark on `{results['root']}`",
        f"Protocol: {protocol}. AUC and precision in %.",
        summary_table(summaries, "mean corner error (px)" if homography else "mean pose error (deg)"),
    ]
    weights = weights_lines(results["methods"])
    if weights:
        parts.append(weights)
    if homography:
        parts += ["### Per sequence", per_group_table(summaries, "per_sequence", "sequence")]
    return "\n\n".join(parts) + "\n"


def write_results(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``results.json``, ``results.md`` and ``curves.png`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "results.md", out_dir / "curves.png"]
    write_json(paths[0], results)
    paths[1].write_text(results_markdown(results))
    homography = results["benchmark"] == "homography"
    estimators = results["protocol"]["estimators"]
    errors = {
        est: {name: [r["estimators"][est]["error"] for r in m["pairs"]] for name, m in results["methods"].items()}
        for est in estimators
    }
    thresholds = HOMOGRAPHY_AUC_THRESHOLDS if homography else POSE_AUC_THRESHOLDS
    plot_error_curves(
        errors,
        max(thresholds),
        "px" if homography else "deg",
        paths[2],
        title=f"{results['benchmark']}: {results['root']}",
    )
    return paths
