"""What both HTML pages of the viewer share: templates, inlined data, atomic writing.

A page is one self-contained file: its template (package data under ``viewer_templates/``)
with ``{{NAME}}`` placeholders filled with escaped text, JSON and base64-encoded arrays;
nothing is loaded from anywhere else when it opens.
"""

from __future__ import annotations

import base64
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def fill_template(name: str, **values: str) -> str:
    """The template ``viewer_templates/<name>`` with every ``{{KEY}}`` replaced by ``values[KEY]``.

    Raises:
        KeyError: a placeholder of the template has no value, or a value no placeholder.
    """
    text = resources.files("lightglue.collection").joinpath("viewer_templates", name).read_text("utf-8")
    wanted = set(_PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise KeyError(f"Template {name}: placeholders {sorted(wanted)} but values for {sorted(values)}.")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def script_json(obj: Any) -> str:
    """JSON text that is safe inside a ``<script>`` element (no ``</`` or ``<!--`` sequence)."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def b64_array(array: np.ndarray, dtype: str) -> str:
    """Base64 of an array's values as little-endian ``dtype`` (``"<f4"``, ``"u1"``, ``"<u2"``), C order."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def write_page(path: str | os.PathLike, text: str) -> Path:
    """Write a page as UTF-8 under a temporary name, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
