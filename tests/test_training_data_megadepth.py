"""MegaDepthPairs on a tiny synthetic dataset in the MegaDepth layout: a textured plane seen by a
few cameras, with exact depth maps, intrinsics, poses and overlaps written by the test."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from lightglue.training.data.collate import collate
from lightglue.training.data.megadepth import MegaDepthPairs

SIZE = (320, 240)  # W, H
TEXTURE_SCALE = 0.01  # metres per texture pixel


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    return np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])


def _plane_homography(K: np.ndarray, T: np.ndarray, texture_size: int) -> np.ndarray:
    """Texture pixel (u, v) -> image pixel, for the texture on the world plane Z = 0, centred at 0."""
    c = texture_size / 2
    M = np.array([[TEXTURE_SCALE, 0, -c * TEXTURE_SCALE], [0, TEXTURE_SCALE, -c * TEXTURE_SCALE], [0, 0, 1]])
    return K @ np.stack([T[:3, 0], T[:3, 1], T[:3, 3]], axis=1) @ M


def _render(texture: np.ndarray, K: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image of the textured plane and its depth map (0 off the texture)."""
    n = texture.shape[0]
    H = _plane_homography(K, T, n)
    image = cv2.warpPerspective(texture, H, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    xs, ys = np.meshgrid(np.arange(SIZE[0]), np.arange(SIZE[1]))
    pixels = np.stack([xs, ys, np.ones_like(xs)], -1).reshape(-1, 3).astype(np.float64)
    uv = pixels @ np.linalg.inv(H).T
    uv = uv[:, :2] / uv[:, 2:]
    world = np.concatenate([(uv - n / 2) * TEXTURE_SCALE, np.zeros((len(uv), 1))], 1)
    depth = (world @ T[:3, :3].T + T[:3, 3])[:, 2]
    inside = np.all((uv >= 0) & (uv <= n - 1), axis=1)
    return image, np.where(inside, depth, 0.0).reshape(SIZE[1], SIZE[0]).astype(np.float32)


def write_plane_scene(root: Path, scene: str, texture: np.ndarray, cameras: list[tuple[float, float, float, float]]):
    """Write one scene: cameras ``(yaw, pitch, x, y)`` at 4 m from the plane, plus one image without depth."""
    K = np.array([[300.0, 0, SIZE[0] / 2], [0, 300.0, SIZE[1] / 2], [0, 0, 1]])
    image_paths, depth_paths, poses, Hs = [], [], [], []
    for i, (yaw, pitch, x, y) in enumerate(cameras):
        R = _rotation(yaw, pitch)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, -R @ np.array([x, y, -4.0])
        image, depth = _render(texture, K, T)
        rel = f"Undistorted_SfM/{scene}/images/view{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), image[..., ::-1])
        (root / "depth_undistorted" / scene).mkdir(parents=True, exist_ok=True)
        with h5py.File(root / "depth_undistorted" / scene / f"view{i}.h5", "w") as f:
            f.create_dataset("depth", data=depth)
        image_paths.append(rel)
        depth_paths.append(f"depth_undistorted/{scene}/view{i}.h5")
        poses.append(T)
        Hs.append(_plane_homography(K, T, texture.shape[0]))
    n = len(cameras)
    overlap = np.full((n + 1, n + 1), 0.5)
    overlap[0, n - 1] = overlap[n - 1, 0] = 0.05  # below min_overlap: never a pair
    np.fill_diagonal(overlap, 1.0)  # above max_overlap
    (root / "scene_info").mkdir(exist_ok=True)
    np.savez(
        root / "scene_info" / f"{scene}.npz",
        image_paths=np.array(image_paths + ["Undistorted_SfM/missing.png"], dtype=object),
        depth_paths=np.array(depth_paths + [None], dtype=object),
        intrinsics=np.stack([K] * (n + 1)),
        poses=np.stack(poses + [np.eye(4)]),
        overlap_matrix=overlap,
    )
    return Hs


@pytest.fixture(scope="module")
def megadepth_root(tmp_path_factory):
    skimage = pytest.importorskip("skimage")
    files = sorted((Path(skimage.__file__).parent / "data").glob("astronaut.*"))
    if not files:
        pytest.skip("the scikit-image sample image astronaut is not installed")
    texture = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)[..., ::-1].copy()
    root = tmp_path_factory.mktemp("megadepth")
    cameras = [(0.0, 0.0, 0.0, 0.0), (0.15, 0.05, 0.3, 0.1), (-0.1, -0.12, -0.2, 0.2), (0.05, 0.1, 0.1, -0.3)]
    homographies = {"0000": write_plane_scene(root, "0000", texture, cameras)}
    homographies["0001"] = write_plane_scene(root, "0001", texture[::-1].copy(), cameras[:3])
    return root, homographies


def _dataset(root: Path, **kwargs) -> MegaDepthPairs:
    defaults = dict(num_keypoints=128, resize=None, val_scenes=["0001"], pairs_per_scene=None, max_overlap=0.7)
    return MegaDepthPairs(root, **{**defaults, **kwargs})


