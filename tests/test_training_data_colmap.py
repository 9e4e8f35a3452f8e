"""ColmapPairs on a synthetic COLMAP model (random 3D points seen by three cameras) and the
features.h5 it was "built" from, written by the test."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lightglue.collection._pycolmap import pycolmap
from lightglue.training.data.collate import collate
from lightglue.training.data.colmap_pairs import ColmapPairs

W, H, DIM = 320, 240, 16


def _rotation(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def write_model(root: Path, shift: float = 0.0, extractor: str = "SIFT") -> dict[str, np.ndarray]:
    """Write ``root/sparse`` and ``root/features.h5``; return each image's keypoint -> 3D point id map."""
    rng = np.random.default_rng(0)
    xyz = np.c_[rng.uniform(-2, 2, (400, 2)), rng.uniform(4, 6, 400)]
    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(pycolmap.Camera.create_from_model_name(1, "SIMPLE_RADIAL", 300.0, W, H))
    tracks: dict[int, list[tuple[int, int]]] = {}
    truth = {}
    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / "features.h5", "w") as f:
        f.attrs["lightglue_extractor"] = json.dumps({"extractor": extractor, "conf": {}, "resize": None})
        for image_id, (yaw, x) in enumerate([(0.0, 0.0), (0.1, 0.4), (-0.15, -0.5)], start=1):
            T = np.eye(4)
            T[:3, :3] = _rotation(yaw)
            T[:3, 3] = -_rotation(yaw) @ np.array([x, 0.0, 0.0])
            cam = xyz @ T[:3, :3].T + T[:3, 3]
            uv = cam[:, :2] / cam[:, 2:] * 300 + [W / 2, H / 2]  # COLMAP frame
            visible = np.flatnonzero(np.all((uv > 1) & (uv < [W - 1, H - 1]), axis=1))
            colmap_xy = np.r_[uv[visible], rng.uniform([1, 1], [W - 1, H - 1], (60, 2))]
            ids = np.r_[visible, np.full(60, -1)]
            order = rng.permutation(len(ids))
            colmap_xy, ids = colmap_xy[order], ids[order]
            name = f"images/view{image_id}.jpg"
            points = [pycolmap.Point2D(p) for p in colmap_xy]
            image = pycolmap.Image(name=name, points2D=points, camera_id=1, image_id=image_id)
            rec.add_image_with_trivial_frame(image, pycolmap.Rigid3d(T[:3]))
            for index in np.flatnonzero(ids >= 0):
                tracks.setdefault(int(ids[index]), []).append((image_id, int(index)))
            group = f.create_group(name)
            group["keypoints"] = (colmap_xy - 0.5 + shift).astype(np.float32)
            group["descriptors"] = rng.normal(size=(DIM, len(ids))).astype(np.float32)
            group["scores"] = rng.uniform(0, 1, len(ids)).astype(np.float32)
            group["image_size"] = np.array([W, H])
            group["scales"] = rng.uniform(1, 5, len(ids)).astype(np.float32)
            group["oris"] = rng.uniform(0, 6, len(ids)).astype(np.float32)
            truth[name] = ids
    model_ids = {}
    for point, track in sorted(tracks.items()):
        if len(track) < 2:
            continue
        t = pycolmap.Track()
        for image_id, index in track:
            t.add_element(image_id, index)
        model_ids[point] = rec.add_point3D(xyz[point], t)
        for image_id, index in track:
            rec.image(image_id).set_point3D_for_point2D(index, model_ids[point])
    (root / "sparse").mkdir()
    rec.write(str(root / "sparse"))
    # the 3D point id (in the model) each keypoint observes, -1 if none
    return {n: np.array([model_ids.get(int(i), -1) if i >= 0 else -1 for i in ids]) for n, ids in truth.items()}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("colmap")
    return root, write_model(root)


def _pairs(root: Path, **kwargs) -> ColmapPairs:
    return ColmapPairs(root / "sparse", root / "features.h5", **{"num_keypoints": 150, "split": "all", **kwargs})


