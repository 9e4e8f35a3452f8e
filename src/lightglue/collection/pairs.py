"""Which image pairs to match.

- :func:`exhaustive_pairs`: every pair, ``M (M - 1) / 2`` of them;
- :func:`sequential_pairs`: each image with the next ``window`` ones (video);
- :func:`read_pairs`: a user's pairs file (hloc format: ``name0 name1`` per line);
- :func:`retrieval_pairs` over :func:`vlad_descriptors`: each image with its ``k`` most
  similar images by a global descriptor pooled from its own local descriptors (VLAD on a
  small vocabulary learned from the collection itself), about ``M k`` pairs instead of
  ``M^2 / 2`` and no extra network.

Pairs are unordered: (a, b) and (b, a) are the same pair, kept once, in first-seen order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

Pair = tuple[str, str]


def unique_pairs(pairs: Iterable[Pair]) -> list[Pair]:
    """Drop self-pairs and repeats of an unordered pair, keeping the first orientation."""
    seen: set[frozenset[str]] = set()
    out = []
    for a, b in pairs:
        key = frozenset((a, b))
        if a != b and key not in seen:
            seen.add(key)
            out.append((a, b))
    return out


def exhaustive_pairs(names: Sequence[str]) -> list[Pair]:
    """All ``M (M - 1) / 2`` pairs ``(names[i], names[j])``, ``i < j``."""
    return unique_pairs((a, b) for i, a in enumerate(names) for b in names[i + 1 :])


def sequential_pairs(names: Sequence[str], window: int) -> list[Pair]:
    """Each image with the ``window`` images that follow it in ``names`` (video frames)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}.")
    return unique_pairs(
        (names[i], names[j]) for i in range(len(names)) for j in range(i + 1, min(i + 1 + window, len(names)))
    )


def read_pairs(path: str | os.PathLike) -> list[Pair]:
    """Read a pairs file: ``name0 name1`` per line (extra columns ignored, ``#`` comments).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line with fewer than two names (the message gives the line number).
    """
    pairs = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{path}:{lineno}: expected 'name0 name1', got {line!r}.")
        pairs.append((parts[0], parts[1]))
    return unique_pairs(pairs)


def write_pairs(pairs: Iterable[Pair], path: str | os.PathLike) -> None:
    """Write a pairs file atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.writelines(f"{a} {b}\n" for a, b in pairs)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _kmeans(x: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding. ``x`` ``[S, D]`` -> centres ``[k, D]``."""
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else None
        centres.append(x[rng.choice(len(x), p=probs)])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iters):
        assign = _nearest(x, c)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return c


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Euclidean) for each row of ``x``."""
    d2 = (centres**2).sum(1)[None] - 2.0 * x @ centres.T
    return d2.argmin(1)


def vlad_descriptors(
    descriptors: Sequence[np.ndarray],
    num_clusters: int = 16,
    max_samples: int = 50_000,
    iters: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Global image descriptors pooled from local ones (VLAD, Jegou et al. 2010).

    A vocabulary of ``num_clusters`` centres is learned by k-means on a sample of the
    collection's own descriptors; each image's descriptor is the per-centre sum of residuals
    to the nearest centre, L2-normalised per centre, power-normalised (signed square root)
    and L2-normalised overall. Deterministic for a given ``seed``.

    Args:
        descriptors: per image ``[N_i, D]`` local descriptors.
        num_clusters: vocabulary size K.
        max_samples: at most this many descriptors (evenly drawn from all images) train k-means.
        iters: k-means iterations.
        seed: random seed of the sampling and seeding.

    Returns:
        ``[M, K * D]`` float32, unit L2 norm per row (all zeros for an image without descriptors).
    """
    rng = np.random.default_rng(seed)
    per_image = max(1, max_samples // max(1, len(descriptors)))
    sample = [d[rng.permutation(len(d))[:per_image]] for d in descriptors if len(d)]
    if not sample:
        raise ValueError("No local descriptors to pool: every image has zero keypoints.")
    train = np.concatenate(sample).astype(np.float32)
    k = min(num_clusters, len(train))
    centres = _kmeans(train, k, iters, rng)
    out = np.zeros((len(descriptors), k * train.shape[1]), np.float32)
    for i, d in enumerate(descriptors):
        if len(d):
            out[i] = vlad_encode(d, centres)
    return out


def vlad_encode(descriptors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """VLAD of one image's ``[N, D]`` local descriptors (N >= 1) over ``[K, D]`` centres: ``[K * D]``, unit norm."""
    d = descriptors.astype(np.float32)
    assign = _nearest(d, centres)
    resid = np.zeros_like(centres)
    np.add.at(resid, assign, d - centres[assign])
    resid /= np.linalg.norm(resid, axis=1, keepdims=True).clip(min=1e-12)
    v = resid.reshape(-1)
    v = np.sign(v) * np.sqrt(np.abs(v))
    return v / max(float(np.linalg.norm(v)), 1e-12)


def retrieval_pairs(names: Sequence[str], global_descriptors: np.ndarray, num_neighbors: int) -> list[Pair]:
    """Each image with its ``num_neighbors`` most similar images (cosine similarity).

    Args:
        names: ``M`` image names.
        global_descriptors: ``[M, G]`` unit-norm descriptors (e.g. :func:`vlad_descriptors`).
        num_neighbors: k; clipped to ``M - 1``.

    Returns:
        At most ``M * k`` unordered pairs, each as (lower index, higher index) in ``names``.
    """
    m = len(names)
    if global_descriptors.shape[0] != m:
        raise ValueError(f"{m} names but {global_descriptors.shape[0]} descriptors.")
    from lightglue.collection.retrieval import iter_retrieval_pairs  # chunked: never an M x M matrix

    return list(iter_retrieval_pairs(names, global_descriptors, num_neighbors))
