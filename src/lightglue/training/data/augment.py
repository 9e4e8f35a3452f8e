"""Photometric augmentation of the LightGlue homography recipe, in NumPy/OpenCV, driven by a generator.

The reference (glue-factory's ``lg`` augmentation, built with albumentations) applies, with an
overall probability of 0.95, in this order:

==========================  =====  ==========================================================
transform                   p      range
==========================  =====  ==========================================================
gamma                       0.1    ``x ** g``, g ~ U(0.15, 0.65) (brightens)
hue / saturation / value    0.1    hue +-20 (OpenCV units of 2 degrees), saturation +-30,
                                   value U(-100, -40) (8-bit levels)
one of: blur, motion blur,  0.1    box blur 3-9 px, motion blur 3-25 px, sensor noise, JPEG
noise, JPEG
box blur                    0.1    kernel 3-9 px (odd)
motion blur                 0.1    kernel 3-25 px (odd), a line through the centre
brightness / contrast       0.5    ``x * (1 + c) + 255 b``, b ~ U(-0.4, 0), c ~ U(-0.3, 0)
CLAHE                       0.2    clip limit U(1, 4), 8 x 8 tiles, on the L of Lab
==========================  =====  ==========================================================

This module draws the same transforms with the same probabilities and ranges, but every random
number comes from the ``numpy.random.Generator`` passed in, so an augmentation is a pure
function of (image, generator state). The sensor noise (albumentations' ``ISONoise``) is
modelled as Gaussian luminance noise of standard deviation U(2, 12) levels plus Gaussian colour
noise of a quarter of that; the JPEG quality is drawn from U(50, 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities of the photometric transforms (defaults: the reference ``lg`` recipe).

    Attributes:
        p: probability that any augmentation is applied at all.
        gamma, hsv, one_of, blur, motion_blur, brightness_contrast, clahe: probability of
            each transform (see the module docstring for its range).
    """

    p: float = 0.95
    gamma: float = 0.1
    hsv: float = 0.1
    one_of: float = 0.1
    blur: float = 0.1
    motion_blur: float = 0.1
    brightness_contrast: float = 0.5
    clahe: float = 0.2

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"The probability {name} must lie in [0, 1], got {value!r}.")


NO_AUGMENTATION = AugmentConfig(p=0.0)


def _lut(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    return cv2.LUT(image, np.clip(np.round(table), 0, 255).astype(np.uint8))


def adjust_gamma(image: np.ndarray, gamma: float) -> np.ndarray:
    """``255 * (x / 255) ** gamma`` on a uint8 image."""
    return _lut(image, 255.0 * (np.arange(256) / 255.0) ** gamma)


def shift_hsv(image: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """Shift hue (OpenCV units, period 180), saturation and value (8-bit levels) of an RGB uint8 image."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    levels = np.arange(256, dtype=np.float64)
    hsv[..., 0] = cv2.LUT(hsv[..., 0], np.mod(levels + hue, 180).astype(np.uint8))
    hsv[..., 1] = _lut(hsv[..., 1], levels + saturation)
    hsv[..., 2] = _lut(hsv[..., 2], levels + value)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def box_blur(image: np.ndarray, size: int) -> np.ndarray:
    """Mean filter of odd ``size`` pixels."""
    return cv2.blur(image, (size, size))


def motion_blur(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Blur along a random line through the centre of a ``size`` x ``size`` kernel (odd ``size``)."""
    kernel = np.zeros((size, size), np.float32)
    x0, x1 = rng.integers(0, size, 2)
    y0, y1 = rng.integers(0, size, 2)
    cv2.line(kernel, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, thickness=1)
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel)


def sensor_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian luminance noise of ``sigma`` levels plus colour noise of ``sigma / 4`` per channel."""
    h, w = image.shape[:2]
    noise = rng.normal(0.0, sigma, (h, w, 1)) + rng.normal(0.0, sigma / 4, (h, w, image.shape[2]))
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at ``quality`` (0-100)."""
    ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB image
        raise RuntimeError("OpenCV could not encode the image as JPEG.")
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


def brightness_contrast(image: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """``x * (1 + contrast) + 255 * brightness``, clipped to 8 bits."""
    return _lut(image, np.arange(256) * (1.0 + contrast) + 255.0 * brightness)


def clahe(image: np.ndarray, clip_limit: float, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of the lightness (Lab) of an RGB uint8 image."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def _odd(rng: np.random.Generator, low: int, high: int) -> int:
    """An odd integer drawn uniformly from ``[low, high]`` (both odd)."""
    return int(low + 2 * rng.integers(0, (high - low) // 2 + 1))


def augment(image: np.ndarray, rng: np.random.Generator, conf: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Apply the photometric augmentation to an RGB ``[H, W, 3]`` uint8 image.

    The result is a pure function of the image, ``conf`` and the state of ``rng``.

    Returns:
        A new ``[H, W, 3]`` uint8 image (the input is not modified).
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"augment expects an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}.")
    out = np.ascontiguousarray(image).copy()
    if rng.random() >= conf.p:
        return out
    if rng.random() < conf.gamma:
        out = adjust_gamma(out, rng.uniform(0.15, 0.65))
    if rng.random() < conf.hsv:
        out = shift_hsv(out, rng.uniform(-20, 20), rng.uniform(-30, 30), rng.uniform(-100, -40))
    if rng.random() < conf.one_of:
        choice = rng.integers(0, 4)
        if choice == 0:
            out = box_blur(out, _odd(rng, 3, 9))
        elif choice == 1:
            out = motion_blur(out, _odd(rng, 3, 25), rng)
        elif choice == 2:
            out = sensor_noise(out, rng.uniform(2.0, 12.0), rng)
        else:
            out = jpeg(out, int(rng.integers(50, 101)))
    if rng.random() < conf.blur:
        out = box_blur(out, _odd(rng, 3, 9))
    if rng.random() < conf.motion_blur:
        out = motion_blur(out, _odd(rng, 3, 25), rng)
    if rng.random() < conf.brightness_contrast:
        out = brightness_contrast(out, rng.uniform(-0.4, 0.0), rng.uniform(-0.3, 0.0))
    if rng.random() < conf.clahe:
        out = clahe(out, rng.uniform(1.0, 4.0))
    return out
