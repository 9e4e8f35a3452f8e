"""The ``export`` verb: write a matcher in another format (``lightglue export onnx``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def export() -> None:
    """Export LightGlue for other runtimes."""


@export.command("onnx")
@click.option("--features", required=True,
              help="Feature preset (aliked, disk, superpoint, sift, doghardnet): selects the weights and descriptor size.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A state-dict file instead of the preset's pretrained weights.")
@click.option("--whole-graph", is_flag=True,
              help="One full-depth graph (no early exit, no pruning) instead of the adaptive pieces.")
@click.option("--opset", type=click.IntRange(min=14), default=17, show_default=True, help="ONNX opset version.")
@click.option("--force", is_flag=True, help="Replace the folder if it exists and is not empty.")
def onnx(features: str, out: Path, weights: Path | None, whole_graph: bool, opset: int, force: bool) -> None:
    """Write LightGlue as ONNX graphs and a manifest into OUT, for lightglue.onnx.OnnxLightGlue.

    The default (adaptive) export runs with early exit and point pruning; see docs/onnx.md.
    """
    from lightglue.matcher import LightGlue
    from lightglue.onnx import export_onnx

    kwargs = {} if weights is None else {"weights": str(weights)}
    try:
        model = LightGlue(features, **kwargs).eval()
        manifest = export_onnx(model, out, whole_graph=whole_graph, opset=opset, overwrite=force)
    except (FileExistsError, ImportError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {manifest.kind} export of {features} LightGlue ({len(manifest.files())} graphs) to {out}")
