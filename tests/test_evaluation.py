"""The evaluation harness: metrics, readers, baselines, and oracle matchers on real data.

Real data comes from ``../shared/data`` (next to the repository); tests that need it are
skipped with the reason when it is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lightglue.evaluation.baselines import nearest_neighbour_match
from lightglue.evaluation.benchmarks import results_markdown, write_results
from lightglue.evaluation.homography import (
    HomographyCase,
    evaluate_homography,
    load_homography_cases,
    summarize_homography,
)
from lightglue.evaluation.hpatches import read_hpatches
from lightglue.evaluation.methods import Matches
from lightglue.evaluation.metrics import cumulative_recall, error_auc
from lightglue.evaluation.pose import PoseCase, evaluate_pose, load_pose_cases, summarize_pose
from lightglue.evaluation.posedata import (
    MEGADEPTH_RESIZE,
    SCANNET_RESIZE,
    read_pairs_file,
    read_pose_dataset,
    read_scene_info,
)
from lightglue.evaluation.preprocess import Resize
from lightglue.geometry import warp_points

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHURCHILL = DATA / "hpatches" / "v_churchill"
SCANNET = DATA / "scannet_sample"
needs_churchill = pytest.mark.skipif(not CHURCHILL.is_dir(), reason=f"HPatches sequence not found at {CHURCHILL}")
needs_scannet = pytest.mark.skipif(not SCANNET.is_dir(), reason=f"ScanNet sample not found at {SCANNET}")


# ---------------------------------------------------------------- oracle matchers
def _inside(points: np.ndarray, image: torch.Tensor) -> np.ndarray:
    h, w = image.shape[-2:]
    return (points[:, 0] >= 0) & (points[:, 0] <= w - 1) & (points[:, 1] >= 0) & (points[:, 1] <= h - 1)


def _random_points(image: torch.Tensor, num: int, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[-2:]
    return rng.uniform((0, 0), (w - 1, h - 1), (num, 2))


def perfect_homography_matcher(case: HomographyCase) -> Matches:
    """Matches from the ground truth: image-0 points and their exact warps inside image 1."""
    kpts0 = _random_points(case.image0, 500, np.random.default_rng(0))
    kpts1 = warp_points(case.H_0to1, kpts0)
    keep = _inside(kpts1, case.image1)
    return Matches(kpts0[keep], kpts1[keep], np.ones(keep.sum()), 500, 500)


def perfect_pose_matcher(case: PoseCase) -> Matches:
    """Matches from the ground truth: points at random depths seen by both cameras."""
    rng = np.random.default_rng(0)
    kpts0 = _random_points(case.image0, 5000, rng)
    rays = np.c_[kpts0, np.ones(5000)] @ np.linalg.inv(case.K0).T
    X1 = (rays * rng.uniform(0.5, 8, (5000, 1))) @ case.T_0to1[:3, :3].T + case.T_0to1[:3, 3]
    proj = X1 @ case.K1.T
    kpts1 = proj[:, :2] / proj[:, 2:]
    keep = (X1[:, 2] > 0) & _inside(kpts1, case.image1)
    return Matches(kpts0[keep][:500], kpts1[keep][:500], np.ones(min(500, keep.sum())), 500, 500)


def random_matcher(case: HomographyCase | PoseCase) -> Matches:
    """Random points in each image, paired at random."""
    rng = np.random.default_rng(len(case.name))
    return Matches(_random_points(case.image0, 100, rng), _random_points(case.image1, 100, rng), np.ones(100), 100, 100)


@pytest.fixture(scope="module")
def churchill_cases() -> list[HomographyCase]:
    if not CHURCHILL.is_dir():
        pytest.skip(f"HPatches sequence not found at {CHURCHILL}")
    return list(load_homography_cases(read_hpatches(CHURCHILL)))


@pytest.fixture(scope="module")
def scannet_cases() -> list[PoseCase]:
    if not SCANNET.is_dir():
        pytest.skip(f"ScanNet sample not found at {SCANNET}")
    pairs, resize = read_pose_dataset(SCANNET)
    return list(load_pose_cases(pairs, resize))


# ---------------------------------------------------------------- metrics
def test_auc_hand_computed():
    # Sorted errors 1, 2, 3: curve (0, 0) (1, 1/3) (2, 2/3) (3, 1).
    # t=2: area of (0,0)-(1,1/3) then flat 1/3 to t=2 (the error equal to t is not below it):
    #      1/6 + 1/3 = 1/2 -> 0.25.   t=5: 1/6 + 1/2 + 5/6 + 2 * 1 = 3.5 -> 0.7.
    assert error_auc([3.0, 1.0, 2.0], [2.0, 5.0]) == pytest.approx([0.25, 0.7])
    # t=1.5: 1/6 + 0.5 * 1/3 = 1/3 -> 2/9. Failures (inf, NaN) only lower the recall.
    assert error_auc([1.0, 2.0, 3.0], [1.5]) == pytest.approx([2 / 9])
    assert error_auc([0.5, np.inf], [1.0]) == pytest.approx([0.5 * 0.5 * 0.5 + 0.5 * 0.5])
    assert error_auc([np.nan, np.inf], [1.0, 10.0]) == [0.0, 0.0]
    assert error_auc([], [5.0]) == [0.0]
    assert error_auc([0.0, 0.0], [3.0]) == pytest.approx([1.0])
    with pytest.raises(ValueError, match="positive"):
        error_auc([1.0], [0.0])


def test_cumulative_recall():
    np.testing.assert_allclose(
        cumulative_recall([1.0, 2.0, np.inf, np.nan], [0.5, 1.0, 2.5, 1e9]), [0.0, 0.25, 0.5, 0.5]
    )


# ---------------------------------------------------------------- baselines
def test_nearest_neighbour_baselines():
    desc1 = torch.nn.functional.normalize(torch.randn(50, 16, generator=torch.Generator().manual_seed(0)), dim=1)
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))[:40]
    desc0 = desc1[perm] + 0.01 * torch.randn(40, 16, generator=torch.Generator().manual_seed(2))
    matches, scores = nearest_neighbour_match(desc0, desc1)
    assert matches.shape == (40, 2) and torch.equal(perm, matches[:, 1])
    assert torch.all((scores > 0) & (scores <= 1))
    # Two identical descriptors in image 1: ambiguous, so the ratio test drops that match.
    desc1_dup = torch.cat([desc1, desc1[perm[:1]]])
    kept, _ = nearest_neighbour_match(desc0, desc1_dup, ratio=0.8)
    assert len(kept) == 39 and 0 not in kept[:, 0]
    # Mutual check: two queries with the same nearest neighbour keep at most one match.
    one, _ = nearest_neighbour_match(torch.stack([desc1[0], desc1[0] * 1.01]), desc1)
    assert one.tolist() == [[0, 0]]
    empty, _ = nearest_neighbour_match(desc0[:0], desc1)
    assert empty.shape == (0, 2)


# ---------------------------------------------------------------- readers
@needs_churchill
def test_read_hpatches_sequence_and_resize():
    pairs = read_hpatches(CHURCHILL)
    assert [p.name for p in pairs] == [f"v_churchill/1-{k}" for k in range(2, 7)]
    assert read_hpatches(CHURCHILL.parent)[0].name == "v_churchill/1-2"
    case = next(load_homography_cases(pairs[:1]))
    assert min(case.image0.shape[-2:]) == 480 and case.size0 == (480, 640)
    # The adjusted homography maps resized pixels like the original maps original ones.
    p = np.array([[100.0, 200.0]])
    np.testing.assert_allclose(
        warp_points(case.H_0to1, p * 480 / 768), warp_points(pairs[0].H_0to1, p) * 0.625, rtol=1e-9
    )
    with pytest.raises(FileNotFoundError, match="No HPatches"):
        read_hpatches(SCANNET)


@needs_scannet
def test_read_scannet_pairs_and_scaled_intrinsics():
    pairs, resize = read_pose_dataset(SCANNET)
    assert len(pairs) == 5 and resize == SCANNET_RESIZE
    case = next(load_pose_cases(pairs[:1], resize))
    assert tuple(case.image0.shape) == (3, 480, 640)
    np.testing.assert_allclose(case.K0[0], pairs[0].K0[0] * 640 / 1296)
    np.testing.assert_allclose(case.K0[1], pairs[0].K0[1] * 480 / 968)


@needs_scannet
def test_pairs_file_variants(tmp_path):
    line = (SCANNET / "pairs_with_gt.txt").read_text().splitlines()[0].split()
    # glue-factory's MegaDepth-1500 file: no rotation fields, long side resized to 1600.
    (tmp_path / "pairs_calibrated.txt").write_text(" ".join(line[:2] + line[4:]) + "\n# comment\n")
    pairs, resize = read_pose_dataset(tmp_path, SCANNET)
    assert len(pairs) == 1 and pairs[0].rot0 == 0 and resize == MEGADEPTH_RESIZE
    np.testing.assert_array_equal(pairs[0].T_0to1, read_pairs_file(SCANNET / "pairs_with_gt.txt")[0].T_0to1)
    # A quarter-turned image: the pose stays consistent (perfect matches still give AUC 1).
    (tmp_path / "rot.txt").write_text(" ".join(line[:2] + ["1", "3"] + line[4:]) + "\n")
    rotated = read_pairs_file(tmp_path / "rot.txt", SCANNET)
    case = next(load_pose_cases(rotated, Resize(640)))
    assert tuple(case.image0.shape) == (3, 640, 478)
    records = evaluate_pose([case], perfect_pose_matcher)
    assert records[0]["estimators"]["poselib"]["error"] < 0.1
    (tmp_path / "bad.txt").write_text("a b 1 2 3\n")
    with pytest.raises(ValueError, match="36 or 38 fields"):
        read_pairs_file(tmp_path / "bad.txt", SCANNET)


@needs_scannet
def test_megadepth_scene_info(tmp_path):
    scannet = read_pairs_file(SCANNET / "pairs_with_gt.txt")[0]
    scene = tmp_path / "Undistorted_SfM" / "0015" / "images"
    scene.mkdir(parents=True)
    for path in (scannet.path0, scannet.path1):
        shutil.copy(path, scene / path.name)
    world_to_cam1 = scannet.T_0to1  # camera 0 is the world frame
    pair_infos = np.empty(1, dtype=object)
    pair_infos[0] = ((0, 1), 0.4, np.zeros((0, 2)))
    np.savez(
        tmp_path / "0015_0.1_0.3.npz",
        image_paths=np.array(
            [f"Undistorted_SfM/0015/images/{p.name}" for p in (scannet.path0, scannet.path1)], dtype=object
        ),
        intrinsics=np.stack([scannet.K0, scannet.K1]),
        poses=np.stack([np.eye(4), world_to_cam1]),
        pair_infos=pair_infos,
    )
    direct = read_scene_info(tmp_path / "0015_0.1_0.3.npz", tmp_path)
    pairs, resize = read_pose_dataset(tmp_path)
    assert resize.size == 1600 and len(pairs) == len(direct) == 1
    np.testing.assert_allclose(pairs[0].T_0to1, scannet.T_0to1, atol=1e-12)
    np.testing.assert_allclose(pairs[0].K1, scannet.K1)


# ---------------------------------------------------------------- oracles on real data
def test_homography_oracles_on_churchill(churchill_cases):
    cases = churchill_cases
    perfect = summarize_homography(evaluate_homography(cases, perfect_homography_matcher))
    for estimator, numbers in perfect["estimators"].items():
        assert numbers["auc@1px"] == pytest.approx(1.0, abs=1e-3), estimator
        assert numbers["auc@5px"] == pytest.approx(1.0, abs=1e-3), estimator
    assert perfect["precision"] == 1.0 and perfect["per_sequence"]["v_churchill"]["num_pairs"] == 5
    rand = summarize_homography(evaluate_homography(cases, random_matcher))
    for estimator, numbers in rand["estimators"].items():
        assert numbers["auc@5px"] < 0.05, estimator
    assert rand["precision"] < 0.05


def test_pose_oracles_on_scannet_sample(scannet_cases):
    cases = scannet_cases
    perfect = summarize_pose(evaluate_pose(cases, perfect_pose_matcher))
    for estimator, numbers in perfect["estimators"].items():
        assert numbers["auc@5deg"] == pytest.approx(1.0, abs=1e-3), estimator
    assert perfect["precision"] == 1.0
    rand = summarize_pose(evaluate_pose(cases, random_matcher))
    for estimator, numbers in rand["estimators"].items():
        assert numbers["auc@20deg"] < 0.1, estimator


def test_outputs_written(tmp_path, churchill_cases):
    cases = churchill_cases[:2]
    results = {
        "benchmark": "homography",
        "root": str(CHURCHILL),
        "protocol": {"estimators": ["opencv", "dlt"]},
        "methods": {},
    }
    for name, matcher in (("perfect", perfect_homography_matcher), ("random", random_matcher)):
        records = evaluate_homography(cases, matcher, ["opencv", "dlt"])
        results["methods"][name] = {"summary": summarize_homography(records), "pairs": records}
    json_path, md_path, png_path = write_results(results, tmp_path)
    loaded = json.loads(json_path.read_text())
    assert loaded["methods"]["perfect"]["summary"]["estimators"]["dlt"]["auc@3px"] == pytest.approx(1.0, abs=1e-3)
    markdown = md_path.read_text()
    assert markdown == results_markdown(results)
    assert "| perfect | opencv | 100.0 | 100.0 | 100.0 |" in markdown and "| v_churchill | random | dlt |" in markdown
    assert png_path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("text", ["bogus", "top:480", "640x", "x480"])
def test_bad_resize_is_a_clear_error(text):
    from lightglue.evaluation.preprocess import Resize

    with pytest.raises(ValueError, match="Cannot read the resize"):
        Resize.parse(text)
    assert str(Resize.parse("short:480")) == "short:480" and Resize.parse("640x480").size == (480, 640)
