"""Pair strategies: exhaustive, sequential, file, retrieval by pooled local descriptors."""

from __future__ import annotations

import numpy as np
import pytest

from lightglue.collection.pairs import (
    exhaustive_pairs,
    read_pairs,
    retrieval_pairs,
    sequential_pairs,
    unique_pairs,
    vlad_descriptors,
    write_pairs,
)
from lightglue.collection.presets import PRESETS, get_preset


def test_exhaustive_and_sequential():
    names = [f"{i:02d}.jpg" for i in range(10)]
    pairs = exhaustive_pairs(names)
    assert len(pairs) == 45 and len({frozenset(p) for p in pairs}) == 45
    seq = sequential_pairs(names, window=2)
    assert seq[:3] == [("00.jpg", "01.jpg"), ("00.jpg", "02.jpg"), ("01.jpg", "02.jpg")]
    assert len(seq) == 9 + 8
    with pytest.raises(ValueError):
        sequential_pairs(names, 0)


def test_pairs_file_roundtrip_dedupes_and_reports_bad_lines(tmp_path):
    assert unique_pairs([("a", "b"), ("b", "a"), ("a", "a"), ("a", "c")]) == [("a", "b"), ("a", "c")]
    path = tmp_path / "pairs.txt"
    write_pairs([("a", "b"), ("c", "d")], path)
    assert path.read_text() == "a b\nc d\n"
    path.write_text("# comment\na b 0 90 1.5e2\n\nb a\nc d\n")  # numeric columns (SuperGlue's) are allowed
    assert read_pairs(path) == [("a", "b"), ("c", "d")]
    path.write_text("a b\nlonely\n")
    with pytest.raises(ValueError, match=":2:"):
        read_pairs(path)


def _two_scenes(rng: np.random.Generator, per_scene: int = 4) -> list[np.ndarray]:
    """Local descriptors of images from two scenes: each scene has its own vocabulary."""
    scenes = [rng.normal(size=(30, 16)) for _ in range(2)]
    images = []
    for scene in scenes:
        for _ in range(per_scene):
            words = scene[rng.integers(0, 30, 200)]
            d = words + 0.05 * rng.normal(size=words.shape)
            images.append(d / np.linalg.norm(d, axis=1, keepdims=True))
    return images


def test_retrieval_pairs_stay_within_each_scene():
    rng = np.random.default_rng(0)
    descs = _two_scenes(rng)
    names = [f"s{i // 4}_{i % 4}" for i in range(8)]
    g = vlad_descriptors(descs, num_clusters=8)
    assert g.shape == (8, 8 * 16)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, rtol=1e-5)
    pairs = retrieval_pairs(names, g, num_neighbors=3)
    assert len(pairs) <= 8 * 3 < len(exhaustive_pairs(names))
    assert all(a[:2] == b[:2] for a, b in pairs)  # never across scenes
    assert len(pairs) == 12  # 3 neighbours in a scene of 4 = all 6 pairs of each scene
    np.testing.assert_array_equal(vlad_descriptors(descs, num_clusters=8), g)  # deterministic


def test_retrieval_edge_cases():
    assert retrieval_pairs(["a"], np.ones((1, 4)), 5) == []
    with pytest.raises(ValueError, match="zero keypoints"):
        vlad_descriptors([np.zeros((0, 8))])
    with pytest.raises(ValueError):
        retrieval_pairs(["a", "b"], np.ones((3, 4)), 1)


def test_presets_and_overrides():
    assert set(PRESETS) >= {"aliked+lightglue", "disk+lightglue", "sift+lightglue", "superpoint+lightglue"}
    p = get_preset("aliked+lightglue", max_keypoints=512, resize=None, matcher_conf={"depth_confidence": -1})
    assert p.extractor_conf["max_num_keypoints"] == 512 and p.resize is None
    assert p.matcher_conf == {"depth_confidence": -1}
    assert get_preset("disk+lightglue").resize == 1024
    assert p.extractor_fingerprint() != get_preset("aliked+lightglue").extractor_fingerprint()
    with pytest.raises(ValueError, match="Unknown preset"):
        get_preset("orb+bf")
    with pytest.raises(ValueError):
        get_preset("aliked+lightglue", max_keypoints=0)


def test_write_pairs_streams_and_encodes_the_lines_before_the_first_odd_name(tmp_path):
    from lightglue.collection.pairs import QUOTED_HEADER

    def stream():  # a generator (as retrieval's pairs): write_pairs cannot look ahead
        yield from [("100%.jpg", "a.jpg"), ("a.jpg", "b.jpg"), ("my photo.jpg", "a.jpg"), ("b.jpg", "c.jpg")]

    path = tmp_path / "pairs.txt"
    write_pairs(stream(), path)
    assert path.read_text(encoding="utf-8").splitlines() == [
        QUOTED_HEADER, "100%25.jpg a.jpg", "a.jpg b.jpg", "my%20photo.jpg a.jpg", "b.jpg c.jpg"
    ]
    assert read_pairs(path) == list(stream())
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.txt"]  # no temporary file left
