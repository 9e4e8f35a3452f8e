"""lightglue: sparse local-feature matching with LightGlue (ICCV 2023).

Public API, the official package's names::

    from lightglue import LightGlue, SuperPoint, DISK, SIFT, ALIKED, DoGHardNet, match_pair, viz2d
    from lightglue.utils import load_image, rbd

Names are resolved lazily so that ``import lightglue`` stays cheap (the CLI starts fast).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "LightGlue": "lightglue.matcher",
    "ALIKED": "lightglue.extractors",
    "DISK": "lightglue.extractors",
    "SIFT": "lightglue.extractors",
    "SuperPoint": "lightglue.extractors",
    "DoGHardNet": "lightglue.extractors",
    "Extractor": "lightglue.extractors",
    "match_pair": "lightglue.utils",
}
_SUBMODULES = ("utils", "viz2d")

__all__ = [*_EXPORTS, *_SUBMODULES, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"lightglue.{name}")
    raise AttributeError(f"module 'lightglue' has no attribute {name!r}")
