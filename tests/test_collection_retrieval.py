"""Retrieval pairs in bounded memory: exact top-K by blocks, streamed pairs, streaming VLAD."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from lightglue.collection.features_h5 import ImageFeatures, feature_record
from lightglue.collection.h5store import H5Store
from lightglue.collection.pairs import read_pairs, vlad_descriptors
from lightglue.collection.retrieval import iter_retrieval_pairs, top_k_neighbors, vlad_from_features


def _brute_force_pairs(x: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The definition: a stable sort of each whole similarity row (float64), unordered unique pairs."""
    sim = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(sim, -np.inf)
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return sorted({(min(i, int(j)), max(i, int(j))) for i in range(len(x)) for j in top[i]})


@pytest.mark.parametrize("block_bytes", [4 * 97, 4 * 97 * 7, 64 << 20])  # one row, 7 rows, all rows per block
def test_top_k_by_blocks_is_the_brute_force_top_k_with_ties_to_the_lower_index(block_bytes):
    rng = np.random.default_rng(0)
    # Small integers: every dot product is exact in float32, so ties are real ties in any order.
    x = rng.integers(-2, 3, size=(97, 4)).astype(np.float32)
    x[10:20] = x[3]  # duplicates: many rows tie exactly at the k-th place
    names = [f"img{i:03d}.jpg" for i in range(97)]
    for k in (1, 5, 12):
        expected = _brute_force_pairs(x, k)
        got = list(iter_retrieval_pairs(names, x, k, block_bytes=block_bytes))
        assert got == [(names[i], names[j]) for i, j in expected]
    # Real-valued unit descriptors (no ties): also the same neighbours, in similarity order.
    y = rng.normal(size=(97, 16)).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    sim = y.astype(np.float64) @ y.T.astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    np.testing.assert_array_equal(top_k_neighbors(y, 6, block_bytes), np.argsort(-sim, axis=1)[:, :6])
    with pytest.raises(ValueError, match="k must be"):
        top_k_neighbors(y, 97)


def test_vlad_from_features_reads_one_image_at_a_time_and_gives_the_same_descriptors(tmp_path):
    rng = np.random.default_rng(3)
    store = H5Store(tmp_path / "features.h5")
    names = [f"im{i}.jpg" for i in range(9)]
    descs = [rng.normal(size=(n, 32)).astype(np.float32) for n in (40, 0, 7, 55, 1, 30, 30, 12, 64)]
    store.append(
        feature_record(
            name,
            ImageFeatures(rng.uniform(0, 99, (len(d), 2)), d, np.ones(len(d)), np.array([100, 100])),
        )
        for name, d in zip(names, descs)
    )
    store.consolidate()
    with h5py.File(tmp_path / "features.h5", "r") as f:
        got = vlad_from_features(f, names, num_clusters=4, max_samples=100)
    np.testing.assert_array_equal(got, vlad_descriptors(descs, num_clusters=4, max_samples=100))
    assert not got[1].any() and np.allclose(np.linalg.norm(got[[0, 2, 3]], axis=1), 1)


# Runs in a fresh interpreter so that ru_maxrss is this job's peak alone. Synthetic global
# descriptors: M / 50 "places", each image a noisy view of one, so true neighbours exist.
_SCALE_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np
    from lightglue.collection.pairs import write_pairs
    from lightglue.collection.retrieval import iter_retrieval_pairs

    m, g, k, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = np.random.default_rng(0)
    place = rng.integers(0, m // 50, m)
    x = rng.normal(size=(m // 50, g)).astype(np.float32)[place]
    x += 0.5 * rng.normal(size=x.shape).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    names = [f"city/{i:06d}.jpg" for i in range(m)]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    write_pairs(iter_retrieval_pairs(names, x, k, block_bytes=32 << 20), out)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = rng.choice(m, 20, replace=False)
    sim = x[rows] @ x.T
    sim[np.arange(20), rows] = -np.inf
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    json.dump({"seconds": seconds, "base_mb": base / 1024, "peak_mb": peak / 1024, "rows": rows.tolist(),
               "top": top.tolist(), "same_place": float((place[top] == place[rows, None]).mean())}, sys.stdout)
    """
)


def _check_scale(tmp_path, m: int, g: int, k: int, max_mb: float, max_seconds: float) -> None:
    out = tmp_path / "pairs.txt"
    proc = subprocess.run([sys.executable, "-c", _SCALE_SCRIPT, str(m), str(g), str(k), str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    print(f"M={m} G={g} k={k}: {r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB "
          f"(before the pairs: {r['base_mb']:.0f} MB)")
    pairs = read_pairs(out)
    assert m * k / 2 <= len(pairs) <= m * k
    index = {f"city/{i:06d}.jpg": i for i in range(m)}
    got = {(index[a], index[b]) for a, b in pairs}
    assert all(a < b for a, b in got)
    for row, top in zip(r["rows"], r["top"]):  # spot checks against brute force
        assert all((min(row, j), max(row, j)) in got for j in top)
    assert r["same_place"] > 0.9  # the neighbours found are views of the same place
    # Bound: the interpreter + torch + descriptors (before) plus one 32 MB block of
    # similarities, its comparison mask and the M k pair codes; never an M x M matrix
    # (M = 100 000: 40 GB).
    assert r["peak_mb"] - r["base_mb"] < max_mb, r
    assert r["seconds"] < max_seconds, r


def test_retrieval_for_10_000_images_in_bounded_memory_and_time(tmp_path):
    _check_scale(tmp_path, 10_000, 32, 10, max_mb=100, max_seconds=60)


@pytest.mark.slow
def test_retrieval_for_100_000_images_in_bounded_memory_and_time(tmp_path):
    _check_scale(tmp_path, 100_000, 32, 10, max_mb=150, max_seconds=300)
