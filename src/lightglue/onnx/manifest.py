"""The manifest of an exported folder: which graphs it holds and the matcher configuration.

An export folder holds ONNX graphs and ``lightglue-onnx.json``::

    {"format": "lightglue-onnx", "version": 1, "kind": "adaptive" | "whole-graph",
     "features": "aliked", "config": {... LightGlueConfig fields ...},
     "graphs": {"encode": "encode.onnx", "layers": [...], "assign": [...]}   # adaptive
               {"whole": "lightglue.onnx"}                                   # whole-graph
     "opset": 17, "torch": "2.13.0"}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from lightglue.matcher.config import LightGlueConfig

MANIFEST_NAME = "lightglue-onnx.json"
FORMAT = "lightglue-onnx"
VERSION = 1
KINDS = ("adaptive", "whole-graph")


@dataclass(frozen=True)
class Manifest:
    """What :func:`lightglue.onnx.export_onnx` wrote.

    Attributes:
        kind: ``adaptive`` (per-layer graphs, exit and pruning decided by the runtime) or
            ``whole-graph`` (one full-depth graph).
        features: the feature preset of the exported matcher, or None.
        config: the matcher's configuration at export time.
        graphs: graph file names relative to the folder (see the module docstring).
        opset: ONNX opset of the graphs.
        torch: version of the torch that exported them.
    """

    kind: str
    features: str | None
    config: LightGlueConfig
    graphs: dict
    opset: int
    torch: str

    def to_json(self) -> str:
        body = {"format": FORMAT, "version": VERSION, **dataclasses.asdict(self)}
        return json.dumps(body, indent=1) + "\n"

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        """Read and check ``folder/lightglue-onnx.json``.

        Raises:
            FileNotFoundError: no manifest (not an export folder).
            ValueError: another format or version, an unknown kind or a missing graph file.
        """
        path = Path(folder) / MANIFEST_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: export a model with 'lightglue export onnx' first")
        body = json.loads(path.read_text())
        if body.get("format") != FORMAT or body.get("version") != VERSION:
            raise ValueError(f"{path}: not a {FORMAT} v{VERSION} manifest (format={body.get('format')!r}, version={body.get('version')!r})")
        if body["kind"] not in KINDS:
            raise ValueError(f"{path}: unknown kind {body['kind']!r}; expected one of {KINDS}")
        manifest = cls(body["kind"], body["features"], LightGlueConfig(**body["config"]), body["graphs"], body["opset"], body["torch"])
        missing = [name for name in manifest.files() if not (Path(folder) / name).is_file()]
        if missing:
            raise ValueError(f"{folder}: graph files missing: {missing}")
        return manifest

    def files(self) -> list[str]:
        """Every graph file name of the export."""
        if self.kind == "whole-graph":
            return [self.graphs["whole"]]
        return [self.graphs["encode"], *self.graphs["layers"], *self.graphs["assign"]]
