"""Loading benchmark images with the resizing each protocol prescribes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lightglue.image import numpy_image_to_torch, read_image, resize_image


@dataclass(frozen=True)
class Resize:
    """How a benchmark resizes its images before feature extraction.

    Attributes:
        size: the new length in pixels of ``side``, or an explicit ``(H, W)``.
        side: ``"long"`` or ``"short"`` (ignored when ``size`` is ``(H, W)``).
    """

    size: int | tuple[int, int]
    side: str = "long"

    def __post_init__(self) -> None:
        if self.side not in ("long", "short"):
            raise ValueError(f"Resize side must be 'long' or 'short', got {self.side!r}")

    @classmethod
    def parse(cls, text: str) -> Resize:
        """Read ``"1600"`` (long side), ``"short:480"`` or ``"640x480"`` (W x H)."""
        text = text.strip().lower()
        try:
            if "x" in text:
                w, h = (int(v) for v in text.split("x"))
                return cls((h, w))
            side, _, size = text.rpartition(":")
            return cls(int(size), side or "long")
        except ValueError as err:
            raise ValueError(
                f"Cannot read the resize {text!r} ({err}); use e.g. '1600' (long side), 'short:480' or '640x480'"
            ) from None

    def __str__(self) -> str:
        if isinstance(self.size, tuple):
            return f"{self.size[1]}x{self.size[0]}"
        return f"{self.side}:{self.size}"


def load_image_for_eval(
    path: Path, resize: Resize | None, rot: int = 0
) -> tuple[torch.Tensor, np.ndarray, tuple[int, int]]:
    """Read an image, rotate it by quarter turns, and resize it (antialiased).

    Args:
        path: the image file.
        resize: the protocol's resizing, or None to keep the size.
        rot: counter-clockwise quarter turns applied first, as ``np.rot90``.
    Returns:
        ``image [3, H, W]`` float in [0, 1], ``scale [2]`` = (new W / W, new H / H) of the
        resize, and the ``(W, H)`` of the rotated image before resizing (pixels).
    """
    array = np.rot90(read_image(path), rot) if rot % 4 else read_image(path)
    image = numpy_image_to_torch(np.ascontiguousarray(array))
    size_before = (int(image.shape[-1]), int(image.shape[-2]))
    if resize is None:
        return image, np.ones(2), size_before
    image, scale = resize_image(image, resize.size, side=resize.side)
    return image, scale.cpu().numpy().astype(np.float64), size_before
