"""Relative-pose benchmark layouts: SuperGlue-style pairs files, MegaDepth scene-info npz, COLMAP models.

- Pairs file (ScanNet-1500, YFCC, MegaDepth-1500 of glue-factory), one pair a line:
  ``name0 name1 [rot0 rot1] K0(9) K1(9) T_0to1(16)``, matrices row-major, ``T_0to1`` mapping
  camera-0 to camera-1 coordinates, ``K`` for the image files as stored, ``rot`` the
  counter-clockwise quarter turns to apply to each image (then to ``K`` and ``T``).
- Scene info (MegaDepth-1500 of LoFTR): ``<scene>.npz`` with ``image_paths`` (relative to the
  MegaDepth root), ``intrinsics [3, 3]``, ``poses [4, 4]`` (world to camera) and
  ``pair_infos`` (``((i, j), overlap, ...)`` per pair).
- COLMAP model of undistorted images (your own reconstruction, e.g. ``lightglue reconstruct``
  then COLMAP's image undistorter): ``cameras``, ``images``, ``points3D`` (``.bin`` or
  ``.txt``); pairs are the registered images that observe enough common 3D points, ``K`` and
  ``T_0to1`` come from the model's cameras and poses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightglue.evaluation.preprocess import Resize
from lightglue.geometry.colmap import colmap_intrinsics, colmap_pose
from lightglue.geometry.transforms import relative_transform

SCANNET_RESIZE = Resize((480, 640))
"""ScanNet-1500 protocol: images resized to 640x480."""
MEGADEPTH_RESIZE = Resize(1600, "long")
"""MegaDepth-1500 protocol (LightGlue paper): long side resized to 1600 px."""
PAIRS_FILES: dict[str, Resize] = {"pairs_with_gt.txt": SCANNET_RESIZE, "pairs_calibrated.txt": MEGADEPTH_RESIZE}
"""Known pairs-file names and their protocol's resizing: SuperGlue's ScanNet-1500 file and
glue-factory's MegaDepth-1500 file. Any other ``.txt`` is read with the ScanNet resizing."""
COLMAP_RESIZE = Resize(1024, "long")
"""COLMAP models: long side resized to 1024 px, the default resizing of ``lightglue reconstruct``."""
MIN_COVISIBLE = 100
"""COLMAP models: the fewest 3D points two registered images must both observe to make a pair."""
COLMAP_MODEL_FILES = ("cameras", "images", "points3D")
"""The files of a COLMAP model, each ``.bin`` (binary model) or ``.txt`` (text model)."""


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


def _is_undistorted(camera: Any) -> bool:
    """Whether a pycolmap camera is a pinhole: a perspective, non-fisheye model (a fisheye
    without distortion is still no pinhole) whose distortion parameters are all exactly 0."""
    return camera.is_perspective_pinhole() and not np.any(camera.params[list(camera.extra_params_idxs())])


def _check_undistorted(images: list[Any], model_dir: Path) -> None:
    """Refuse registered pycolmap images whose camera has lens distortion (ValueError)."""
    distorted = [f"{image.name} ({image.camera.model.name})" for image in images if not _is_undistorted(image.camera)]
    if distorted:
        shown = ", ".join(distorted[:3]) + (f" and {len(distorted) - 3} more" if len(distorted) > 3 else "")
        raise ValueError(
            f"The COLMAP model {str(model_dir)!r} has cameras with lens distortion: {shown}. The pose benchmark "
            "needs pinhole cameras (SIMPLE_PINHOLE, PINHOLE, or distortion parameters all 0). Undistort the "
            f"images first, with 'colmap image_undistorter --image_path PHOTOS --input_path {model_dir} "
            f"--output_path OUT' or pycolmap.undistort_images('OUT', '{model_dir}', 'PHOTOS') (PHOTOS: the "
            "images the model was made from), then evaluate OUT."
        )


