"""The harness with the real extractor and matcher, end to end on the bundled data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from lightglue.cli.evaluate import bench, eval_group
from lightglue.evaluation.baselines import nearest_neighbour_match
from lightglue.evaluation.homography import evaluate_homography, load_homography_cases, summarize_homography
from lightglue.evaluation.hpatches import read_hpatches
from lightglue.evaluation.methods import METHODS, Matches, Method

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHURCHILL = DATA / "hpatches" / "v_churchill"
SCANNET = DATA / "scannet_sample"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run the networks on one CPU thread: the suite often shares 2 cores with other jobs, and
    oversubscribed OpenMP threads make each call several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _require(path: Path) -> None:
    if not path.is_dir():
        pytest.skip(f"evaluation data not found at {path}")


def _require_weights() -> None:
    from lightglue.weights import WeightsNotFoundError, resolve_weights

    try:
        resolve_weights("aliked_lightglue")
        resolve_weights("aliked-n16")
    except WeightsNotFoundError as err:
        pytest.skip(f"ALIKED / LightGlue weights unavailable: {err}")


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown method 'orb\\+mnn'"):
        Method("orb+mnn")
    assert {"aliked+lightglue", "aliked+mnn", "aliked+ratio", "sift+ratio"} <= set(METHODS)


def test_lightglue_beats_mutual_nearest_neighbour_on_churchill():
    """Same ALIKED features (1024 per image), same protocol: LightGlue's matches are cleaner.

    The homography from ALL matches (DLT) measures the matches themselves: outliers ruin it.
    """
    _require(CHURCHILL)
    _require_weights()
    lightglue = Method("aliked+lightglue", max_keypoints=1024, cache_size=8)

    def mutual_nn(case) -> Matches:
        feats0, feats1 = lightglue.features(case.key0, case.image0), lightglue.features(case.key1, case.image1)
        matches, scores = nearest_neighbour_match(feats0["descriptors"][0], feats1["descriptors"][0])
        kpts0, kpts1 = feats0["keypoints"][0], feats1["keypoints"][0]
        return Matches(
            kpts0[matches[:, 0]].double().numpy(),
            kpts1[matches[:, 1]].double().numpy(),
            scores.numpy(),
            len(kpts0),
            len(kpts1),
        )

    cases = list(load_homography_cases(read_hpatches(CHURCHILL)))
    ours = summarize_homography(evaluate_homography(cases, lightglue))
    mnn = summarize_homography(evaluate_homography(cases, mutual_nn))
    assert ours["num_keypoints"] == mnn["num_keypoints"]
    assert ours["estimators"]["dlt"]["auc@3px"] > mnn["estimators"]["dlt"]["auc@3px"] + 0.1
    assert ours["precision"] > mnn["precision"]
    for estimator in ("opencv", "poselib"):  # both solve this easy sequence with RANSAC
        assert ours["estimators"][estimator]["auc@5px"] > 0.5, estimator


def test_cli_homography_end_to_end(tmp_path):
    _require(CHURCHILL)
    _require_weights()
    # Small images keep the test fast; the protocol's 480 px is exercised above.
    args = ["homography", str(CHURCHILL), "-m", "aliked+mnn", "--max-keypoints", "256", "--resize", "short:240"]
    result = CliRunner().invoke(eval_group, [*args, "--limit", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "| aliked+mnn | poselib |" in result.output and "| v_churchill | aliked+mnn | dlt |" in result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"]["resize"] == "short:240"
    summary = results["methods"]["aliked+mnn"]["summary"]
    assert summary["num_pairs"] == 3 and summary["num_keypoints"] <= 256
    assert summary["estimators"]["poselib"]["auc@5px"] > 0.3
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "results.md").read_text().startswith("## homography benchmark")


def test_cli_matcher_options_reach_lightglue(tmp_path):
    """--filter-threshold / --width-confidence go to the LightGlue method (recorded in the
    protocol), not to the baseline: a stricter threshold keeps a subset of the matches."""
    _require(CHURCHILL)
    _require_weights()
    args = ["homography", str(CHURCHILL), "-m", "aliked+lightglue", "-m", "aliked+ratio", "--max-keypoints", "256",
            "--resize", "short:240", "--limit", "2", "--estimator", "poselib"]
    runs = {}
    for name, options in {"default": [], "strict": ["--filter-threshold", "0.9", "--width-confidence", "-1"]}.items():
        result = CliRunner().invoke(eval_group, [*args, *options, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        runs[name] = json.loads((tmp_path / name / "results.json").read_text())
    assert "matcher_options" not in runs["default"]["protocol"]
    assert runs["strict"]["protocol"]["matcher_options"] == {"filter_threshold": 0.9, "width_confidence": -1}
    for default, strict in zip(*(r["methods"]["aliked+lightglue"]["pairs"] for r in runs.values()), strict=True):
        assert 0 < strict["num_matches"] < default["num_matches"], (default["name"], strict["num_matches"])
    baseline = [r["methods"]["aliked+ratio"]["pairs"] for r in runs.values()]
    assert [p["num_matches"] for p in baseline[0]] == [p["num_matches"] for p in baseline[1]]


def test_cli_pose_end_to_end(tmp_path):
    _require(SCANNET)
    _require_weights()
    # Every pair, at half the protocol's 640x480 to keep the test fast.
    args = ["pose", str(SCANNET), "-m", "aliked+lightglue", "--max-keypoints", "256", "--resize", "320x240"]
    result = CliRunner().invoke(eval_group, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "| aliked+lightglue | poselib |" in result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"]["resize"] == "320x240"
    summary = results["methods"]["aliked+lightglue"]["summary"]
    pairs = results["methods"]["aliked+lightglue"]["pairs"]
    assert len(pairs) == 5 and all(p["num_matches"] > 0 for p in pairs)
    assert all(0 <= auc <= 1 for e in summary["estimators"].values() for k, auc in e.items() if k.startswith("auc"))
    # Correct intrinsics (scaled with the images) put most LightGlue matches on their epipolar
    # lines; ScanNet is hard, so require sensible poses for two pairs, not a score.
    assert summary["precision"] > 0.4
    errors = [p["estimators"]["poselib"]["error"] for p in pairs]
    assert sum(e is not None and e < 10 for e in errors) >= 2, errors


def test_cli_reports_bad_input(tmp_path):
    result = CliRunner().invoke(eval_group, ["homography", str(tmp_path)])
    assert result.exit_code != 0 and "No HPatches pairs" in result.output
    result = CliRunner().invoke(eval_group, ["pose", str(tmp_path)])
    assert result.exit_code != 0 and "No pose benchmark" in result.output
    result = CliRunner().invoke(bench, ["--keypoints", "a,b"])
    assert result.exit_code != 0 and "comma-separated integers" in result.output


def test_cli_matcher_options_without_a_lightglue_method_are_an_error(tmp_path):
    _require(CHURCHILL)
    result = CliRunner().invoke(eval_group, ["homography", str(CHURCHILL), "-m", "sift+ratio", "--filter-threshold", "0.5",
                                             "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "no LightGlue method" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_cli_bench_small(tmp_path):
    _require_weights()
    args = ["--keypoints", "64,128", "--repeats", "1", "--resize", "384"]
    result = CliRunner().invoke(bench, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert {(r["pair"], r["mode"], r["num_keypoints"]) for r in rows} == {
        (p, m, n) for p in ("easy", "hard") for m in ("adaptive", "full") for n in (64, 128)
    }
    for r in rows:
        assert len(r["kept_per_layer"]) == r["layers"] and r["kept_per_layer"][0] == 100.0
        if r["mode"] == "full":
            assert r["layers"] == 9 and set(r["kept_per_layer"]) == {100.0}
    assert (tmp_path / "time_vs_keypoints.png").read_bytes()[:4] == b"\x89PNG"
