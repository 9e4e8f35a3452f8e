"""A batch sampler whose order depends only on (seed, epoch) and that resumes mid-epoch.

The global order of an epoch is a permutation of ``range(n)`` drawn from (seed, epoch); it is
cut into global batches of ``batch_size`` (an incomplete last batch is dropped, so every rank
runs the same number of steps) and rank ``r`` of ``world_size`` takes the ``r``-th contiguous
slice of ``batch_size / world_size`` indices of each global batch. Concatenating the slices of
all ranks therefore gives exactly the batches of a single process with the same ``batch_size``.

The position is what the trainer has *consumed*, not what a ``DataLoader`` has prefetched:
iterating does not move it; the trainer calls :meth:`ResumableSampler.advance` after each
training step and saves :meth:`ResumableSampler.state_dict` in its checkpoint::

    sampler = ResumableSampler(len(dataset), batch_size=64, seed=0, world_size=W, rank=r)
    sampler.load_state_dict(checkpoint["sampler"])        # when resuming
    while sampler.epoch < epochs:
        for batch in DataLoader(dataset, batch_sampler=sampler, collate_fn=collate):
            step(batch)
            sampler.advance()                               # rolls over to the next epoch at its end
            checkpoint["sampler"] = sampler.state_dict()

Each ``iter(sampler)`` yields the batches left in the current epoch, from the current position.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

_STATE_KEYS = ("n", "batch_size", "seed", "world_size", "epoch", "batch")


class ResumableSampler(torch.utils.data.Sampler[list[int]]):
    """Batch sampler (``DataLoader(batch_sampler=...)``) yielding this rank's index lists.

    Args:
        n: the dataset length.
        batch_size: the GLOBAL batch size (summed over ranks); a multiple of ``world_size``.
        seed: the seed of the order.
        world_size: the number of data-parallel processes.
        rank: this process, in ``[0, world_size)``.
    """

    def __init__(self, n: int, batch_size: int, seed: int, world_size: int = 1, rank: int = 0) -> None:
        if n < 0 or batch_size < 1 or world_size < 1:
            raise ValueError(f"Need n >= 0, batch_size >= 1, world_size >= 1; got {n}, {batch_size}, {world_size}.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}.")
        if batch_size % world_size:
            raise ValueError(f"The global batch_size {batch_size} must be a multiple of world_size {world_size}.")
        if n < batch_size:
            raise ValueError(f"The dataset has {n} sample(s), fewer than one batch of {batch_size}.")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.world_size, self.rank = int(world_size), int(rank)
        self.epoch = 0
        self.batch = 0

    @property
    def local_batch_size(self) -> int:
        """Indices per batch on this rank: ``batch_size / world_size``."""
        return self.batch_size // self.world_size

    def __len__(self) -> int:
        """Batches per epoch (the incomplete last global batch is dropped)."""
        return self.n // self.batch_size

    def permutation(self, epoch: int) -> np.ndarray:
        """The global order ``[n]`` (int64) of ``epoch``, a function of (seed, epoch) only."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch``, in order: ``len(self)`` lists of ``local_batch_size`` indices."""
        order = self.permutation(epoch)[: len(self) * self.batch_size].reshape(len(self), self.batch_size)
        local = order[:, self.rank * self.local_batch_size : (self.rank + 1) * self.local_batch_size]
        return local.tolist()

    def __iter__(self) -> Iterator[list[int]]:
        """The batches of the current epoch from the current position (the position does not move)."""
        yield from self.epoch_batches(self.epoch)[self.batch :]

    def advance(self, num_batches: int = 1) -> None:
        """Mark ``num_batches`` batches as consumed, rolling over to the next epoch at the end of one."""
        if num_batches < 0:
            raise ValueError(f"num_batches must be >= 0, got {num_batches}.")
        total = self.batch + num_batches
        self.epoch += total // len(self)
        self.batch = total % len(self)

    def set_epoch(self, epoch: int) -> None:
        """Jump to the start of ``epoch``."""
        self.epoch, self.batch = int(epoch), 0

    def state_dict(self) -> dict[str, int]:
        """The position (``epoch``, ``batch`` consumed in it) and the settings that define the order."""
        return {key: getattr(self, key) for key in _STATE_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; the order must be the same (n, batch_size, seed; world_size may differ).

        Raises:
            ValueError: a key is missing, or ``n``, ``batch_size`` or ``seed`` differ (another order).
        """
        missing = sorted(set(_STATE_KEYS) - set(state))
        if missing:
            raise ValueError(f"The sampler state lacks {missing}.")
        for key in ("n", "batch_size", "seed"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(
                    f"Cannot resume: the saved sampler has {key}={state[key]}, this one {getattr(self, key)}; "
                    "the data order would differ."
                )
        self.set_epoch(int(state["epoch"]))
        self.advance(int(state["batch"]))
