"""Export a LightGlue model to a folder of ONNX graphs for :class:`~lightglue.onnx.OnnxLightGlue`.

Two kinds of export:

- ``adaptive`` (default): one graph for the input encoding, one per transformer layer (with
  the confidence and matchability heads) and one per assignment head. The runtime runs the
  early exit and the point pruning between the graphs, exactly as the PyTorch model does.
- ``whole-graph``: the full-depth model as one graph (no early exit, no pruning), the
  approach of the public ONNX port; kept as the baseline of ``benchmarks/bench_onnx.py``.

Point counts are dynamic axes; the batch is 1 (the runtime loops over the pairs of a batch).
Uses torch's TorchScript-based exporter (``dynamo=False``), which needs only ``onnx``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from lightglue.matcher.lightglue import LightGlue
from lightglue.onnx.graphs import AssignGraph, EncodeGraph, LayerGraph
from lightglue.onnx.manifest import MANIFEST_NAME, Manifest

DEFAULT_OPSET = 17
# Sample sizes for tracing: different for the two images so no axis is tied to another.
_SAMPLE_M, _SAMPLE_N = 48, 40


def _check_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError("ONNX export needs the 'onnx' package: pip install 'lightglue[onnx]'") from None


def _export(module: nn.Module, args: tuple, path: Path, inputs: dict[str, dict], outputs: dict[str, dict], opset: int) -> None:
    """Trace ``module`` on ``args`` to ``path``; ``inputs``/``outputs`` map names to dynamic axes."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation notices of the TorchScript exporter
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={k: v for k, v in {**inputs, **outputs}.items() if v},
        )


def _pair_axes(name0: str, name1: str, axis: int) -> dict[str, dict]:
    return {name0: {axis: "M"}, name1: {axis: "N"}}


def _write_pieces(model: LightGlue, folder: Path, opset: int, heads: bool) -> dict:
    """Export the encoding and every layer; with ``heads``, also each layer's exit and pruning heads
    and every assignment head, otherwise only the last assignment head."""
    c = model.conf
    pos_dim = 2 + 2 * c.add_scale_ori
    desc = torch.randn(1, _SAMPLE_M, c.input_dim)
    pos = torch.rand(1, _SAMPLE_M, pos_dim) * 2 - 1
    encode = EncodeGraph(model)
    _export(
        encode, (desc, pos), folder / "encode.onnx",
        {"descriptors": {1: "N"}, "positions": {1: "N"}},
        {"states": {1: "N"}, "cos": {2: "N"}, "sin": {2: "N"}},
        opset,
    )
    with torch.no_grad():
        x0, cos0, sin0 = encode(desc, pos)
        x1, cos1, sin1 = encode(torch.randn(1, _SAMPLE_N, c.input_dim), torch.rand(1, _SAMPLE_N, pos_dim) * 2 - 1)
    layer_inputs = {
        **_pair_axes("states0", "states1", 1),
        "cos0": {2: "M"}, "sin0": {2: "M"}, "cos1": {2: "N"}, "sin1": {2: "N"},
    }
    layers, assign = [], []
    for i in range(c.n_layers):
        with_heads = heads and i < c.n_layers - 1
        outputs = _pair_axes("out_states0", "out_states1", 1)
        if with_heads:
            outputs |= _pair_axes("confidence0", "confidence1", 1) | _pair_axes("matchability0", "matchability1", 1)
        layers.append(f"layer{i}.onnx")
        _export(LayerGraph(model, i, with_heads), (x0, x1, cos0, sin0, cos1, sin1), folder / layers[-1], layer_inputs, outputs, opset)
        if not heads and i < c.n_layers - 1:
            continue  # the full-depth model only uses the last head
        assign.append(f"assign{i}.onnx")
        _export(
            AssignGraph(model, i), (x0, x1, torch.tensor(c.filter_threshold)), folder / assign[-1],
            {**_pair_axes("states0", "states1", 1), "threshold": {}},
            _pair_axes("matches0", "matches1", 1) | _pair_axes("matching_scores0", "matching_scores1", 1),
            opset,
        )
    return {"encode": "encode.onnx", "layers": layers, "assign": assign}


def _rename(graph, names: dict[str, str]) -> None:
    """Rename values of an ONNX graph (its inputs, outputs and every node's references)."""
    for value in (*graph.input, *graph.output):
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]


