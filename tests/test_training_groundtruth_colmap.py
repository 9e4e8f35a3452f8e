"""Ground truth from a COLMAP model: a synthetic two-view model with every case, and the
model that ``lightglue reconstruct`` builds from the Sacre Coeur photos (slow)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lightglue.collection._pycolmap import pycolmap
from lightglue.training.groundtruth import gt_from_colmap

SACRE_COEUR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"
CAMERAS = [
    pycolmap.Camera(model="SIMPLE_RADIAL", width=640, height=480, params=[500.0, 320.0, 240.0, 0.05]),
    pycolmap.Camera(model="PINHOLE", width=600, height=400, params=[450.0, 460.0, 300.0, 200.0]),
]
HALF_ANGLE = np.deg2rad(-3.0)  # camera 1 is turned 6 degrees about y and moved sideways
QUATERNIONS = [(1.0, 0.0, 0.0, 0.0), (np.cos(HALF_ANGLE), 0.0, np.sin(HALF_ANGLE), 0.0)]  # w x y z
TRANSLATIONS = [(0.0, 0.0, 0.0), (-0.6, 0.05, 0.1)]


def _pose(i: int) -> pycolmap.Rigid3d:
    w, x, y, z = QUATERNIONS[i]
    return pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([x, y, z, w])), np.array(TRANSLATIONS[i]))


def _project(i: int, world: np.ndarray) -> np.ndarray:
    """World points [K, 3] -> COLMAP pixels of image i [K, 2]."""
    return CAMERAS[i].img_from_cam(_pose(i) * world)


def _transfer(src: int, xy: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """Pixels [S, 2] in the other image of the point ``xy`` of image ``src`` at each depth [S]."""
    ray = np.append(CAMERAS[src].cam_from_img(xy[None])[0], 1.0)
    world = _pose(src).inverse() * (ray[None] * depths[:, None])
    return CAMERAS[1 - src].img_from_cam(_pose(1 - src) * world)


def _epipolar_curve(src: int, xy: np.ndarray) -> np.ndarray:
    """A brute-force epipolar "line" (depths 0.5-200): no essential matrix, follows the distortion."""
    return _transfer(src, xy, np.geomspace(0.5, 200.0, 20000))


class Scene:
    """Two views of 3D points, with expected labels per keypoint written while building."""

    def __init__(self) -> None:
        self.kp: list[list[np.ndarray]] = [[], []]
        self.point_of: list[list[int]] = [[], []]  # 3D point id per keypoint, -1 if none
        self.expected: list[list[str]] = [[], []]  # "m<point id>", "-1" or "-2"
        self.points: dict[int, np.ndarray] = {}

    def keypoint(self, i: int, xy: np.ndarray, point: int, label: str) -> None:
        self.kp[i].append(np.asarray(xy, float))
        self.point_of[i].append(point)
        self.expected[i].append(label)

    def write(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        lines = [f"{c + 1} {cam.model.name} {cam.width} {cam.height} " + _num(cam.params) for c, cam in enumerate(CAMERAS)]
        (path / "cameras.txt").write_text("\n".join(lines) + "\n")
        images, tracks = [], {pid: [] for pid in self.points}
        for i in range(2):
            pose = _num((*QUATERNIONS[i], *TRANSLATIONS[i]))
            images.append(f"{i + 1} {pose} {i + 1} view{i}.jpg")
            images.append(" ".join(f"{_num(xy)} {p}" for xy, p in zip(self.kp[i], self.point_of[i])))
            for k, p in enumerate(self.point_of[i]):
                if p >= 0:
                    tracks[p].append(f"{i + 1} {k}")
        (path / "images.txt").write_text("\n".join(images) + "\n")
        lines = [f"{p} {_num(self.points[p])} 128 128 128 0.5 " + " ".join(tracks[p]) for p in self.points]
        (path / "points3D.txt").write_text("\n".join(lines) + "\n")


def _num(values) -> str:
    return " ".join(f"{float(v):.17g}" for v in values)


def _far(xy: np.ndarray, others: list[np.ndarray], th: float) -> bool:
    return all(np.linalg.norm(np.atleast_2d(o) - xy, axis=-1).min() > th for o in others)


def build_scene(path: Path) -> Scene:
    rng = np.random.default_rng(0)
    world: list[np.ndarray] = []
    while len(world) < 36:  # scene points seen in both images, 25 px apart in both
        p = np.array([rng.uniform(-2.5, 2.5), rng.uniform(-1.5, 1.5), rng.uniform(5, 9)])
        xy = [_project(i, p[None])[0] for i in range(2)]
        inside = all(30 < xy[i][0] < CAMERAS[i].width - 30 and 30 < xy[i][1] < CAMERAS[i].height - 30 for i in range(2))
        if inside and all(_far(xy[i], [_project(i, q[None])[0] for q in world], 25) for i in range(2)):
            world.append(p)
    s = Scene()
    proj = [_project(i, np.array(world)) for i in range(2)]
    noise = lambda: rng.normal(0, 0.3, 2)  # noqa: E731
    for k in range(36):
        pid = k + 1  # COLMAP point ids start at 1
        if k < 12:  # a track in both images: a match
            s.points[pid] = world[k]
            s.keypoint(0, proj[0][k] + noise(), pid, f"m{k}")
            s.keypoint(1, proj[1][k] + noise(), pid, f"m{k}")
        elif k < 16:  # triangulated in image 0 only, an untriangulated keypoint at its projection in 1
            s.points[pid] = world[k]
            s.keypoint(0, proj[0][k] + noise(), pid, "-2")
            s.keypoint(1, proj[1][k] + noise(), -1, "-2")
        elif k < 20:  # triangulated in image 0, nothing detected in image 1
            s.points[pid] = world[k]
            s.keypoint(0, proj[0][k] + noise(), pid, "-1")
        elif k < 24:  # triangulated in image 1, nothing detected in image 0
            s.points[pid] = world[k]
            s.keypoint(1, proj[1][k] + noise(), pid, "-1")
        elif k < 28:  # untriangulated in both, at the true projections: plausible, ignored
            untriangulated = [len(s.kp[0]), len(s.kp[1])]
            s.keypoint(0, proj[0][k] + noise(), -1, "-2")
            s.keypoint(1, proj[1][k] + noise(), -1, "-2")
        elif k == 28:  # one 3D point observed by two keypoints of image 0: ambiguous
            s.points[pid] = world[k]
            s.keypoint(0, proj[0][k], pid, "-2")
            s.keypoint(0, proj[0][k] + [1.5, 0.0], pid, "-2")
            s.keypoint(1, proj[1][k], pid, "-2")
    # an untriangulated keypoint on the epipolar line of an untriangulated one, at a wrong depth
    for i in range(2):
        src = s.kp[1 - i][untriangulated[1 - i]]  # the other image's keypoint of world point 27
        s.keypoint(i, _transfer(1 - i, src, np.array([3.0]))[0], -1, "-2")
    # untriangulated keypoints far from every plausible partner: unmatchable
    for i in range(2):
        added = 0
        while added < 3:
            xy = rng.uniform([10, 10], [CAMERAS[i].width - 10, CAMERAS[i].height - 10])
            other = 1 - i
            reprojections = [_project(i, s.points[p][None])[0] for p in s.point_of[other] if p >= 0]
            curves = [_epipolar_curve(other, o) for o, p in zip(s.kp[other], s.point_of[other]) if p < 0]
            if _far(xy, reprojections + curves, 10.0) and _far(xy, s.kp[i], 10.0):
                s.keypoint(i, xy, -1, "-1")
                added += 1
    s.write(path)
    return s


def _expected(scene: Scene, i: int, order: list[list[int]] | None = None) -> np.ndarray:
    """Labels of image i's keypoints as partner indices (optionally of a subset)."""
    idx = [list(range(len(scene.kp[j]))) for j in range(2)] if order is None else order
    out = []
    for k in idx[i]:
        label = scene.expected[i][k]
        if label.startswith("m"):
            partner = [q for q in idx[1 - i] if scene.expected[1 - i][q] == label]
            out.append(idx[1 - i].index(partner[0]) if partner else None)
        else:
            out.append(int(label))
    return np.array(out, dtype=object)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("colmap_gt") / "model"
    scene = build_scene(path)
    return scene, pycolmap.Reconstruction(str(path))


