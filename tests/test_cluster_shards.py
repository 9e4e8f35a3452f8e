"""Cutting work into shards: every batch exactly once, intact, and few images per shard."""

from __future__ import annotations

import pytest

from lightglue.collection.cluster.shards import image_shards, match_shards
from lightglue.collection.match import _batches
from lightglue.collection.pairs import exhaustive_pairs


def test_match_shards_keep_the_local_batches_and_need_few_images():
    names = [f"img{i:03d}.jpg" for i in range(200)]
    batches = _batches(exhaustive_pairs(names), 4)  # 19 900 pairs in 4975 batches
    shards = match_shards(batches, max_pairs=256, block=32)
    got = sorted(b for s in shards for b in s.batches)
    assert got == sorted(tuple(b) for b in batches)  # each batch once, never split or reordered inside
    assert [s.index for s in shards] == list(range(len(shards)))
    assert all(s.num_items <= 256 for s in shards)
    assert sum(s.num_items for s in shards) == 19_900
    # Pairs in pairs-file order would need about two new images per pair (up to 1 + 256 images
    # per 256-pair shard); tiles bound a shard by about 2 x block images.
    worst = max(len(s.images()) for s in shards)
    mean = sum(len(s.images()) for s in shards) / len(shards)
    naive = max(len({n for b in batches[i : i + 64] for p in b for n in p}) for i in range(0, len(batches), 64))
    assert worst <= 2 * 32 + 2 * 4 < naive and mean < 50, (worst, mean, naive)


def test_match_shards_edge_cases():
    assert match_shards([]) == []
    one = match_shards([[("a", "b"), ("a", "c"), ("b", "c")]], max_pairs=1)
    assert len(one) == 1 and one[0].num_items == 3  # a batch is never split, even if larger than a shard
    with pytest.raises(ValueError, match="must be >= 1"):
        match_shards([[("a", "b")]], max_pairs=0)


def test_image_shards_are_consecutive_runs():
    shards = image_shards([f"{i}.jpg" for i in range(10)], size=4)
    assert [s.names for s in shards] == [("0.jpg", "1.jpg", "2.jpg", "3.jpg"), ("4.jpg", "5.jpg", "6.jpg", "7.jpg"),
                                         ("8.jpg", "9.jpg")]
    assert [s.num_items for s in shards] == [4, 4, 2]
    with pytest.raises(ValueError):
        image_shards(["a.jpg"], size=0)
