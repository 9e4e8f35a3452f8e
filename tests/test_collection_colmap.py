"""COLMAP database, incremental mapping and rendering, on a synthetic scene (no network)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import h5py
import numpy as np
import pytest

from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.colmap_db import build_database
from lightglue.collection.features_h5 import ImageFeatures, feature_record
from lightglue.collection.h5store import H5Store
from lightglue.collection.matches_h5 import match_record
from lightglue.collection.pairs import exhaustive_pairs
from lightglue.collection.reconstruct import incremental_mapping
from lightglue.collection.render import render_reconstruction


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """features.h5 + matches.h5 of a synthetic 6-image scene, written by our stores.

    pycolmap synthesizes the scene (keypoints = exact projections of 3D points, plus
    distractors); its keypoints are converted to our convention (-0.5 px).
    """
    root = tmp_path_factory.mktemp("synthetic")
    opts = pycolmap.SyntheticDatasetOptions(num_rigs=1, num_cameras_per_rig=1, num_frames_per_rig=6, num_points3D=200)
    with pycolmap.Database.open(root / "synth.db") as src:
        pycolmap.synthesize_dataset(opts, src)
        images = {im.image_id: im for im in src.read_all_images()}
        width, height = opts.camera_width, opts.camera_height
        feats = H5Store(root / "features.h5")
        rng = np.random.default_rng(0)
        feats.append(
            feature_record(
                im.name,
                ImageFeatures(
                    keypoints=src.read_keypoints(i)[:, :2] - 0.5,
                    descriptors=rng.normal(size=(src.num_keypoints_for_image(i), 4)),
                    scores=np.ones(src.num_keypoints_for_image(i)),
                    image_size=np.array([width, height]),
                ),
            )
            for i, im in images.items()
        )
        feats.consolidate()
        records = []
        pair_ids, all_matches = src.read_all_matches()
        for pair_id, m in zip(pair_ids, all_matches, strict=True):
            a, b = pycolmap.pair_id_to_image_pair(pair_id)
            matches0 = -np.ones(src.num_keypoints_for_image(a), np.int64)
            matches0[m[:, 0]] = m[:, 1]
            records.append(match_record(images[a].name, images[b].name, matches0, (matches0 >= 0) * 0.9))
    store = H5Store(root / "matches.h5")
    store.append(records)
    store.consolidate()
    names = sorted(im.name for im in images.values())
    return root, names


def test_database_holds_every_matched_pair_and_verifies_them(synthetic):
    root, names = synthetic
    pairs = exhaustive_pairs(names)
    summary = build_database(root / "database.db", root / "features.h5", root / "matches.h5", pairs)
    assert summary.num_images == 6 and summary.num_matched_pairs == 15
    assert summary.num_verified_pairs == 15
    with pycolmap.Database.open(root / "database.db") as db, h5py.File(root / "features.h5", "r") as ff:
        assert db.num_images() == 6 and db.num_cameras() == 6
        ids = {im.name: im.image_id for im in db.read_all_images()}
        assert db.num_matched_image_pairs() == 15
        for a, b in pairs:
            assert db.exists_matches(ids[a], ids[b])
            assert db.exists_two_view_geometry(ids[a], ids[b])
        # keypoints are shifted to COLMAP's pixel convention
        np.testing.assert_allclose(db.read_keypoints(ids[names[0]])[:, :2], ff[names[0]]["keypoints"][()] + 0.5)
        camera = db.read_camera(db.read_image(ids[names[0]]).camera_id)
        assert camera.model.name == "SIMPLE_RADIAL" and camera.params[0] == pytest.approx(1.2 * 1024)


def test_single_camera_mode_and_missing_pairs(synthetic):
    root, names = synthetic
    pairs = [(names[0], names[1]), (names[0], "not-an-image.jpg")]
    summary = build_database(root / "single.db", root / "features.h5", root / "matches.h5", pairs, "single")
    assert summary.num_matched_pairs == 1
    with pycolmap.Database.open(root / "single.db") as db:
        assert db.num_cameras() == 1
    with pytest.raises(ValueError, match="camera_mode"):
        build_database(root / "x.db", root / "features.h5", root / "matches.h5", pairs, "per-folder")


def test_mapping_exports_model_ply_and_picture(synthetic):
    root, names = synthetic
    build_database(root / "database.db", root / "features.h5", root / "matches.h5", exhaustive_pairs(names))
    rec, summary = incremental_mapping(root / "database.db", root, root / "out")
    assert summary.num_images == 6 and summary.num_registered == 6 and not summary.unregistered
    assert summary.num_points3D > 100
    assert summary.mean_reprojection_error < 0.5
    assert summary.mean_track_length > 2
    assert pycolmap.Reconstruction(root / "out" / "sparse").num_reg_images() == 6
    assert (root / "out" / "points.ply").read_bytes().startswith(b"ply")
    png = render_reconstruction(rec, root / "out" / "reconstruction.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (root / "out").iterdir() if p.name.startswith(".")]


def _two_view_geometries(db_path) -> dict:
    with pycolmap.Database.open(db_path) as db:
        ids = {im.image_id: im.name for im in db.read_all_images()}
        out = {}
        for a in ids:
            for b in ids:
                if a < b and db.exists_two_view_geometry(a, b):
                    g = db.read_two_view_geometry(a, b)
                    out[ids[a], ids[b]] = (int(g.config), g.inlier_matches.tobytes(),
                                           *(None if m is None else m.tobytes() for m in (g.F, g.E, g.H)))
        return out


def test_rebuilt_database_and_single_threaded_mapping_repeat_exactly(synthetic):
    """Each ``lightglue reconstruct`` rebuilds the database, then maps it: with the seeded
    verification and ``num_threads=1`` (``--mapper-threads 1``), two runs give one model."""
    root, names = synthetic
    geometries, models = [], []
    for run in ("a", "b"):
        db_path = root / "repeat" / run / "database.db"
        build_database(db_path, root / "features.h5", root / "matches.h5", exhaustive_pairs(names))
        geometries.append(_two_view_geometries(db_path))
        rec, summary = incremental_mapping(db_path, root, root / "repeat" / run, num_threads=1)
        assert rec is not None and summary.num_registered >= 3
        images = {im.name: im for im in rec.images.values() if im.has_pose}
        models.append((
            sorted(images),
            rec.num_points3D(),
            {n: im.cam_from_world().matrix() for n, im in images.items()},
            sorted(p.xyz.tolist() for p in rec.points3D.values()),
        ))
    assert len(geometries[0]) == 15 and geometries[0] == geometries[1]
    (names_a, points_a, poses_a, xyz_a), (names_b, points_b, poses_b, xyz_b) = models
    assert names_a == names_b
    assert points_a == points_b
    for name in names_a:
        np.testing.assert_array_equal(poses_a[name], poses_b[name])
    assert xyz_a == xyz_b


def test_rebuilt_database_is_not_corrupted_by_the_journal_of_a_killed_process(synthetic):
    """A process killed while it had the database open in WAL mode (as COLMAP opens it)
    leaves ``-wal`` / ``-shm``; the next build must not let SQLite replay that old log."""
    root, names = synthetic
    db_path = root / "wal" / "database.db"
    pairs = exhaustive_pairs(names)
    build_database(db_path, root / "features.h5", root / "matches.h5", pairs)
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom lightglue.collection._pycolmap import pycolmap\n"
         "db = pycolmap.Database.open(sys.argv[1])\n"
         "db.clear_two_view_geometries()\ndb.clear_matches()\n"
         "for _ in range(20):\n"
         "    db.write_camera(pycolmap.Camera(model='SIMPLE_RADIAL', width=9, height=9, params=[9, 4, 4, 0]))\n"
         "print('written', flush=True)\ntime.sleep(300)\n", str(db_path)],
        stdout=subprocess.PIPE, text=True,
    )
    assert writer.stdout.readline().strip() == "written"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    assert os.path.getsize(f"{db_path}-wal") > 0  # the killed process's log is left behind

    summary = build_database(db_path, root / "features.h5", root / "matches.h5", pairs)
    assert summary.num_matched_pairs == 15
    with sqlite3.connect(db_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("SELECT COUNT(*) FROM cameras").fetchone() == (6,)
        assert con.execute("SELECT COUNT(*) FROM matches").fetchone() == (15,)
        assert con.execute("SELECT COUNT(*) FROM two_view_geometries").fetchone()[0] == summary.num_verified_pairs
    con.close()
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["database.db"]
