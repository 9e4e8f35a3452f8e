"""Reading images from disk and resizing them for the extractors.

Conventions: an image array is ``[H, W, 3]`` RGB (or ``[H, W]`` grayscale) ``uint8``; an image
tensor is ``[C, H, W]`` or ``[B, C, H, W]`` float in ``[0, 1]`` with ``C`` = 3 (RGB) or 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

_CV2_INTERPOLATIONS = {
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "area": cv2.INTER_AREA,
}


def _to_uint8(image: np.ndarray, path: Path) -> np.ndarray:
    """Map an image of any bit depth to ``uint8``: 16-bit by ``round(x / 257)``, float by ``[0, 1] -> [0, 255]``."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.round(image.astype(np.float32) / 257.0).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        return np.round(np.clip(np.nan_to_num(image), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise OSError(f"Unsupported pixel type {image.dtype} in image {str(path)!r}.")


def read_image(path: str | os.PathLike, grayscale: bool = False) -> np.ndarray:
    """Read an image file as an RGB (or grayscale) ``uint8`` array.

    Grayscale files are expanded to RGB, an alpha channel is dropped, 16-bit files are scaled
    to 8 bits (``round(x / 257)``: 65535 -> 255) and the EXIF orientation is applied.

    Args:
        path: the image file.
        grayscale: return a single-channel ``[H, W]`` luminance image instead of RGB.

    Returns:
        ``[H, W, 3]`` RGB, or ``[H, W]`` when ``grayscale``; ``uint8``.

    Raises:
        FileNotFoundError: nothing exists at ``path``.
        IsADirectoryError: ``path`` is a directory.
        OSError: the file exists but is not a readable image.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No image at path {str(path)!r}.")
    if path.is_dir():
        raise IsADirectoryError(f"Expected an image file, got the directory {str(path)!r}.")
    return decode_image(path.read_bytes(), path, grayscale)


def decode_image(data: bytes, source: str | os.PathLike, grayscale: bool = False) -> np.ndarray:
    """Decode the bytes of an image file exactly as :func:`read_image` reads the file.

    Args:
        data: the file's contents.
        source: the file's name, for error messages.
        grayscale: return a single-channel ``[H, W]`` luminance image instead of RGB.

    Returns:
        ``[H, W, 3]`` RGB, or ``[H, W]`` when ``grayscale``; ``uint8``.

    Raises:
        OSError: the bytes are not a readable image.
    """
    flags = cv2.IMREAD_ANYDEPTH | (cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    if image is None:
        raise OSError(f"Could not read image {str(source)!r}: the file is corrupt or not in a supported format.")
    image = _to_uint8(image, Path(source))
    if not grayscale:
        image = np.ascontiguousarray(image[..., ::-1])  # BGR -> RGB
    return image


def numpy_image_to_torch(image: np.ndarray) -> torch.Tensor:
    """Convert an ``[H, W, C]`` or ``[H, W]`` array to a ``[C, H, W]`` float tensor in ``[0, 1]``.

    ``uint8`` is divided by 255 and ``uint16`` by 65535; other dtypes are divided by 255 like the
    official implementation does (pass float arrays with values in ``[0, 255]``).
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"Expected a numpy array, got {type(image).__name__}.")
    if image.ndim == 3:
        image = image.transpose((2, 0, 1))
    elif image.ndim == 2:
        image = image[None]
    else:
        raise ValueError(f"Not an image: expected [H, W] or [H, W, C], got shape {image.shape}.")
    if image.dtype == np.bool_ or not np.issubdtype(image.dtype, np.number):
        raise TypeError(f"Not an image: unsupported dtype {image.dtype}.")
    max_value = 65535.0 if image.dtype == np.uint16 else 255.0
    return torch.from_numpy(np.ascontiguousarray(image) / max_value).float()


def resize_array(image: np.ndarray, size: int | tuple[int, int], fn: str = "max", interp: str = "area") -> np.ndarray:
    """Resize an ``[H, W, ...]`` array with OpenCV (the official ``load_image`` resizing).

    Args:
        size: the new length of the longest (``fn="max"``) or shortest (``fn="min"``) side, or
            an explicit ``(H, W)``.
        fn: ``"max"`` or ``"min"``.
        interp: ``"area"``, ``"linear"``, ``"cubic"`` or ``"nearest"``.
    """
    h, w = image.shape[:2]
    if isinstance(size, int):
        if fn not in ("max", "min"):
            raise ValueError(f"fn must be 'max' or 'min', got {fn!r}.")
        scale = size / (max(h, w) if fn == "max" else min(h, w))
        new_h, new_w = round(h * scale), round(w * scale)
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        new_h, new_w = (int(s) for s in size)
    else:
        raise ValueError(f"Incorrect new size: {size!r}; expected an int or (H, W).")
    if new_h < 1 or new_w < 1:
        raise ValueError(f"Cannot resize an image of size {w}x{h} to {new_w}x{new_h}.")
    if interp not in _CV2_INTERPOLATIONS:
        raise ValueError(f"Unknown interpolation {interp!r}; choose from {sorted(_CV2_INTERPOLATIONS)}.")
    return cv2.resize(image, (new_w, new_h), interpolation=_CV2_INTERPOLATIONS[interp])


def load_image(path: str | os.PathLike, resize: int | tuple[int, int] | None = None, **kwargs) -> torch.Tensor:
    """Read an RGB image as a ``[3, H, W]`` float tensor in ``[0, 1]``.

    Args:
        path: the image file.
        resize: optional new size, see ``fn``: the longest side (default) in pixels, or ``(H, W)``.
        **kwargs: ``fn`` (``"max"`` or ``"min"``) and ``interp`` (``"area"`` by default), as in
            the official ``load_image``.
    """
    image = read_image(path)
    if resize is not None:
        image = resize_array(image, resize, **kwargs)
    return numpy_image_to_torch(image)


def resize_image(
    image: torch.Tensor,
    size: int | tuple[int, int],
    side: str = "long",
    interpolation: str = "bilinear",
    align_corners: bool | None = None,
    antialias: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize an image tensor the way the extractors' preprocessing does (kornia, antialiased).

    Args:
        image: ``[B, C, H, W]`` or ``[C, H, W]`` float image.
        size: the new length in pixels of ``side`` (``"long"``, ``"short"``, ``"vert"`` or
            ``"horz"``), the other side keeping the aspect ratio; or an explicit ``(H, W)``.
        interpolation: kornia interpolation mode.
        align_corners: passed to the interpolation.
        antialias: blur before downsampling.

    Returns:
        The resized image, same rank as the input, and ``scale`` ``[2]`` = (new_W / W, new_H / H)
        on the image's device and dtype.
    """
    import kornia.geometry.transform

    if image.ndim not in (3, 4):
        raise ValueError(f"Expected an image [C, H, W] or [B, C, H, W], got shape {tuple(image.shape)}.")
    h, w = image.shape[-2:]
    batched = image if image.ndim == 4 else image[None]
    resized = kornia.geometry.transform.resize(
        batched, size, interpolation=interpolation, align_corners=align_corners, side=side, antialias=antialias
    )
    if image.ndim == 3:
        resized = resized[0]
    new_h, new_w = resized.shape[-2:]
    scale = torch.tensor([new_w / w, new_h / h]).to(resized)
    return resized, scale
