"""Which image pairs to match.

- :func:`exhaustive_pairs`: every pair, ``M (M - 1) / 2`` of them;
- :func:`sequential_pairs`: each image with the next ``window`` ones (video);
- :func:`read_pairs` / :func:`write_pairs`: pairs files (hloc format: ``name0 name1`` per
  line; names that format cannot hold are percent-encoded under a header line, see
  :func:`write_pairs`);
- :func:`retrieval_pairs` over :func:`vlad_descriptors`: each image with its ``k`` most
  similar images by a global descriptor pooled from its own local descriptors (VLAD on a
  small vocabulary learned from the collection itself), about ``M k`` pairs instead of
  ``M^2 / 2`` and no extra network.

Pairs are unordered: (a, b) and (b, a) are the same pair, kept once, in first-seen order.
"""

from __future__ import annotations

import os
import re
import urllib.parse
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


QUOTED_HEADER = "# lightglue pairs: names percent-encoded"
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _is_plain(name: str) -> bool:
    """Whether hloc's whitespace-separated format holds ``name`` as it is."""
    return bool(name) and not name.startswith("#") and all(c.isprintable() and not c.isspace() for c in name)


def quote_pair_name(name: str) -> str:
    """``name`` with ``%``, ``#``, whitespace and unprintable characters percent-encoded (UTF-8).

    Raises:
        ValueError: an empty name, or one that is not valid Unicode (e.g. a file name with
            undecodable bytes).
    """
    if not name:
        raise ValueError("An empty image name cannot be written to a pairs file.")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"Image name {name!r} cannot be written to a pairs file: it is not valid UTF-8.") from err
    return "".join(
        "".join(f"%{b:02X}" for b in c.encode("utf-8"))
        if c in "%#" or c.isspace() or not c.isprintable()
        else c
        for c in name
    )


def _unquote(token: str, where: str) -> str:
    if _PERCENT.search(token):
        raise ValueError(f"{where}: {token!r} has a '%' that is not followed by two hex digits.")
    try:
        return urllib.parse.unquote(token, errors="strict")
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: {token!r} does not decode to UTF-8.") from err


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_pairs(path: str | os.PathLike) -> list[Pair]:
    """Read a pairs file written by :func:`write_pairs`, hloc or a user.

    One pair per line, ``name0 name1`` separated by whitespace; empty lines and lines
    starting with ``#`` are skipped. Further columns are allowed if they are numbers (e.g.
    the rotations and intrinsics of SuperGlue's pairs files). When the first line is
    :data:`QUOTED_HEADER`, every name is percent-encoded (``%20`` a space, ``%23`` a ``#``,
    ``%25`` a ``%``, UTF-8 bytes).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line with fewer than two names, a third column that is not a number
            (an unquoted name with a space), or a bad percent-encoding; the message gives
            the line number.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    quoted = bool(lines) and lines[0].strip() == QUOTED_HEADER
    pairs = []
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = f"{path}:{lineno}"
        if len(parts) < 2:
            raise ValueError(f"{where}: expected 'name0 name1', got {line!r}.")
        if not all(_is_number(extra) for extra in parts[2:]):
            raise ValueError(
                f"{where}: expected 'name0 name1' (then only numbers), got {line!r}. Names with spaces "
                f"must be percent-encoded (%20) in a file that starts with the line {QUOTED_HEADER!r}."
            )
        a, b = parts[:2]
        pairs.append((_unquote(a, where), _unquote(b, where)) if quoted else (a, b))
    return unique_pairs(pairs)


def write_pairs(pairs: Iterable[Pair], path: str | os.PathLike) -> None:
    """Write a pairs file atomically (temporary file + rename), readable by :func:`read_pairs`.

    When every name fits hloc's format (no whitespace or unprintable character, not starting
    with ``#``), the file is plain hloc format, ``name0 name1`` per line. Otherwise its
    first line is :data:`QUOTED_HEADER` and every name is percent-encoded
    (:func:`quote_pair_name`), so any name round-trips (hloc cannot read such a file).
    ``pairs`` is streamed (any iterable, e.g. a generator of millions of pairs): lines are
    written as they come, and the lines already written are rewritten, encoded, from the
    temporary file when the first name that needs encoding arrives.

    Raises:
        ValueError: a name that cannot be written (empty, or not valid Unicode).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    plain_tmp = path.with_name(f".{path.name}.{os.getpid()}.plain.tmp")
    quoted = False
    fh = open(tmp, "w", encoding="utf-8")
    try:
        for a, b in pairs:
            if not quoted and not (_is_plain(a) and _is_plain(b)):
                fh.close()
                os.replace(tmp, plain_tmp)
                fh = open(tmp, "w", encoding="utf-8")
                fh.write(QUOTED_HEADER + "\n")
                with open(plain_tmp, encoding="utf-8") as written:  # plain names: no whitespace inside
                    fh.writelines(" ".join(map(quote_pair_name, line.split())) + "\n" for line in written)
                plain_tmp.unlink()
                quoted = True
            fh.write(f"{quote_pair_name(a)} {quote_pair_name(b)}\n" if quoted else f"{a} {b}\n")
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, path)
    except BaseException:
        fh.close()
        tmp.unlink(missing_ok=True)
        plain_tmp.unlink(missing_ok=True)
        raise


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