def test_synthetic_model_every_case(synthetic) -> None:
    scene, rec = synthetic
    out = gt_from_colmap(rec, "view0.jpg", "view1.jpg")
    for i in range(2):
        np.testing.assert_array_equal(out[f"gt_matches{i}"].numpy(), _expected(scene, i).astype(np.int64))
        np.testing.assert_allclose(out[f"keypoints{i}"].numpy(), np.array(scene.kp[i]) - 0.5, atol=1e-4)
    m0 = out["gt_matches0"]
    assert int((m0 >= 0).sum()) == 12 and int((m0 == -1).sum()) == 7 and int((m0 == -2).sum()) == 4 + 4 + 2 + 1
    i, j = out["gt_assignment"].nonzero(as_tuple=True)
    assert (out["gt_matches0"][i] == j).all() and (out["gt_matches1"][j] == i).all() and len(i) == 12
    err = (out["gt_proj_0to1"][i] - out["keypoints1"][j]).norm(dim=-1)
    assert err.max() < 2.0  # reprojections of the matched 3D points land on the partners
    assert torch.isnan(out["gt_proj_0to1"][out["gt_point3D_ids0"] < 0]).all()
    # by image id and in the other order: the transposed labels
    swapped = gt_from_colmap(rec, 2, 1)
    assert torch.equal(swapped["gt_matches0"], out["gt_matches1"]) and torch.equal(swapped["gt_assignment"], out["gt_assignment"].T)


