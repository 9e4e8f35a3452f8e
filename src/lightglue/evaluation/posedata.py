"""Relative-pose benchmark layouts: SuperGlue-style pairs files and MegaDepth scene-info npz.

- Pairs file (ScanNet-1500, YFCC, MegaDepth-1500 of glue-factory), one pair a line:
  ``name0 name1 [rot0 rot1] K0(9) K1(9) T_0to1(16)``, matrices row-major, ``T_0to1`` mapping
  camera-0 to camera-1 coordinates, ``K`` for the image files as stored, ``rot`` the
  counter-clockwise quarter turns to apply to each image (then to ``K`` and ``T``).
- Scene info (MegaDepth-1500 of LoFTR): ``<scene>.npz`` with ``image_paths`` (relative to the
  MegaDepth root), ``intrinsics [3, 3]``, ``poses [4, 4]`` (world to camera) and
  ``pair_infos`` (``((i, j), overlap, ...)`` per pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lightglue.evaluation.preprocess import Resize
from lightglue.geometry.transforms import relative_transform

SCANNET_RESIZE = Resize((480, 640))
"""ScanNet-1500 protocol: images resized to 640x480."""
MEGADEPTH_RESIZE = Resize(1600, "long")
"""MegaDepth-1500 protocol (LightGlue paper): long side resized to 1600 px."""
PAIRS_FILES: dict[str, Resize] = {"pairs_with_gt.txt": SCANNET_RESIZE, "pairs_calibrated.txt": MEGADEPTH_RESIZE}
"""Known pairs-file names and their protocol's resizing: SuperGlue's ScanNet-1500 file and
glue-factory's MegaDepth-1500 file. Any other ``.txt`` is read with the ScanNet resizing."""


@dataclass(frozen=True)
class PosePair:
    """Two calibrated images with their ground-truth relative pose.

    Attributes:
        name0, name1: image names as written in the dataset.
        path0, path1: the image files.
        K0, K1: ``[3, 3]`` intrinsics of the image files as stored (pixels).
        T_0to1: ``[4, 4]`` transform from camera-0 to camera-1 coordinates.
        rot0, rot1: counter-clockwise quarter turns to apply to each image before matching.
    """

    name0: str
    name1: str
    path0: Path
    path1: Path
    K0: np.ndarray
    K1: np.ndarray
    T_0to1: np.ndarray
    rot0: int = 0
    rot1: int = 0

    @property
    def name(self) -> str:
        """``<name0>--<name1>``."""
        return f"{self.name0}--{self.name1}"


def _find_image(image_dir: Path, name: str) -> Path:
    for candidate in (image_dir / name, image_dir / "images" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Image {name!r} not found in {str(image_dir)!r} nor in its images/ folder.")


def read_pairs_file(path: Path, image_dir: Path | None = None) -> list[PosePair]:
    """Read a pairs file with ground truth (36 or 38 fields a line).

    Args:
        path: the text file.
        image_dir: where the images are (also looked for in its ``images/`` folder);
            default: the folder of the pairs file.
    """
    path = Path(path)
    image_dir = path.parent if image_dir is None else Path(image_dir)
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) not in (36, 38):
            raise ValueError(f"{path}:{number}: expected 36 or 38 fields, got {len(fields)}")
        name0, name1 = fields[:2]
        rot0, rot1 = (int(fields[2]), int(fields[3])) if len(fields) == 38 else (0, 0)
        values = np.array(fields[-34:], np.float64)
        pairs.append(
            PosePair(
                name0,
                name1,
                _find_image(image_dir, name0),
                _find_image(image_dir, name1),
                values[:9].reshape(3, 3),
                values[9:18].reshape(3, 3),
                values[18:].reshape(4, 4),
                rot0,
                rot1,
            )
        )
    return pairs


def read_scene_info(path: Path, root: Path) -> list[PosePair]:
    """Read the pairs of one MegaDepth scene-info npz.

    Args:
        path: the ``.npz`` file.
        root: the folder the ``image_paths`` are relative to (the MegaDepth test root).
    """
    info = np.load(path, allow_pickle=True)
    image_paths, intrinsics, poses = info["image_paths"], info["intrinsics"], info["poses"]
    pairs = []
    for pair_info in info["pair_infos"]:
        i, j = (int(v) for v in pair_info[0])
        name0, name1 = str(image_paths[i]), str(image_paths[j])
        pairs.append(
            PosePair(
                name0,
                name1,
                _find_image(Path(root), name0),
                _find_image(Path(root), name1),
                np.asarray(intrinsics[i], np.float64),
                np.asarray(intrinsics[j], np.float64),
                relative_transform(poses[i], poses[j]),
            )
        )
    return pairs


def read_pose_dataset(root: Path, image_dir: Path | None = None) -> tuple[list[PosePair], Resize]:
    """Find and read a pose benchmark, with its protocol's default resizing.

    Args:
        root: a pairs file (``.txt``), a scene-info file (``.npz``), or a folder holding a
            pairs file (``pairs_with_gt.txt`` / ``pairs_calibrated.txt``) or scene-info
            ``.npz`` files (searched recursively).
        image_dir: where the images are; default: the folder of the pairs file, or ``root``
            for scene infos.
    Returns:
        The pairs, and the resizing of the protocol: see :data:`PAIRS_FILES` for pairs
        files, :data:`MEGADEPTH_RESIZE` for scene infos.
    Raises:
        FileNotFoundError: nothing recognisable at ``root``.
    """
    root = Path(root)
    if root.is_file() and root.suffix == ".txt":
        return read_pairs_file(root, image_dir), PAIRS_FILES.get(root.name, SCANNET_RESIZE)
    if root.is_file() and root.suffix == ".npz":
        return read_scene_info(root, image_dir or root.parent), MEGADEPTH_RESIZE
    if root.is_dir():
        for name, resize in PAIRS_FILES.items():
            if (root / name).is_file():
                return read_pairs_file(root / name, image_dir), resize
        scene_infos = sorted(root.rglob("*.npz"))
        if scene_infos:
            pairs = [p for npz in scene_infos for p in read_scene_info(npz, image_dir or root)]
            return pairs, MEGADEPTH_RESIZE
    raise FileNotFoundError(
        f"No pose benchmark at {str(root)!r}: expected a pairs file ({', '.join(PAIRS_FILES)}) "
        "or MegaDepth scene-info .npz files."
    )
