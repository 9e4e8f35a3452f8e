"""Synthetic posed scenes (``lightglue render-scenes``): the images agree with the depth maps,
poses and intrinsics written beside them, MegaDepthPairs reads the layout, rendering is
deterministic and resumable, and held-out photos are never used as textures."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from lightglue.cli import main
from lightglue.training.data.photos import split_of
from lightglue.training.data.scenes import covisible_share, render_scene, render_scenes

SIZE = (160, 120)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """12 smooth random colour textures (200 x 150 px)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(12):
        noise = rng.uniform(0, 255, (150, 200, 3)).astype(np.float32)
        cv2.imwrite(str(root / f"photo{i:02d}.png"), cv2.GaussianBlur(noise, (0, 0), 2.5) * 3 - 255)
    return root


def _photo_list(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("*.png"))


def _load(out: Path, name: str) -> dict:
    with np.load(out / "scene_info" / f"{name}.npz", allow_pickle=True) as data:
        return {k: data[k] for k in data.files}


def _depth(out: Path, rel: str) -> np.ndarray:
    import h5py

    with h5py.File(out / rel, "r") as f:
        return np.asarray(f["depth"])


def test_views_agree_with_depth_poses_and_intrinsics(photos, tmp_path):
    """Colours at corresponding pixels (from depth + pose + K) agree; at random pixels they do not."""
    render_scene(photos, _photo_list(photos), tmp_path, "s0000", seed=3, views=4, image_size=SIZE, photometric=False)
    info = _load(tmp_path, "s0000")
    K, poses, overlap = info["intrinsics"][0], info["poses"], info["overlap_matrix"]
    i, j = np.unravel_index(np.argmax(overlap), overlap.shape)
    assert overlap[i, j] > 0.1, overlap
    images = [cv2.imread(str(tmp_path / info["image_paths"][k])).astype(np.float32) for k in (i, j)]
    depths = [_depth(tmp_path, info["depth_paths"][k]) for k in (i, j)]
    assert depths[0].shape == SIZE[::-1] and images[0].shape[:2] == SIZE[::-1]
    ys, xs = np.mgrid[2 : SIZE[1] - 2, 2 : SIZE[0] - 2]
    z = depths[0][ys, xs]
    # pixels away from depth discontinuities (a 5x5 neighbourhood within 2 %)
    smooth = cv2.dilate(depths[0], np.ones((5, 5))) - cv2.erode(depths[0], np.ones((5, 5))) < 0.02 * depths[0]
    keep = (z > 0) & smooth[ys, xs]
    p = np.stack([(xs - K[0, 2]) / K[0, 0] * z, (ys - K[1, 2]) / K[1, 1] * z, z], -1)[keep]
    T = poses[j] @ np.linalg.inv(poses[i])
    q = p @ T[:3, :3].T + T[:3, 3]
    uv = q[:, :2] / q[:, 2:] * [K[0, 0], K[1, 1]] + K[:2, 2]
    u, v = np.round(uv).astype(int).T
    inside = (q[:, 2] > 0) & (u >= 0) & (u < SIZE[0]) & (v >= 0) & (v < SIZE[1])
    u, v, q, src = u[inside], v[inside], q[inside], np.argwhere(keep)[inside]
    visible = np.abs(depths[1][v, u] - q[:, 2]) < 0.01 * q[:, 2]
    assert visible.sum() > 200
    a = images[0][src[visible, 0] + 2, src[visible, 1] + 2]
    b = images[1][v[visible], u[visible]]
    corresponding = np.abs(a - b).mean()
    shuffled = np.abs(a - b[np.random.default_rng(0).permutation(len(b))]).mean()
    assert corresponding < 0.25 * shuffled, (corresponding, shuffled)
    # the stored overlap is the smaller of the two co-visible shares
    share = covisible_share(depths[0], depths[1], K, poses[i], poses[j])
    back = covisible_share(depths[1], depths[0], K, poses[j], poses[i])
    assert overlap[i, j] == pytest.approx(min(share, back))


def test_megadepth_pairs_read_the_scenes(photos, tmp_path):
    from lightglue.training.data.megadepth import MegaDepthPairs

    list(render_scenes(photos, tmp_path, scenes=2, views=4, seed=1, image_size=SIZE, val_fraction=0.0))
    # what a render killed before its rename leaves: a complete scene under a temporary name
    shutil.copy(tmp_path / "scene_info" / "s0001.npz", tmp_path / "scene_info" / ".s0001.k2j4.tmp.npz")
    pairs = MegaDepthPairs(tmp_path, features="sift", num_keypoints=64, split="all", resize=None,
                           pairs_per_scene=None, min_overlap=0.05, max_overlap=1.0)  # fmt: skip
    assert sorted(pairs.scenes) == ["s0000", "s0001"] and len(pairs) > 0
    sample = pairs[0]
    assert sample["keypoints0"].shape == (64, 2) and sample["K0"].shape == (3, 3)
    positives, unmatchable = (sample["gt_matches0"] >= 0).sum(), (sample["gt_matches0"] == -1).sum()
    assert positives > 0 and unmatchable > 0, (positives, unmatchable)


def test_deterministic_resumable_and_training_photos_only(photos, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    first = list(render_scenes(photos, a, scenes=2, views=3, seed=5, image_size=SIZE, val_fraction=0.3))
    assert sorted(first) == [("s0000", True), ("s0001", True)]
    list(render_scenes(photos, b, scenes=2, views=3, seed=5, image_size=SIZE, val_fraction=0.3))
    for name in ("s0000", "s0001"):
        ia, ib = _load(a, name), _load(b, name)
        assert np.array_equal(ia["poses"], ib["poses"]) and np.array_equal(ia["overlap_matrix"], ib["overlap_matrix"])
        for rel in ia["image_paths"]:
            assert (a / rel).read_bytes() == (b / rel).read_bytes()
        held_out = [p for p in ia["texture_paths"] if split_of(p, 0.3) == "val"]
        assert not held_out
    assert any(split_of(p, 0.3) == "val" for p in _photo_list(photos))  # the check above can fail
    # a scene without its scene_info file (an interrupted render) is rendered again, the others kept
    (a / "scene_info" / "s0001.npz").unlink()
    again = list(render_scenes(photos, a, scenes=2, views=3, seed=5, image_size=SIZE, val_fraction=0.3))
    assert sorted(again) == [("s0000", False), ("s0001", True)]
    assert _load(a, "s0001")["poses"].tobytes() == _load(b, "s0001")["poses"].tobytes()


def test_cli_renders_and_reports_bad_corpus(photos, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["render-scenes", str(photos), str(tmp_path / "out"), "--scenes", "1",
                                  "--views", "2", "--size", *map(str, SIZE)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "s0000 rendered" in result.output
    assert (tmp_path / "out" / "scene_info" / "s0000.npz").is_file()
    few = tmp_path / "few"
    few.mkdir()
    cv2.imwrite(str(few / "one.png"), np.zeros((200, 200, 3), np.uint8))
    result = runner.invoke(main, ["render-scenes", str(few), str(tmp_path / "out2"), "--scenes", "1"])
    assert result.exit_code != 0 and "usable photo" in result.output
