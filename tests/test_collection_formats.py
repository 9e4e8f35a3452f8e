"""hloc-compatible features.h5 / matches.h5 and the kill-safe HDF5 store."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lightglue.collection.features_h5 import ImageFeatures, feature_record, read_features
from lightglue.collection.h5store import H5Store, MetadataMismatchError, Record
from lightglue.collection.matches_h5 import find_pair, match_record, names_to_pair, read_matches


def _features(n: int, d: int = 8, seed: int = 0) -> ImageFeatures:
    rng = np.random.default_rng(seed)
    return ImageFeatures(
        keypoints=rng.uniform(0, 100, (n, 2)).astype(np.float32),
        descriptors=rng.normal(size=(n, d)).astype(np.float32),
        scores=rng.uniform(size=n).astype(np.float32),
        image_size=np.array([120, 80]),
    )


def test_features_hloc_layout_read_with_plain_h5py(tmp_path):
    store = H5Store(tmp_path / "features.h5")
    feats = _features(5)
    store.append([feature_record("sub/a.jpg", feats, uncertainty=2.0), feature_record("b.jpg", _features(3))])
    store.consolidate()
    with h5py.File(tmp_path / "features.h5", "r") as f:
        g = f["sub/a.jpg"]
        assert set(g) == {"keypoints", "descriptors", "scores", "image_size"}
        assert g["keypoints"].shape == (5, 2)
        assert g["descriptors"].shape == (8, 5)  # hloc stores descriptors transposed [D, N]
        np.testing.assert_array_equal(g["descriptors"][()], feats.descriptors.T)
        assert g["scores"].shape == (5,)
        np.testing.assert_array_equal(g["image_size"][()], [120, 80])  # (W, H)
        assert g["keypoints"].attrs["uncertainty"] == 2.0
        back = read_features(f, "sub/a.jpg")
    np.testing.assert_array_equal(back.descriptors, feats.descriptors)
    np.testing.assert_array_equal(back.keypoints, feats.keypoints)


def test_sift_like_features_keep_scales_and_oris(tmp_path):
    feats = ImageFeatures(**{**_features(4).__dict__, "scales": np.ones(4), "oris": np.zeros(4)})
    store = H5Store(tmp_path / "f.h5")
    store.append([feature_record("a", feats)])
    store.consolidate()
    with h5py.File(tmp_path / "f.h5", "r") as f:
        back = read_features(f, "a")
    np.testing.assert_array_equal(back.scales, np.ones(4, np.float32))
    np.testing.assert_array_equal(back.oris, np.zeros(4, np.float32))


def test_matches_hloc_pair_naming_and_reverse_lookup(tmp_path):
    assert names_to_pair("dir/a.jpg", "b.jpg") == "dir-a.jpg/b.jpg"
    matches0 = np.array([2, -1, 0, -1])
    scores0 = np.array([0.9, 0.0, 0.5, 0.0])
    store = H5Store(tmp_path / "matches.h5")
    store.append([match_record("dir/a.jpg", "b.jpg", matches0, scores0)])
    store.consolidate()
    with h5py.File(tmp_path / "matches.h5", "r") as f:
        grp = f["dir-a.jpg"]["b.jpg"]  # group name0 / subgroup name1, as hloc
        np.testing.assert_array_equal(grp["matches0"][()], matches0)
        assert np.issubdtype(grp["matches0"].dtype, np.integer)
        np.testing.assert_allclose(grp["matching_scores0"][()], scores0)
        m, s = read_matches(f, "dir/a.jpg", "b.jpg")
        np.testing.assert_array_equal(m, [[0, 2], [2, 0]])
        np.testing.assert_allclose(s, [0.9, 0.5])
        m_rev, _ = read_matches(f, "b.jpg", "dir/a.jpg")
        np.testing.assert_array_equal(m_rev, [[2, 0], [0, 2]])
        with pytest.raises(KeyError, match="not in"):
            read_matches(f, "a.jpg", "c.jpg")


def _rec(key: str, value: float) -> Record:
    return Record(key, {"x": np.full(3, value)})


def test_store_appends_are_parts_until_consolidated(tmp_path):
    store = H5Store(tmp_path / "s.h5")
    store.append([_rec("a", 1)])
    store.append([_rec("b", 2), _rec("c/d", 3)])
    assert not (tmp_path / "s.h5").exists()
    assert len(list(store.parts_dir.glob("*.h5"))) == 2
    assert store.keys() == {"a", "b", "c/d"}
    store.consolidate()
    assert not store.parts_dir.exists()
    store.append([_rec("e", 4)])
    assert H5Store(tmp_path / "s.h5").keys() == {"a", "b", "c/d", "e"}
    store.consolidate()
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["c/d/x"][0] == 3 and f["e/x"][0] == 4


def test_store_survives_leftovers_of_a_killed_run(tmp_path):
    store = H5Store(tmp_path / "s.h5")
    store.append([_rec("a", 1)])
    store.consolidate()
    # A killed run can leave: a half-written temporary part, a half-written temporary main
    # file, and a part already merged into the main file (killed before deleting it), or one
    # holding a newer copy of an item (stored again: a replaced image, a repaired record).
    store.append([_rec("a", 99), _rec("b", 2)])
    (store.parts_dir / ".00000009.h5.123.abcd.tmp").write_bytes(b"\x89HDF garbage")
    (tmp_path / ".s.h5.123.abcd.tmp").write_bytes(b"garbage")
    assert store.keys() == {"a", "b"}
    store.consolidate()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["a/x"][0] == 99  # the newest copy wins
        assert f["b/x"][0] == 2


def test_store_refuses_a_file_made_with_another_configuration(tmp_path):
    H5Store(tmp_path / "s.h5", {"conf": "one"}).append([_rec("a", 1)])
    H5Store(tmp_path / "s.h5", {"conf": "one"})
    with pytest.raises(MetadataMismatchError, match="conf"):
        H5Store(tmp_path / "s.h5", {"conf": "two"})


def test_pairs_stored_under_old_hloc_keys_are_found_and_image_groups_are_not(tmp_path):
    with h5py.File(tmp_path / "matches.h5", "w") as f:
        f.create_dataset("a.jpg_b.jpg/matches0", data=np.array([1, -1], np.int16))  # old hloc key
        f.create_dataset("a.jpg_b.jpg/matching_scores0", data=np.array([0.5, 0.0], np.float16))
        f.create_dataset("x_y.jpg/z.jpg/matches0", data=np.array([0]))  # an image named x_y.jpg
    with h5py.File(tmp_path / "matches.h5", "r") as f:
        assert find_pair(f, "b.jpg", "a.jpg") == ("a.jpg_b.jpg", True)
        m, s = read_matches(f, "a.jpg", "b.jpg")
        np.testing.assert_array_equal(m, [[0, 1]])
        np.testing.assert_allclose(s, [0.5])
        assert find_pair(f, "x", "y.jpg") is None  # "x_y.jpg" is an image's group, not this pair
