"""``lightglue match``: match two images, write a picture and a machine-readable result."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click

from lightglue.cli.options import check_device, matcher_options, matcher_overrides

FEATURES = ("aliked", "disk", "sift", "superpoint", "xfeat")


def _atomic_write_text(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(text)
    os.replace(f.name, path)


def _draw(path: Path, images, kpts, matches, scores, prune, stop: int, n_layers: int) -> None:
    """Write ``path`` (matches coloured by score) and ``pruning.png`` beside it."""
    from lightglue import viz2d

    m0, m1 = kpts[0][matches[:, 0]], kpts[1][matches[:, 1]]
    viz2d.plot_images(images)
    viz2d.plot_matches(m0, m1, color=viz2d.cm_ranking(scores), lw=0.3, ps=2, a=0.6)
    viz2d.add_text(0, f"{len(matches)} matches, stop after {stop}/{n_layers} layers")
    viz2d.save_plot(path)
    viz2d.plot_images(images)
    viz2d.plot_keypoints(kpts, colors=[viz2d.cm_prune(p, stop) for p in prune], ps=5)
    viz2d.add_text(0, f"points by layer pruned (red: early, yellow: late, blue: kept to layer {stop})")
    viz2d.save_plot(path.with_name("pruning.png"))


@click.command()
@click.argument("image0", required=False, type=click.Path(dir_okay=False))
@click.argument("image1", required=False, type=click.Path(dir_okay=False))
@click.option("--features", type=click.Choice(FEATURES), default="aliked", show_default=True, help="Local features.")
@click.option("--max-keypoints", type=click.IntRange(min=1), default=2048, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="outputs/match", show_default=True)
@matcher_options
@click.option("--device", default="cpu", show_default=True, callback=check_device)
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Matcher weights file (e.g. a training run's weights.pth) instead of the preset's.")
def match(image0, image1, features, max_keypoints, out_dir, depth_confidence, width_confidence, filter_threshold, device,
          weights):
    """Match IMAGE0 and IMAGE1 (default: the bundled Middlebury "Motorcycle" stereo pair).

    Writes OUT/matches.png, OUT/pruning.png and OUT/result.json (keypoints, matches, scores,
    layers run). For the bundled pair it also prints the share of matches within 1 px of the
    ground-truth disparity.
    """
    import numpy as np
    import torch

    from lightglue import LightGlue
    from lightglue.extractors import EXTRACTORS
    from lightglue.image import numpy_image_to_torch, read_image
    from lightglue.sample_data import disparity_errors, stereo_motorcycle
    from lightglue.utils import rbd
    from lightglue.weights import WeightsNotFoundError

    if (image0 is None) != (image1 is None):
        raise click.UsageError("give two images, or none to match the bundled example pair")
    disparity = None
    try:
        if image0 is None:
            left, right, disparity = stereo_motorcycle()
            images, names = [left, right], ["motorcycle_left (bundled)", "motorcycle_right (bundled)"]
        else:
            images, names = [read_image(image0), read_image(image1)], [image0, image1]
        extractor = EXTRACTORS[features](max_num_keypoints=max_keypoints).eval().to(device)
        options = matcher_overrides(  # those not given keep the feature preset's values
            depth_confidence=depth_confidence, width_confidence=width_confidence, filter_threshold=filter_threshold,
            weights=weights,
        )
        matcher = LightGlue(features=features, **options).eval().to(device)
    except (FileNotFoundError, WeightsNotFoundError, ValueError, OSError) as err:
        raise click.ClickException(str(err)) from None

    with torch.inference_mode():
        t0 = time.perf_counter()
        try:
            feats = [extractor.extract(numpy_image_to_torch(im).to(device)) for im in images]
        except ValueError as err:  # e.g. an image smaller than the network accepts
            raise click.ClickException(str(err)) from None
        t1 = time.perf_counter()
        result = matcher({"image0": feats[0], "image1": feats[1]})
        t2 = time.perf_counter()
    feats = [{k: v.cpu() for k, v in rbd(f).items()} for f in feats]
    result = rbd(result)
    kpts = [f["keypoints"].numpy() for f in feats]
    matches = result["matches"].cpu().numpy()
    scores = result["scores"].cpu().numpy()
    stop = int(result["stop"])
    n_layers = matcher.conf.n_layers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "images": [str(n) for n in names],
        "features": features,
        "num_keypoints": [len(k) for k in kpts],
        "num_matches": len(matches),
        "layers_run": stop,
        "n_layers": n_layers,
        "weights": matcher.weights_provenance.as_dict(),
        "time_extract_s": round(t1 - t0, 4),
        "time_match_s": round(t2 - t1, 4),
    }
    if disparity is not None and len(matches):
        errors = disparity_errors(kpts[0][matches[:, 0]], kpts[1][matches[:, 1]], disparity)
        known = np.isfinite(errors)
        summary["disparity_check"] = {
            "matches_with_ground_truth": int(known.sum()),
            "share_within_1px": float((errors[known] < 1.0).mean()) if known.any() else None,
            "median_error_px": float(np.median(errors[known])) if known.any() else None,
        }
    record = {
        **summary,
        "image_size": [f["image_size"].tolist() for f in feats],
        "keypoints0": kpts[0].round(3).tolist(),
        "keypoints1": kpts[1].round(3).tolist(),
        "matches": matches.tolist(),
        "scores": scores.round(6).tolist(),
        "prune0": result["prune0"].tolist(),
        "prune1": result["prune1"].tolist(),
    }
    _atomic_write_text(out / "result.json", json.dumps(record))
    _draw(out / "matches.png", images, kpts, matches, scores, [result["prune0"], result["prune1"]], stop, n_layers)

    click.echo(f"{features}+lightglue: {summary['num_keypoints'][0]} / {summary['num_keypoints'][1]} keypoints, "
               f"{len(matches)} matches, {stop}/{n_layers} layers "
               f"(extract {summary['time_extract_s']:.2f} s, match {summary['time_match_s']:.2f} s)")
    if "disparity_check" in summary:
        check = summary["disparity_check"]
        click.echo(f"ground-truth disparity: {100 * check['share_within_1px']:.1f}% of "
                   f"{check['matches_with_ground_truth']} matches within 1 px (median error {check['median_error_px']:.2f} px)")
    click.echo(f"weights: {matcher.weights_provenance}")
    click.echo(f"wrote {out / 'matches.png'}, {out / 'pruning.png'}, {out / 'result.json'}")
