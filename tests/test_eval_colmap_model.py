"""``lightglue eval pose`` on a COLMAP model: pairs, intrinsics and poses from a tiny synthetic text model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from lightglue.cli import main
from lightglue.cli.evaluate import eval_group
from lightglue.evaluation.posedata import (
    COLMAP_RESIZE,
    MIN_COVISIBLE,
    SCANNET_RESIZE,
    read_colmap_model,
    read_pose_dataset,
)
from lightglue.evaluation.preprocess import Resize

CAMERAS = {1: "PINHOLE 640 480 500 510 320 240", 2: "PINHOLE 320 240 300 310 160.5 120.25"}
"""Camera id -> ``MODEL WIDTH HEIGHT PARAMS`` line of cameras.txt."""
K_PROJECT = {
    1: np.array([[500.0, 0, 319.5], [0, 510, 239.5], [0, 0, 1]]),
    2: np.array([[300.0, 0, 160.0], [0, 310, 119.75], [0, 0, 1]]),
}
"""The intrinsics of each camera in the project's pixel frame (principal point - 0.5 px)."""
IMAGES = {  # name: (image id, camera id, rotation vector (rad), translation), world to camera
    "a.png": (3, 1, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "b.png": (1, 1, (0.0, np.deg2rad(30), 0.0), (-1.0, 0.0, 0.2)),
    "c.png": (2, 2, (np.deg2rad(20), 0.0, np.deg2rad(-10)), (0.5, 0.3, 0.0)),
}
"""Ids not in name order, so that the reader's sorting by name is tested."""
TRACKS = {1: "ab", 2: "ab", 3: "abc", 4: "bc", 5: "bc", 6: "ac"}
"""3D point id -> the images (initials) observing it: a-b and b-c share 3 points, a-c 2."""
MIN = 3
"""The min_covisible that keeps a-b and b-c and drops a-c."""


def _rotation(rotvec: tuple[float, float, float]) -> np.ndarray:
    return cv2.Rodrigues(np.array(rotvec, np.float64))[0]


def _cam_from_world(name: str) -> np.ndarray:
    _, _, rotvec, t = IMAGES[name]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = _rotation(rotvec), t
    return T


def _quaternion(rotvec: tuple[float, float, float]) -> list[float]:
    """COLMAP's ``QW QX QY QZ`` of a rotation vector."""
    angle = float(np.linalg.norm(rotvec))
    axis = np.array(rotvec) / angle if angle else np.zeros(3)
    return [np.cos(angle / 2), *(np.sin(angle / 2) * axis)]


def write_model(model_dir: Path, cameras: dict[int, str] = CAMERAS) -> None:
    """cameras.txt, images.txt, points3D.txt of the synthetic model (no rigs.txt / frames.txt)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "cameras.txt").write_text("".join(f"{i} {line}\n" for i, line in cameras.items()))
    ids = {name[0]: image_id for name, (image_id, *_) in IMAGES.items()}
    observations: dict[str, list[int]] = {name: [] for name in IMAGES}  # point ids per image, by 2D index
    tracks = []
    for point_id, seen in TRACKS.items():
        track = []
        for initial in seen:
            name = f"{initial}.png"
            track += [ids[initial], len(observations[name])]
            observations[name].append(point_id)
        tracks.append(f"{point_id} {point_id} 0 5 128 128 128 0.5 {' '.join(map(str, track))}\n")
    (model_dir / "points3D.txt").write_text("".join(tracks))
    lines = []
    for name, (image_id, camera_id, rotvec, t) in IMAGES.items():
        pose = " ".join(map(str, [*_quaternion(rotvec), *t]))
        points2D = " ".join(f"{10.0 * k + 5} {20.0 + k} {point_id}" for k, point_id in enumerate(observations[name]))
        lines += [f"{image_id} {pose} {camera_id} {name}\n", f"{points2D}\n"]
    (model_dir / "images.txt").write_text("".join(lines))


def write_images(image_dir: Path) -> None:
    """A smooth random texture per image, of its camera's size."""
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (_, camera_id, _, _) in IMAGES.items():
        width, height = (int(v) for v in CAMERAS[camera_id].split()[1:3])
        noise = rng.uniform(0, 255, (height, width)).astype(np.float32)
        image = cv2.GaussianBlur(noise, (0, 0), 2.0)
        cv2.imwrite(str(image_dir / name), cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8))


@pytest.fixture
def undistorted(tmp_path: Path) -> Path:
    """The layout of COLMAP's undistorter: ``ROOT/sparse`` (text model) + ``ROOT/images``."""
    write_model(tmp_path / "sparse")
    write_images(tmp_path / "images")
    return tmp_path


def test_pairs_intrinsics_and_poses(undistorted):
    pairs = read_colmap_model(undistorted / "sparse", undistorted, min_covisible=MIN)
    assert [(p.name0, p.name1) for p in pairs] == [("a.png", "b.png"), ("b.png", "c.png")]
    for pair in pairs:
        assert pair.path0 == undistorted / "images" / pair.name0 and pair.path1 == undistorted / "images" / pair.name1
        np.testing.assert_allclose(pair.K0, K_PROJECT[IMAGES[pair.name0][1]], atol=1e-12)
        np.testing.assert_allclose(pair.K1, K_PROJECT[IMAGES[pair.name1][1]], atol=1e-12)
        expected = _cam_from_world(pair.name1) @ np.linalg.inv(_cam_from_world(pair.name0))
        np.testing.assert_allclose(pair.T_0to1, expected, atol=1e-6)
        # T_0to1 maps a world point seen in camera 0 to the same point seen in camera 1.
        world = np.array([0.3, -0.2, 4.0, 1.0])
        np.testing.assert_allclose(
            pair.T_0to1 @ (_cam_from_world(pair.name0) @ world), _cam_from_world(pair.name1) @ world, atol=1e-6
        )
    # All three pairs with a lower threshold, still in name order.
    assert [p.name for p in read_colmap_model(undistorted / "sparse", undistorted, min_covisible=2)] == [
        "a.png--b.png",
        "a.png--c.png",
        "b.png--c.png",
    ]