def test_pairs_follow_overlap_validity_and_split(megadepth_root):
    root, _ = megadepth_root
    train, val = _dataset(root, split="train"), _dataset(root, split="val")
    # scene 0000: 4 cameras with depth, (0, 3) below min_overlap, both orders of each pair
    assert sorted((s, i, j) for s, i, j, _ in train.items) == sorted(
        ("0000", i, j) for i in range(4) for j in range(4) if i != j and {i, j} != {0, 3}
    )
    assert {s for s, *_ in val.items} == {"0001"} and len(val) == 4  # (0, 2) excluded: 3 cams -> 6 - 2
    assert all(o == 0.5 for *_, o in train.items)
    sampled = _dataset(root, split="train", pairs_per_scene=4, seed=1)
    assert len(sampled) == 4 and set(sampled.items) <= set(train.items)
    assert sampled.items == _dataset(root, split="train", pairs_per_scene=4, seed=1).items
    everything = _dataset(root, split="train", max_overlap=1.0)  # the diagonal (1.0) is never a pair
    assert sorted(everything.items) == sorted(train.items)
    with pytest.raises(ValueError, match="No train pairs"):
        _dataset(root, split="train", min_overlap=0.6, max_overlap=0.9)
    with pytest.raises(FileNotFoundError, match="MegaDepth layout"):
        MegaDepthPairs(root / "nothing")


def test_intrinsics_pose_and_depth_are_consistent(megadepth_root):
    """Independently of the GT code: lifting a keypoint with its depth and moving it by T_0to1
    lands where the exact plane homography sends it, also after resizing."""
    root, homographies = megadepth_root
    for resize in (None, 256):
        dataset = _dataset(root, split="train", resize=resize)
        scene, i0, i1, _ = dataset.items[0]
        f0 = dataset.image_features(scene, i0)
        size, original = f0["image_size"], f0["original_size"]
        scale = size / original
        assert tuple(original) == SIZE and (resize is None or max(size) == resize)
        from lightglue.geometry.transforms import scale_intrinsics

        K0 = scale_intrinsics(dataset.scenes[scene]["intrinsics"][i0], scale)
        K1 = scale_intrinsics(dataset.scenes[scene]["intrinsics"][i1], scale)
        depth = dataset.load_depth(scene, i0, tuple(original), tuple(int(v) for v in size))
        kp = f0["keypoints"].astype(np.float64)
        d = depth[np.round(kp[:, 1]).astype(int), np.round(kp[:, 0]).astype(int)]
        T0, T1 = (dataset.scenes[scene]["poses"][i] for i in (i0, i1))
        points = (np.linalg.inv(K0) @ np.c_[kp, np.ones(len(kp))].T * d).T
        moved = (T1 @ np.linalg.inv(T0) @ np.c_[points, np.ones(len(kp))].T)[:3].T
        projected = (K1 @ moved.T).T
        projected = projected[:, :2] / projected[:, 2:]
        S = np.diag([*scale, 1.0])
        H = S @ homographies[scene][i1] @ np.linalg.inv(homographies[scene][i0]) @ np.linalg.inv(S)
        expected = cv2.perspectiveTransform(kp[None], H)[0]
        valid = d > 0
        assert valid.mean() > 0.9
        # nearest-pixel depth on a slanted plane: errors of a pixel or two at most
        assert np.median(np.linalg.norm(projected - expected, axis=1)[valid]) < 1.0


def test_samples_ground_truth_and_determinism(megadepth_root):
    root, homographies = megadepth_root
    dataset = _dataset(root, split="train", resize=256)
    batch = collate([dataset[i] for i in range(3)])
    k = 128
    assert batch["keypoints0"].shape == (3, k, 2) and batch["K0"].shape == (3, 3, 3)
    assert batch["T_0to1"].shape == (3, 4, 4) and batch["gt_assignment"].shape == (3, k, k)
    assert torch.equal(batch["image_size0"], torch.tensor([[256.0, 192.0]] * 3))
    again = _dataset(root, split="train", resize=256)[1]
    assert all(torch.equal(v, again[key]) for key, v in dataset[1].items() if isinstance(v, torch.Tensor))
    S = np.diag([0.8, 0.8, 1.0])
    for b in range(3):
        scene, i0, i1, _ = dataset.items[b]
        H = S @ homographies[scene][i1] @ np.linalg.inv(homographies[scene][i0]) @ np.linalg.inv(S)
        m0 = batch["gt_matches0"][b]
        matched = m0 >= 0
        assert matched.sum() > 0.2 * k
        kp0 = batch["keypoints0"][b][matched].double().numpy()
        kp1 = batch["keypoints1"][b][m0[matched]].double().numpy()
        error = np.linalg.norm(cv2.perspectiveTransform(kp0[None], H)[0] - kp1, axis=1)
        assert np.mean(error < 4.0) > 0.95
        nearest = (batch["descriptors0"][b] @ batch["descriptors1"][b].T).argmax(-1)
        assert (nearest[matched] == m0[matched]).float().mean() > 0.5


def test_feature_cache_is_reused(megadepth_root, tmp_path, monkeypatch):
    root, _ = megadepth_root
    first = _dataset(root, split="val", cache_dir=tmp_path)
    entries = [first.image_features(s, i) for s, i in (("0001", 0), ("0001", 1))]
    assert len(list(tmp_path.rglob("*.npz"))) == 2

    from lightglue.training.data import features

    def no_extraction(*_args, **_kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(features.FrozenFeatures, "extract", no_extraction)
    second = _dataset(root, split="val", cache_dir=tmp_path)
    for entry, (s, i) in zip(entries, (("0001", 0), ("0001", 1))):
        cached = second.image_features(s, i)
        assert entry.keys() == cached.keys() and all(np.array_equal(entry[k], cached[k]) for k in entry)
    with pytest.raises(AssertionError, match="cache should have been used"):
        _dataset(root, split="val", cache_dir=tmp_path, resize=200).image_features("0001", 0)