def _rename_axis(graph, old: str, new: str) -> None:
    """Rename the symbolic dimension ``old`` of every typed value of an ONNX graph."""
    for value in (*graph.input, *graph.output, *graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param == old:
                dim.dim_param = new


def _compose_whole(pieces: Path, graphs: dict, path: Path) -> None:
    """Chain the full-depth pieces into one ONNX graph: encode both images, every layer, the last head.

    Inputs: descriptors0/1 [1, M|N, D], positions0/1 [1, M|N, P], threshold (0-d);
    outputs: matches0/1, matching_scores0/1.
    """
    import onnx
    from onnx import compose

    encode0 = compose.add_prefix(onnx.load(pieces / graphs["encode"]), "a/")
    _rename_axis(encode0.graph, "N", "M")  # the point axis of image 0 is M, as in the layers
    encode1 = compose.add_prefix(onnx.load(pieces / graphs["encode"]), "b/")
    whole = compose.merge_models(encode0, encode1, io_map=[])
    encodings = ["a/cos", "a/sin", "b/cos", "b/sin"]
    states = ("a/states", "b/states")
    for i, name in enumerate(graphs["layers"]):
        p = f"l{i}/"
        layer = compose.add_prefix(onnx.load(pieces / name), p)
        io_map = [(states[0], p + "states0"), (states[1], p + "states1")]
        io_map += [(e, p + f"{e[2:]}{0 if e[0] == 'a' else 1}") for e in encodings]
        states = (p + "out_states0", p + "out_states1")
        whole = compose.merge_models(whole, layer, io_map, outputs=[*encodings, *states])
    head = compose.add_prefix(onnx.load(pieces / graphs["assign"][-1]), "h/")
    results = ["matches0", "matches1", "matching_scores0", "matching_scores1"]
    whole = compose.merge_models(
        whole, head, [(states[0], "h/states0"), (states[1], "h/states1")], outputs=[f"h/{r}" for r in results]
    )
    _rename(whole.graph, {
        "a/descriptors": "descriptors0", "a/positions": "positions0",
        "b/descriptors": "descriptors1", "b/positions": "positions1",
        "h/threshold": "threshold", **{f"h/{r}": r for r in results},
    })
    onnx.checker.check_model(whole)
    onnx.save(whole, path)


def _write_whole(model: LightGlue, folder: Path, opset: int) -> dict:
    with tempfile.TemporaryDirectory(dir=folder, prefix=".pieces-") as pieces:
        graphs = _write_pieces(model, Path(pieces), opset, heads=False)
        _compose_whole(Path(pieces), graphs, folder / "lightglue.onnx")
    return {"whole": "lightglue.onnx"}


def _write_adaptive(model: LightGlue, folder: Path, opset: int) -> dict:
    return _write_pieces(model, folder, opset, heads=True)


def export_onnx(
    model: LightGlue, out: str | Path, *, whole_graph: bool = False, opset: int = DEFAULT_OPSET, overwrite: bool = False
) -> Manifest:
    """Write ``model`` as ONNX graphs and a manifest into the folder ``out``.

    Args:
        model: the matcher to export (its weights and configuration; ``flash`` and ``mp``
            do not apply: the graphs are float32 with plain attention).
        out: the folder to create. It is written in a staging folder beside it and renamed
            when complete, so it never holds a partial export.
        whole_graph: write one full-depth graph instead of the adaptive pieces; the
            manifest's configuration then has early exit and pruning disabled.
        opset: ONNX opset version.
        overwrite: replace an existing non-empty folder ``out``.

    Returns:
        The manifest that was written.

    Raises:
        ImportError: ``onnx`` is not installed.
        FileExistsError: ``out`` exists, is not empty and ``overwrite`` is False.
    """
    _check_onnx()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty (pass overwrite=True / --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    config = model.conf
    if whole_graph:
        config = dataclasses.replace(config, depth_confidence=-1, width_confidence=-1)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    staging.chmod(0o755)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        graphs = (_write_whole if whole_graph else _write_adaptive)(model, staging, opset)
        kind = "whole-graph" if whole_graph else "adaptive"
        manifest = Manifest(kind, model.feature_type, config, graphs, opset, torch.__version__)
        (staging / MANIFEST_NAME).write_text(manifest.to_json())
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "export")
            os.replace(staging, out)
            shutil.rmtree(old)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
