"""Image reading, conversion and resizing (lightglue.image)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from lightglue.extractors import SIFT
from lightglue.image import load_image, numpy_image_to_torch, read_image, resize_image


def _write(path, bgr_or_gray: np.ndarray) -> str:
    assert cv2.imwrite(str(path), bgr_or_gray)
    return str(path)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        read_image(path)
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        load_image(path)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(IsADirectoryError):
        read_image(tmp_path)


def test_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "garbage.jpg"
    path.write_bytes(b"\x00\x01not a jpeg at all" * 50)
    with pytest.raises(OSError, match="garbage.jpg") as info:
        read_image(path)
    assert not isinstance(info.value, FileNotFoundError)


def test_color_order_is_rgb(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR order
    bgr[..., 1] = 10
    image = read_image(_write(tmp_path / "red.png", bgr))
    assert image.shape == (4, 6, 3) and image.dtype == np.uint8
    assert (image[..., 0] == 200).all() and (image[..., 1] == 10).all() and (image[..., 2] == 0).all()
    assert image.flags["C_CONTIGUOUS"]


def test_grayscale_png(tmp_path):
    gray = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7) * 7
    path = _write(tmp_path / "gray.png", gray)
    rgb = read_image(path)
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], gray)
    np.testing.assert_array_equal(read_image(path, grayscale=True), gray)
    assert load_image(path).shape == (3, 5, 7)


def test_rgba_png_drops_alpha(tmp_path):
    bgra = np.zeros((3, 4, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = 30, 60, 90, 5  # B, G, R, alpha
    image = read_image(_write(tmp_path / "rgba.png", bgra))
    assert image.shape == (3, 4, 3)
    np.testing.assert_array_equal(image[0, 0], [90, 60, 30])


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_png_is_scaled_to_8bit(tmp_path, channels):
    values = np.array([[0, 257, 32896, 65535]], np.uint16)  # 0, 1, 128, 255 in 8 bits
    data = values if channels == 1 else np.repeat(values[..., None], 3, axis=-1)
    path = _write(tmp_path / "deep.png", data)
    assert cv2.imread(path, cv2.IMREAD_UNCHANGED).dtype == np.uint16  # the file really is 16-bit
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (1, 4, 3)
    np.testing.assert_array_equal(image[0, :, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(read_image(path, grayscale=True)[0], [0, 1, 128, 255])


def test_numpy_image_to_torch():
    rgb = np.full((2, 3, 3), 255, np.uint8)
    tensor = numpy_image_to_torch(rgb)
    assert tensor.shape == (3, 2, 3) and tensor.dtype == torch.float32 and torch.all(tensor == 1)
    gray = numpy_image_to_torch(np.zeros((2, 3), np.uint8))
    assert gray.shape == (1, 2, 3)
    deep = numpy_image_to_torch(np.full((2, 2), 65535, np.uint16))
    assert torch.all(deep == 1)
    with pytest.raises(ValueError, match="shape"):
        numpy_image_to_torch(np.zeros((1, 2, 3, 3), np.uint8))
    with pytest.raises(TypeError):
        numpy_image_to_torch(torch.zeros(3, 2, 2))


def test_load_image_resize(tmp_path):
    path = _write(tmp_path / "big.png", np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8))
    assert load_image(path).shape == (3, 60, 90)
    assert load_image(path, resize=45).shape == (3, 30, 45)  # long side
    assert load_image(path, resize=30, fn="min").shape == (3, 30, 45)
    assert load_image(path, resize=(20, 10)).shape == (3, 20, 10)
    with pytest.raises(ValueError, match="interpolation"):
        load_image(path, resize=30, interp="magic")


def test_resize_image_long_side_and_scale():
    image = torch.rand(2, 3, 500, 741)
    resized, scale = resize_image(image, 1024)
    assert resized.shape == (2, 3, 690, 1024)  # the frame of the golden fixtures
    torch.testing.assert_close(scale, torch.tensor([1024 / 741, 690 / 500]))
    single, single_scale = resize_image(image[0], 256, side="short")
    assert single.shape == (3, 256, 379)
    torch.testing.assert_close(single_scale, torch.tensor([379 / 741, 256 / 500]))
    with pytest.raises(ValueError, match="shape"):
        resize_image(torch.rand(500, 741), 100)


def test_resize_image_antialiases():
    noise = torch.rand(1, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    smooth, _ = resize_image(noise, 32)  # white noise must mostly average out when downsampling 4x
    aliased, _ = resize_image(noise, 32, antialias=False)
    assert smooth.std() < 0.5 * aliased.std()
    assert abs(smooth.mean().item() - 0.5) < 0.05


def test_too_small_image_file_to_extractor(tmp_path):
    image = load_image(_write(tmp_path / "tiny.png", np.full((5, 5, 3), 128, np.uint8)))
    with pytest.raises(ValueError, match="5x5"):
        SIFT().extract(image)