def test_no_covisible_pair_is_an_error(undistorted):
    with pytest.raises(ValueError, match="No pair in the COLMAP model.*3 registered image.*share 4 3D points"):
        read_colmap_model(undistorted / "sparse", undistorted, min_covisible=MIN + 1)
    with pytest.raises(ValueError, match=f"share {MIN_COVISIBLE} 3D points"):
        read_pose_dataset(undistorted)


def test_read_pose_dataset_finds_both_model_layouts(tmp_path, undistorted):
    pairs, resize = read_pose_dataset(undistorted, min_covisible=MIN)
    assert resize == COLMAP_RESIZE == Resize(1024, "long")
    assert [p.path0 for p in pairs] == [undistorted / "images" / "a.png", undistorted / "images" / "b.png"]
    # ROOT is the model folder itself: images default to its parent (found there or in its images/).
    pairs, _ = read_pose_dataset(undistorted / "sparse", min_covisible=MIN)
    assert [p.path1 for p in pairs] == [undistorted / "images" / "b.png", undistorted / "images" / "c.png"]
    # --images overrides the default.
    elsewhere = tmp_path / "elsewhere"
    write_images(elsewhere)
    pairs, _ = read_pose_dataset(undistorted, elsewhere, min_covisible=MIN)
    assert pairs[0].path0 == elsewhere / "a.png"
    (elsewhere / "c.png").unlink()
    with pytest.raises(FileNotFoundError, match="'c.png' not found"):
        read_pose_dataset(undistorted, elsewhere, min_covisible=MIN)


def test_pairs_file_keeps_priority_over_a_model(undistorted):
    values = " ".join(["1 0 0 0 1 0 0 0 1"] * 2 + ["1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"])
    (undistorted / "pairs_with_gt.txt").write_text(f"a.png c.png 0 0 {values}\n")
    pairs, resize = read_pose_dataset(undistorted, min_covisible=MIN)
    assert [p.name for p in pairs] == ["a.png--c.png"] and resize == SCANNET_RESIZE


def test_nothing_recognisable_names_the_colmap_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="No pose benchmark.*or a COLMAP model"):
        read_pose_dataset(tmp_path)


@pytest.mark.parametrize("k", ["0.1", "-1e-9"])
def test_distorted_camera_is_refused(tmp_path, k):
    write_model(tmp_path / "sparse", {1: CAMERAS[1], 2: f"SIMPLE_RADIAL 320 240 300 160.5 120.25 {k}"})
    with pytest.raises(ValueError, match=r"lens distortion: c\.png \(SIMPLE_RADIAL\)\..*image_undistorter"):
        read_colmap_model(tmp_path / "sparse", tmp_path, min_covisible=MIN)


def test_zero_distortion_is_accepted(tmp_path):
    write_model(tmp_path / "sparse", {1: CAMERAS[1], 2: "SIMPLE_RADIAL 320 240 300 160.5 120.25 0"})
    write_images(tmp_path / "images")
    pairs = read_colmap_model(tmp_path / "sparse", tmp_path, min_covisible=MIN)
    np.testing.assert_allclose(pairs[1].K1, [[300, 0, 160], [0, 300, 119.75], [0, 0, 1]], atol=1e-12)


def test_fisheye_without_distortion_is_refused(tmp_path):
    """A fisheye model with zero parameters still projects as a fisheye, not as a pinhole."""
    write_model(tmp_path / "sparse", {1: CAMERAS[1], 2: "SIMPLE_RADIAL_FISHEYE 320 240 300 160.5 120.25 0"})
    with pytest.raises(ValueError, match=r"c\.png \(SIMPLE_RADIAL_FISHEYE\)"):
        read_colmap_model(tmp_path / "sparse", tmp_path, min_covisible=MIN)


def test_cli_default_is_the_module_constant():
    option = next(p for p in eval_group.commands["pose"].params if p.name == "min_covisible")
    assert option.default == MIN_COVISIBLE


def test_cli_eval_pose_on_a_model(undistorted, tmp_path):
    args = ["eval", "pose", str(undistorted), "-m", "sift+mnn", "--threads", "1", "--estimator", "poselib"]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [*args, "--min-covisible", str(MIN), "--limit", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| sift+mnn | poselib |" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["resize"] == str(COLMAP_RESIZE)
    assert [p["name"] for p in results["methods"]["sift+mnn"]["pairs"]] == ["a.png--b.png"]
    # --min-covisible reaches the reader: one more than the model offers leaves no pair.
    result = CliRunner().invoke(main, [*args, "--min-covisible", str(MIN + 1)])
    assert result.exit_code == 1 and "No pair in the COLMAP model" in result.output, result.output