def test_pairs_are_covisible_images_among_the_top_k(model):
    root, truth = model
    dataset = _pairs(root, min_covisible=5)
    with h5py.File(root / "features.h5") as f:
        best = {n: np.argsort(-f[n]["scores"][()], kind="stable")[:150] for n in truth}
    assert all(np.array_equal(dataset.keypoint_indices[n], best[n]) for n in truth)
    expected = []
    names = sorted(truth)
    for a, n0 in enumerate(names):
        for n1 in names[a + 1 :]:
            ids0, ids1 = truth[n0][best[n0]], truth[n1][best[n1]]
            expected.append((n0, n1, len(set(ids0[ids0 >= 0]) & set(ids1[ids1 >= 0]))))
    assert dataset.pairs == [p for p in expected if p[2] >= 5] and len(dataset) >= 2
    strict = max(p[2] for p in expected)
    assert len(_pairs(root, min_covisible=strict)) == 1
    with pytest.raises(ValueError, match="No all pair"):
        _pairs(root, min_covisible=strict + 1)
    train, val = _pairs(root, split="train", val_fraction=0.5), None
    with pytest.raises(ValueError, match="No val pair"):
        val = _pairs(root, split="val", val_fraction=0.0)
    assert val is None and len(train.pairs) + len(_pairs(root, split="val", val_fraction=0.5).pairs) == 3


def test_samples_and_ground_truth_follow_the_tracks(model):
    root, truth = model
    dataset = pickle.loads(pickle.dumps(_pairs(root, min_covisible=5, features="sift")))  # as sent to a worker
    batch = collate([dataset[i] for i in range(len(dataset))])
    b = len(dataset)
    assert batch["keypoints0"].shape == (b, 150, 2) and batch["descriptors0"].shape == (b, 150, DIM)
    assert batch["scales1"].shape == (b, 150) and batch["T_0to1"].shape == (b, 4, 4)
    assert torch.all(batch["keypoint_scores0"][:, 1:] <= batch["keypoint_scores0"][:, :-1])
    for i, (n0, n1, covisible) in enumerate(dataset.pairs):
        ids0 = truth[n0][dataset.keypoint_indices[n0]]
        ids1 = truth[n1][dataset.keypoint_indices[n1]]
        expected = (ids0[:, None] == ids1[None]) & (ids0[:, None] >= 0)
        assert expected.sum() == covisible
        assert np.array_equal(batch["gt_assignment"][i].numpy(), expected)
        m0 = batch["gt_matches0"][i].numpy()
        assert np.array_equal(np.flatnonzero(m0 >= 0), np.flatnonzero(expected.any(1)))
        assert (m0 == -1).sum() > 0  # the distractors far from every epipolar line
        # the pose: the matched keypoints satisfy the epipolar constraint of K0, K1, T_0to1
        K0, K1, T = (batch[k][i].double().numpy() for k in ("K0", "K1", "T_0to1"))
        t = T[:3, 3]
        E = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]]) @ T[:3, :3]
        F = np.linalg.inv(K1).T @ E @ np.linalg.inv(K0)
        rows, cols = np.nonzero(expected)
        x0 = np.c_[batch["keypoints0"][i].double().numpy()[rows], np.ones(len(rows))]
        x1 = np.c_[batch["keypoints1"][i].double().numpy()[cols], np.ones(len(rows))]
        lines = x0 @ F.T
        assert np.abs(np.sum(lines * x1, 1) / np.hypot(lines[:, 0], lines[:, 1])).max() < 1e-2


def test_features_file_must_belong_to_the_model(model, tmp_path):
    root, _ = model
    with pytest.raises(ValueError, match="holds sift features, not aliked"):
        _pairs(root, features="aliked")
    write_model(tmp_path / "shifted", shift=2.0)
    with pytest.raises(ValueError, match="are not the keypoints of"):
        _pairs(tmp_path / "shifted")
    with pytest.raises(FileNotFoundError):
        ColmapPairs(root / "sparse", root / "missing.h5")



def test_images_with_too_few_keypoints_are_skipped(model, caplog):
    root, truth = model
    smallest = min(len(ids) for ids in truth.values())
    dataset = _pairs(root, num_keypoints=smallest + 1, min_covisible=1)
    skipped = dict(dataset.skipped)
    assert len(skipped) >= 1 and all("fewer than" in reason for reason in skipped.values())
    assert all(n0 not in skipped and n1 not in skipped for n0, n1, _ in dataset.pairs)
    assert all(name in caplog.text for name in skipped)
