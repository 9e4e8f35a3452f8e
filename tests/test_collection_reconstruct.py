"""``lightglue reconstruct`` on 10 real photos of the Sacre Coeur (different cameras, no EXIF)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from lightglue.cli import main
from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.pairs import read_pairs

DATA = Path(__file__).parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sacre_coeur")
    args = ["reconstruct", str(DATA), "--out", str(out), "--max-keypoints", "1024", "--resize", "1024", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out, result, args


def test_all_images_registered_with_low_reprojection_error(run):
    out, result, _ = run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_images"] == 10
    assert summary["num_registered"] == 10, summary["unregistered"]
    assert summary["mean_reprojection_error"] < 1.5
    assert summary["num_points3D"] > 500 and summary["mean_track_length"] > 2.5
    assert set(summary["stage_seconds"]) >= {"extract", "pairs", "match", "database", "mapping"}
    assert "registered images : 10 / 10" in result.stdout
    rec = pycolmap.Reconstruction(out / "sparse")
    assert rec.num_reg_images() == 10
    assert (out / "points.ply").read_bytes().startswith(b"ply")
    assert (out / "reconstruction.png").read_bytes()[:4] == b"\x89PNG"


def test_h5_files_read_back_with_plain_h5py_in_hlocs_layout(run):
    out, _, _ = run
    names = sorted(p.name for p in DATA.iterdir())
    with h5py.File(out / "features.h5", "r") as f:
        assert sorted(f) == names
        for name in names:
            g = f[name]
            n = g["keypoints"].shape[0]
            assert 0 < n <= 1024 and g["keypoints"].shape == (n, 2)
            assert g["descriptors"].shape == (128, n)  # [D, N] as hloc
            assert g["scores"].shape == (n,)
            w, h = g["image_size"][()]
            assert (g["keypoints"][()] >= -0.5).all() and (g["keypoints"][()] <= [w - 0.5, h - 0.5]).all()
    pairs = read_pairs(out / "pairs.txt")
    assert len(pairs) == 45
    with h5py.File(out / "matches.h5", "r") as f, h5py.File(out / "features.h5", "r") as ff:
        for a, b in pairs:
            m0 = f[a][b]["matches0"][()]
            s0 = f[a][b]["matching_scores0"][()]
            assert m0.shape == s0.shape == (ff[a]["keypoints"].shape[0],)
            valid = m0 >= 0
            assert (m0[valid] < ff[b]["keypoints"].shape[0]).all()
            assert len(np.unique(m0[valid])) == valid.sum()  # one-to-one
            assert (s0[valid] > 0.1).all()


def test_database_opens_with_pycolmap_and_holds_every_matched_pair(run):
    out, _, _ = run
    with h5py.File(out / "matches.h5", "r") as f:
        matched = {(a, b): int((f[a][b]["matches0"][()] >= 0).sum()) for a in f for b in f[a]}
    with pycolmap.Database.open(out / "database.db") as db:
        ids = {im.name: im.image_id for im in db.read_all_images()}
        assert len(ids) == 10
        for (a, b), count in matched.items():
            if count:
                assert len(db.read_matches(ids[a], ids[b])) == count
        assert db.num_matched_image_pairs() == sum(1 for c in matched.values() if c)
        assert db.num_verified_image_pairs() >= 0.8 * db.num_matched_image_pairs()


def test_rerun_resumes_without_recomputing(run):
    out, _, args = run
    before = {p: (out / p).stat().st_mtime_ns for p in ("features.h5", "matches.h5")}
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert {p: (out / p).stat().st_mtime_ns for p in before} == before
    assert "registered images : 10 / 10" in result.stdout
