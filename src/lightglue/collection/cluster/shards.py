"""Cutting collection work into shards: units a worker does in one call.

Extraction shards are runs of consecutive images. Match shards are groups of the *local
path's own batches* (:func:`lightglue.collection.match.match_collection` cuts the pairs into
fixed batches in pairs-file order; the padding of a batch changes the numbers in the last
bits), so every pair is matched in exactly the batch, hence with exactly the numbers, of a
single-machine run, whatever the sharding. Batches are grouped by the *tile* of their first
pair: with images numbered in order of first appearance, the pair (i, j) lies in tile
(i // block, j // block); a shard takes consecutive batches of one tile, so it needs about
2 x block distinct images (plus a few where a batch crosses into the next tile) for up to
block^2 pairs, instead of up to two new images per pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lightglue.collection.pairs import Pair


@dataclass(frozen=True)
class MatchShard:
    """Batches matched by one worker call.

    Attributes:
        index: position in the plan (for logs and statistics).
        batches: the local path's batches, each a list of pairs, in their original order.
    """

    index: int
    batches: tuple[tuple[Pair, ...], ...]

    @property
    def num_items(self) -> int:
        return sum(len(b) for b in self.batches)

    def images(self) -> list[str]:
        """Distinct images the shard needs, in order of first use."""
        return list(dict.fromkeys(n for b in self.batches for p in b for n in p))


def match_shards(batches: Sequence[Sequence[Pair]], max_pairs: int = 256, block: int = 32) -> list[MatchShard]:
    """Group match batches into shards of at most ``max_pairs`` pairs (at least one batch).

    Args:
        batches: the batches still to match, each a non-empty list of pairs.
        max_pairs: pairs per shard (a batch is never split).
        block: images per tile side; a shard needs about ``2 * block`` distinct images.
    """
    if max_pairs < 1 or block < 1:
        raise ValueError(f"max_pairs and block must be >= 1, got {max_pairs} and {block}.")
    order: dict[str, int] = {}
    for batch in batches:
        for a, b in batch:
            order.setdefault(a, len(order))
            order.setdefault(b, len(order))

    def tile(batch: Sequence[Pair]) -> tuple[int, int]:
        i, j = sorted((order[batch[0][0]], order[batch[0][1]]))
        return i // block, j // block

    ranked = sorted(range(len(batches)), key=lambda k: (tile(batches[k]), k))
    shards: list[MatchShard] = []
    current: list[tuple[Pair, ...]] = []
    size = 0
    current_tile = None
    for k in ranked:
        batch = tuple(tuple(p) for p in batches[k])
        if current and (size + len(batch) > max_pairs or tile(batch) != current_tile):
            shards.append(MatchShard(len(shards), tuple(current)))
            current, size = [], 0
        current.append(batch)
        current_tile = tile(batch)
        size += len(batch)
    if current:
        shards.append(MatchShard(len(shards), tuple(current)))
    return shards


@dataclass(frozen=True)
class ImageShard:
    """Images extracted by one worker call (names relative to the image folder)."""

    index: int
    names: tuple[str, ...]

    @property
    def num_items(self) -> int:
        return len(self.names)


def image_shards(names: Sequence[str], size: int = 8) -> list[ImageShard]:
    """Consecutive runs of ``size`` images."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}.")
    return [ImageShard(k, tuple(names[i : i + size])) for k, i in enumerate(range(0, len(names), size))]
