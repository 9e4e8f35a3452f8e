"""lightglue: sparse local-feature matching with LightGlue (ICCV 2023).

Public API, compatible with the official package::

    from lightglue import LightGlue, ALIKED, DISK, SIFT, SuperPoint
    from lightglue.utils import load_image, rbd, match_pair

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
    "XFeat": "lightglue.extractors",
    "Extractor": "lightglue.extractors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lightglue' has no attribute {name!r}")