def read_colmap_model(model_dir: Path, image_dir: Path, min_covisible: int = MIN_COVISIBLE) -> list[PosePair]:
    """Read the co-visible pairs of a COLMAP model of undistorted images.

    A pair is two registered images ``name0 < name1`` (pairs in the order of the names) that
    observe at least ``min_covisible`` common 3D points. ``K`` is the camera's pinhole matrix
    with the principal point moved to the project's pixel frame (-0.5 px), ``T_0to1`` is
    ``cam_from_world(1) @ inv(cam_from_world(0))``.

    Args:
        model_dir: the model folder (``cameras``, ``images``, ``points3D``, ``.bin`` or ``.txt``).
        image_dir: where the images are (also looked for in its ``images/`` folder).
        min_covisible: fewest 3D points both images of a pair must observe.
    Raises:
        ValueError: a camera with lens distortion, or no co-visible pair.
    """
    from lightglue.collection._pycolmap import pycolmap

    model_dir, image_dir = Path(model_dir), Path(image_dir)
    rec = pycolmap.Reconstruction(str(model_dir))
    images = sorted((rec.images[i] for i in rec.reg_image_ids()), key=lambda image: image.name)
    _check_undistorted(images, model_dir)
    observed = {image.name: {p.point3D_id for p in image.get_observation_points2D()} for image in images}
    pairs = [
        PosePair(
            image0.name,
            image1.name,
            _find_image(image_dir, image0.name),
            _find_image(image_dir, image1.name),
            colmap_intrinsics(image0.camera),
            colmap_intrinsics(image1.camera),
            relative_transform(colmap_pose(image0), colmap_pose(image1)),
        )
        for a, image0 in enumerate(images)
        for image1 in images[a + 1 :]
        if len(observed[image0.name] & observed[image1.name]) >= min_covisible
    ]
    if not pairs:
        raise ValueError(
            f"No pair in the COLMAP model {str(model_dir)!r}: none of its {len(images)} registered image(s) "
            f"share {min_covisible} 3D points with another."
        )
    return pairs


def _is_colmap_model(folder: Path) -> bool:
    """Whether ``folder`` holds the three files of a binary or a text COLMAP model."""
    return any(all((folder / f"{name}{ext}").is_file() for name in COLMAP_MODEL_FILES) for ext in (".bin", ".txt"))


def _find_colmap_model(root: Path) -> tuple[Path, Path] | None:
    """The model folder and the default image folder of a COLMAP layout at ``root``, or None.

    ``root`` is the model folder (images default to its parent), or holds it in ``sparse/``
    (the layout of COLMAP's undistorter, ``sparse/`` + ``images/``: images default to ``root``).
    """
    if _is_colmap_model(root):
        return root, root.absolute().parent
    if _is_colmap_model(root / "sparse"):
        return root / "sparse", root
    return None


def read_pose_dataset(
    root: Path, image_dir: Path | None = None, min_covisible: int = MIN_COVISIBLE
) -> tuple[list[PosePair], Resize]:
    """Find and read a pose benchmark, with its protocol's default resizing.

    Args:
        root: a pairs file (``.txt``), a scene-info file (``.npz``), or a folder holding a
            pairs file (``pairs_with_gt.txt`` / ``pairs_calibrated.txt``), scene-info
            ``.npz`` files (searched recursively), or a COLMAP model (in the folder itself
            or in its ``sparse/``), in this order of priority.
        image_dir: where the images are; default: the folder of the pairs file, ``root`` for
            scene infos and for a model in ``root/sparse``, the model folder's parent otherwise.
        min_covisible: COLMAP models: fewest 3D points both images of a pair must observe.
    Returns:
        The pairs, and the resizing of the protocol: see :data:`PAIRS_FILES` for pairs
        files, :data:`MEGADEPTH_RESIZE` for scene infos, :data:`COLMAP_RESIZE` for models.
    Raises:
        FileNotFoundError: nothing recognisable at ``root``.
        ValueError: a COLMAP model with distorted cameras or without co-visible pairs.
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
        colmap = _find_colmap_model(root)
        if colmap is not None:
            model_dir, default_image_dir = colmap
            return read_colmap_model(model_dir, image_dir or default_image_dir, min_covisible), COLMAP_RESIZE
    raise FileNotFoundError(
        f"No pose benchmark at {str(root)!r}: expected a pairs file ({', '.join(PAIRS_FILES)}), "
        "MegaDepth scene-info .npz files, or a COLMAP model (cameras, images, points3D as .bin or .txt) "
        "in the folder or in its sparse/."
    )