def test_synthetic_model_subset_of_keypoints(synthetic) -> None:
    scene, rec = synthetic
    n0, n1 = len(scene.kp[0]), len(scene.kp[1])
    order = [list(range(n0 - 1, -1, -1)), [k for k in range(n1) if k != 0]]  # reversed; first image-1 point dropped
    out = gt_from_colmap(rec, "view0.jpg", "view1.jpg", torch.tensor(order[0]), np.array(order[1]))
    expected0 = _expected(scene, 0, order)
    dropped = order[0].index(0)  # the partner of image-0 keypoint 0 is gone: nothing near its reprojection
    assert expected0[dropped] is None
    expected0[dropped] = -1
    np.testing.assert_array_equal(out["gt_matches0"].numpy(), expected0.astype(np.int64))
    np.testing.assert_array_equal(out["gt_matches1"].numpy(), _expected(scene, 1, order).astype(np.int64))


def test_colmap_bad_input(synthetic) -> None:
    _, rec = synthetic
    with pytest.raises(ValueError, match="no image named 'nope.jpg'"):
        gt_from_colmap(rec, "nope.jpg", "view1.jpg")
    with pytest.raises(ValueError, match="same image"):
        gt_from_colmap(rec, 1, "view0.jpg")
    with pytest.raises(ValueError, match=r"indices1: indices must be in \[0, "):
        gt_from_colmap(rec, 1, 2, None, np.array([0, 999]))


