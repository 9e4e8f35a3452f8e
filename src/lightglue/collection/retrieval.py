"""Retrieval pairs for large collections in bounded memory: chunked top-K, streamed out.

For ``M`` images with ``[M, G]`` global descriptors, the ``k`` most similar images of each
image are found a block of rows at a time: ``[C, M]`` similarities (``C`` rows chosen so
the block stays under ``block_bytes``) and a ``torch.topk`` per row (ten times faster than
numpy's ``argpartition``), exact ties broken by the lower index (as a stable sort of the
whole row would). Memory is ``O(M G + C M + M k)``
and never ``M x M``; time is ``M^2 G`` multiply-adds in BLAS. The ``M k`` neighbour pairs are
made unordered and unique as an ``int64`` code array (``i * M + j``, ``i < j``), sorted, and
turned into name pairs lazily, so they can be streamed to ``pairs.txt``
(:func:`~lightglue.collection.pairs.write_pairs` takes any iterable).

:func:`vlad_from_features` computes the VLAD global descriptors of
:func:`~lightglue.collection.pairs.vlad_descriptors` (same numbers) while reading one image
of ``features.h5`` at a time, instead of holding every local descriptor in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import h5py
import numpy as np
import torch

from lightglue.collection.features_h5 import read_features
from lightglue.collection.pairs import Pair, _kmeans, vlad_encode


def top_k_neighbors(descriptors: np.ndarray, k: int, block_bytes: int = 64 << 20) -> np.ndarray:
    """The ``k`` most similar other rows of each row, by dot product (cosine for unit rows).

    Args:
        descriptors: ``[M, G]`` float32.
        k: neighbours per row, ``1 <= k <= M - 1``.
        block_bytes: size of one block of similarities (``C x M`` float32).

    Returns:
        ``[M, k]`` int64 row indices, most similar first; ties go to the lower index.
    """
    m = len(descriptors)
    if not 1 <= k <= m - 1:
        raise ValueError(f"k must be in [1, {m - 1}] for {m} descriptors, got {k}.")
    x = torch.from_numpy(np.ascontiguousarray(descriptors, dtype=np.float32))
    rows = max(1, min(m, block_bytes // (4 * m)))
    out = np.empty((m, k), np.int64)
    buffer = torch.empty((rows, m))  # reused: no fresh block allocation per step
    with torch.inference_mode():
        for start in range(0, m, rows):
            stop = min(m, start + rows)
            sim = torch.mm(x[start:stop], x.T, out=buffer[: stop - start])  # [C, M]
            sim[torch.arange(stop - start), torch.arange(start, stop)] = -torch.inf  # never oneself
            vals, idx = torch.topk(sim, min(k + 1, m), dim=1)
            vals, idx = vals.numpy(), idx.numpy()
            # topk orders equal values arbitrarily: sort by (similarity down, index up); where the
            # (k+1)-th value equals the k-th, choose among every value that reaches it.
            order = np.lexsort((idx[:, :k], -vals[:, :k]), axis=1)
            out[start:stop] = np.take_along_axis(idx[:, :k], order, 1)
            ties = vals[:, k] == vals[:, k - 1] if vals.shape[1] > k else np.zeros(stop - start, bool)
            for r in np.flatnonzero(ties):
                row = sim[r].numpy()
                cand = np.flatnonzero(row >= vals[r, k - 1])
                out[start + r] = cand[np.lexsort((cand, -row[cand]))[:k]]
    return out


def pair_codes(neighbors: np.ndarray) -> np.ndarray:
    """Unordered unique pairs of a ``[M, k]`` neighbour table as sorted codes ``i * M + j``, ``i < j``."""
    m = len(neighbors)
    i = np.repeat(np.arange(m, dtype=np.int64), neighbors.shape[1])
    j = neighbors.reshape(-1).astype(np.int64)
    return np.unique(np.minimum(i, j) * m + np.maximum(i, j))


def iter_pairs(names: Sequence[str], codes: np.ndarray) -> Iterator[Pair]:
    """Name pairs of :func:`pair_codes`, made one at a time (in code order)."""
    m = len(names)
    for start in range(0, len(codes), 1 << 16):  # a chunk of Python ints at a time
        for code in codes[start : start + (1 << 16)].tolist():
            yield names[code // m], names[code % m]


def iter_retrieval_pairs(
    names: Sequence[str], global_descriptors: np.ndarray, num_neighbors: int, block_bytes: int = 64 << 20
) -> Iterator[Pair]:
    """Each image with its ``num_neighbors`` most similar images, as unordered unique pairs.

    The pairs of :func:`lightglue.collection.pairs.retrieval_pairs` (same order: by lower,
    then higher index in ``names``), produced lazily in ``O(M G + C M + M k)`` memory.

    Args:
        names: ``M`` image names.
        global_descriptors: ``[M, G]`` unit-norm descriptors.
        num_neighbors: k; clipped to ``M - 1``.
        block_bytes: see :func:`top_k_neighbors`.
    """
    m = len(names)
    if global_descriptors.shape[0] != m:
        raise ValueError(f"{m} names but {global_descriptors.shape[0]} descriptors.")
    k = min(num_neighbors, m - 1)
    if k < 1:
        return iter(())
    return iter_pairs(names, pair_codes(top_k_neighbors(global_descriptors, k, block_bytes)))


def vlad_from_features(
    f: h5py.File,
    names: Sequence[str],
    num_clusters: int = 16,
    max_samples: int = 50_000,
    iters: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """:func:`~lightglue.collection.pairs.vlad_descriptors` of the images ``names`` of an open
    ``features.h5``, reading one image at a time (two passes: sampling, then encoding).

    Returns:
        ``[M, K * D]`` float32, unit L2 norm per row (zeros for an image without keypoints).
    """
    rng = np.random.default_rng(seed)
    per_image = max(1, max_samples // max(1, len(names)))
    sample = []
    for name in names:
        d = read_features(f, name).descriptors
        if len(d):
            sample.append(d[rng.permutation(len(d))[:per_image]])
    if not sample:
        raise ValueError("No local descriptors to pool: every image has zero keypoints.")
    train = np.concatenate(sample).astype(np.float32)
    del sample
    centres = _kmeans(train, min(num_clusters, len(train)), iters, rng)
    out = np.zeros((len(names), centres.size), np.float32)
    for i, name in enumerate(names):
        d = read_features(f, name).descriptors
        if len(d):
            out[i] = vlad_encode(d, centres)
    return out
