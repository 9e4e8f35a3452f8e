"""Export LightGlue to ONNX and run it with ONNX Runtime, early exit and point pruning included.

Needs the optional extra ``pip install 'lightglue[onnx]'`` (``onnx`` to export,
``onnxruntime`` to run); both are imported only when used.
"""

from lightglue.onnx.export import export_onnx
from lightglue.onnx.manifest import Manifest
from lightglue.onnx.runtime import OnnxLightGlue

__all__ = ["Manifest", "OnnxLightGlue", "export_onnx"]