@pytest.mark.slow
@pytest.mark.skipif(not SACRE_COEUR.is_dir(), reason=f"real data not found at {SACRE_COEUR}")
def test_real_reconstruction_tracks(tmp_path) -> None:
    from lightglue.cli import main

    args = ["reconstruct", str(SACRE_COEUR), "--out", str(tmp_path), "--max-keypoints", "1024", "--resize", "1024", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    check_real_model(tmp_path)


def check_real_model(out_dir: Path) -> None:
    """GT of the best-connected pairs of a ``lightglue reconstruct`` output folder against its tracks."""
    rec = pycolmap.Reconstruction(str(out_dir / "sparse"))
    images = {im.image_id: im for im in rec.images.values()}
    ids = sorted(images)
    with h5py.File(out_dir / "features.h5", "r") as f:
        keypoints = {images[k].name: f[images[k].name]["keypoints"][()] for k in ids}
    # co-observations from the track table (independent of the per-image point3D_id links);
    # COLMAP tracks may hold several keypoints of one image: those are ambiguous, not matches
    shared: dict[tuple[int, int], set[tuple[int, int]]] = {}
    ambiguous: dict[int, set[int]] = {k: set() for k in ids}
    for point in rec.points3D.values():
        seen = [(el.image_id, el.point2D_idx) for el in point.track.elements]
        per_image = Counter(image for image, _ in seen)
        ambiguous_here = {(image, k) for image, k in seen if per_image[image] > 1}
        for image, k in ambiguous_here:
            ambiguous[image].add(k)
        for a, ka in seen:
            for b, kb in seen:
                if a < b and (a, ka) not in ambiguous_here and (b, kb) not in ambiguous_here:
                    shared.setdefault((a, b), set()).add((ka, kb))
    pairs = sorted(shared, key=lambda p: -len(shared[p]))[:6]
    for a, b in pairs:
        out = gt_from_colmap(rec, a, b)
        np.testing.assert_allclose(out["keypoints0"].numpy(), keypoints[images[a].name], atol=1e-3)
        i, j = out["gt_assignment"].nonzero(as_tuple=True)
        assert set(zip(i.tolist(), j.tolist())) == shared[(a, b)]
        for side, image in ((0, a), (1, b)):  # observed, but not one-to-one: ignored
            assert (out[f"gt_matches{side}"][sorted(ambiguous[image])] == -2).all()
        assert len(i) > 50
        err = (out["gt_proj_0to1"][i] - out["keypoints1"][j]).norm(dim=-1)
        assert float(err.median()) < 2.0
        m0 = out["gt_matches0"]
        assert int((m0 == -1).sum()) > 100  # many points of one view are not seen by the other
        # -1, brute force: a triangulated point reprojects > 5 px from every keypoint of the
        # other image; an untriangulated one is > 5 px from every reprojection into its image
        # (a NaN reprojection: behind the camera)
        negative, tri0, tri1 = m0 == -1, out["gt_point3D_ids0"] >= 0, out["gt_point3D_ids1"] >= 0
        in_front0 = torch.isfinite(out["gt_proj_0to1"]).all(-1)
        in_front1 = torch.isfinite(out["gt_proj_1to0"]).all(-1)
        assert bool((negative & tri0).any()) and bool((negative & ~tri0).any())
        assert float(torch.cdist(out["gt_proj_0to1"][negative & tri0 & in_front0], out["keypoints1"]).min()) > 5.0
        assert float(torch.cdist(out["keypoints0"][negative & ~tri0], out["gt_proj_1to0"][tri1 & in_front1]).min()) > 5.0
        # the RANSAC-verified matches of the pair (from the database) agree with the labels
        with pycolmap.Database.open(out_dir / "database.db") as db:
            db_ids = {im.name: im.image_id for im in db.read_all_images()}
            inliers = np.asarray(db.read_two_view_geometry(db_ids[images[a].name], db_ids[images[b].name]).inlier_matches)
        i, j = torch.from_numpy(inliers[:, 0].astype(np.int64)), torch.from_numpy(inliers[:, 1].astype(np.int64))
        # a verified match the mapper did not triangulate (or that joined an ambiguous track) is
        # ignored (-2) on a side: up to 30 % of a pair's here; the others must be its label
        decided = (out["gt_matches0"][i] != -2) & (out["gt_matches1"][j] != -2)
        assert float(decided.float().mean()) > 0.5
        assert float((out["gt_matches0"][i][decided] == j[decided]).float().mean()) > 0.95
        assert float(((out["gt_matches0"][i] == -1) | (out["gt_matches1"][j] == -1)).float().mean()) < 0.1
