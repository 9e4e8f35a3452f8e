"""The Ray backend on an in-process Ray instance (2 CPUs): same files as the local path,
resume, unreadable images, a worker killed mid-run. Multi-node runs: test_cluster_multinode.py."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from lightglue.collection.cluster.actors import MatchWorker  # noqa: E402
from lightglue.collection.cluster.connect import ClusterOptions  # noqa: E402
from lightglue.collection.cluster.driver import ClusterExtractor, ClusterMatcher, _FeatureRefs  # noqa: E402
from lightglue.collection.cluster.scheduler import ShardScheduler  # noqa: E402
from lightglue.collection.cluster.shards import match_shards  # noqa: E402
from lightglue.collection.extract import extract_collection  # noqa: E402
from lightglue.collection.features_h5 import ImageFeatures, feature_record  # noqa: E402
from lightglue.collection.fingerprint import HASH_ATTR  # noqa: E402
from lightglue.collection.h5store import H5Store  # noqa: E402
from lightglue.collection.match import _batches, match_collection  # noqa: E402
from lightglue.collection.matches_h5 import PAIR_KEYS_ATTR  # noqa: E402
from lightglue.collection.pairs import exhaustive_pairs  # noqa: E402
from lightglue.collection.presets import get_preset  # noqa: E402

PRESET = get_preset("aliked+lightglue", max_keypoints=128, resize=320)


@pytest.fixture()
def one_thread():
    """Local reference runs with one torch thread, as each actor (1 CPU) runs: CPU kernels may
    round differently with another thread count (ALIKED descriptors by up to 1e-6)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _features(path: Path, num_images: int = 6, names: list[str] | None = None) -> list[str]:
    """Noisy views of one random point set, with different keypoint counts (padding in batches),
    each stamped with a (made-up) image content hash as extraction stamps it."""
    rng = np.random.default_rng(0)
    base, desc = rng.uniform(0, 600, (128, 2)), rng.normal(size=(128, 128))
    names = names or [f"view{i}.jpg" for i in range(num_images)]
    records = []
    for i, name in enumerate(names):
        n = 80 + 6 * i
        d = desc[:n] + 0.3 * rng.normal(size=(n, 128))
        records.append(feature_record(name, ImageFeatures(
            keypoints=(base[:n] + [3.0 * i, 2.0 * i] + rng.normal(size=(n, 2))).astype(np.float32),
            descriptors=(d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32),
            scores=rng.uniform(size=n).astype(np.float32), image_size=np.array([640, 480]))))
        records[-1] = dataclasses.replace(records[-1], group_attrs={HASH_ATTR: f"{i:064x}"})
    store = H5Store(path)
    store.append(records)
    store.consolidate()
    return names


def _contents(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file and every attribute (of the file, groups and datasets), by path."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/attrs"] = np.array(sorted((k, str(v)) for k, v in f.attrs.items()))

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                for k, v in obj.attrs.items():
                    out[f"{name}@{k}"] = np.asarray(v)
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
                for k, v in obj.attrs.items():
                    out[f"{name}@{k}"] = np.asarray(v)

        f.visititems(visit)
    return out


def _assert_same_file(a: Path, b: Path) -> None:
    ca, cb = _contents(a), _contents(b)
    assert ca.keys() == cb.keys()
    for key in ca:
        np.testing.assert_array_equal(ca[key], cb[key], err_msg=key)


@pytest.fixture(scope="module")
def matched(tmp_path_factory) -> tuple[Path, list]:
    """Synthetic features of 6 images and their 15 exhaustive pairs matched locally (one thread)."""
    tmp = tmp_path_factory.mktemp("matched")
    pairs = exhaustive_pairs(_features(tmp / "features.h5"))  # 15 pairs: batches of 4, 4, 4, 3
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = match_collection(tmp / "features.h5", pairs, tmp / "local.h5", PRESET, 4, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert local.matched == 15
    return tmp, pairs


def test_cluster_matching_writes_the_local_matches_and_resumes(local_ray, matched, tmp_path):
    data, pairs = matched
    # A previous run stored the first 2 batches; the cluster run does only the 2 others.
    match_collection(data / "features.h5", pairs[:8], tmp_path / "cluster.h5", PRESET, 4, progress=False)
    engine = ClusterMatcher(PRESET, ClusterOptions(address="local", workers=2, match_shard=4))
    report = match_collection(data / "features.h5", pairs, tmp_path / "cluster.h5", PRESET, 4,
                              progress=False, engine=engine)
    assert report.matched == 7 and report.num_pairs == 15
    assert not Path(str(tmp_path / "cluster.h5") + ".parts").exists()
    _assert_same_file(data / "local.h5", tmp_path / "cluster.h5")
    stats = engine.stats
    assert [s.worker for s in stats] == ["worker-0", "worker-1"]
    assert sum(s.items for s in stats) == 7 and sum(s.shards for s in stats) == 2
    assert all(s.shards == 1 and s.seconds > 0 and len(s.processes) == 1 for s in stats)  # both worked
    assert "worker-1" in engine.summary() and " 7 " in engine.summary().splitlines()[-1]


def _texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = sum(cv2.resize(rng.uniform(0, 255, (s, s * 4 // 3, 3)), (320, 240)) for s in (6, 24, 96)) / 3
    return np.clip(img, 0, 255).astype(np.uint8)


def test_cluster_extraction_gives_the_local_features_and_reports_unreadable_images(local_ray, one_thread, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    names = ["a.png", "b.jpg", "broken.jpg", "sub/c.png"]
    for i, name in enumerate(names):
        cv2.imwrite(str(photos / name), _texture(i))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg" * 10)
    local = extract_collection(photos, tmp_path / "local.h5", PRESET, names, progress=False)
    engine = ClusterExtractor(PRESET, ClusterOptions(address="local", workers=2, extract_shard=1))
    report = extract_collection(photos, tmp_path / "cluster.h5", PRESET, names, progress=False, engine=engine)
    assert report.names == local.names == ["a.png", "b.jpg", "sub/c.png"]
    assert sorted(report.extracted) == local.extracted
    assert list(report.skipped) == ["broken.jpg"] and "corrupt" in report.skipped["broken.jpg"]
    assert "broken.jpg" in report.skipped["broken.jpg"] and "/tmp" not in report.skipped["broken.jpg"]
    _assert_same_file(tmp_path / "local.h5", tmp_path / "cluster.h5")  # image fingerprints included
    with h5py.File(tmp_path / "cluster.h5", "r") as f:
        assert f["b.jpg"].attrs[HASH_ATTR] == hashlib.sha256((photos / "b.jpg").read_bytes()).hexdigest()
    assert sum(s.failures for s in engine.stats) == 1 and sum(s.items for s in engine.stats) == 3
    # b.jpg replaced by another photo: both paths extract it (and only it) again.
    cv2.imwrite(str(photos / "b.jpg"), _texture(7))
    local = extract_collection(photos, tmp_path / "local.h5", PRESET, names, progress=False)
    report = extract_collection(photos, tmp_path / "cluster.h5", PRESET, names, progress=False, engine=engine)
    assert report.extracted == local.extracted == ["b.jpg"]
    _assert_same_file(tmp_path / "local.h5", tmp_path / "cluster.h5")


def test_a_worker_killed_mid_run_is_restarted_and_its_shards_redone(local_ray, matched, tmp_path):
    data, pairs = matched
    shards = match_shards(_batches(pairs, 4), max_pairs=4)
    remote = ray.remote(max_restarts=-1, max_task_retries=0, num_cpus=1)(MatchWorker)
    actors = [remote.remote(PRESET) for _ in range(2)]
    victim = int(ray.get(actors[0].ping.remote()).rpartition(":")[2])
    ray.get(actors[1].ping.remote())
    store = H5Store(tmp_path / "cluster.h5", {"lightglue_matcher": PRESET.matcher_fingerprint(),
                                              "lightglue_weights": PRESET.matcher_weights(),
                                              PAIR_KEYS_ATTR: "hloc"})  # as match_collection opens it
    results = []
    with h5py.File(data / "features.h5", "r") as f:
        refs = _FeatureRefs(f)

        def jobs():
            for shard in shards:
                if shard.index == 3:  # worker-0 holds shards 0 and 2 in flight by now
                    os.kill(victim, signal.SIGKILL)
                images = shard.images()  # what ClusterMatcher sends: the file's key scheme, the images' hashes
                yield shard, (shard.batches, refs.acquire(images), "hloc", {n: f[n].attrs[HASH_ATTR] for n in images})

        scheduler = ShardScheduler(actors, lambda actor, payload: actor.match_refs.remote(*payload))
        scheduler.run(jobs(), lambda shard, result: results.append(result))
    store.append(r for result in results for r in result.records)
    store.consolidate()
    _assert_same_file(data / "local.h5", tmp_path / "cluster.h5")
    assert scheduler.stats[0].retries >= 1  # its shards in flight were lost and redone
    assert f":{victim}" not in ",".join(scheduler.stats[0].processes)
    assert sum(s.items for s in scheduler.stats) == 15
    deadline = time.monotonic() + 120
    while True:  # Ray restarts it: a new process answers
        try:
            assert int(ray.get(actors[0].ping.remote()).rpartition(":")[2]) != victim
            break
        except ray.exceptions.ActorUnavailableError:
            assert time.monotonic() < deadline, "the killed worker was not restarted"
            time.sleep(0.5)
    for actor in actors:
        ray.kill(actor, no_restart=True)


def test_match_pairs_verb_with_cluster_prints_one_table_per_run(local_ray, matched, tmp_path):
    from click.testing import CliRunner

    from lightglue.cli import main
    from lightglue.collection.pairs import write_pairs

    data, pairs = matched
    work = tmp_path / "work"
    work.mkdir()
    (work / "features.h5").write_bytes((data / "features.h5").read_bytes())
    write_pairs(pairs, work / "pairs.txt")
    args = ["match-pairs", str(work), "--max-keypoints", "128", "--resize", "320", "--cluster", "local",
            "--workers", "2", "--shard-size", "8"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "15 pairs in" in result.stdout and "(15 matched now" in result.stdout
    table = result.stdout.split("match per worker:\n")[1].splitlines()
    assert table[0].split() == ["worker", "host:pid", "shards", "pairs", "seconds", "pairs/s", "failures", "retries"]
    assert [ln.split()[0] for ln in table[1:]] == ["worker-0", "worker-1", "total"]
    assert table[-1].split()[1:3] == ["2", "15"]  # 2 shards (8 + 7 pairs), 15 pairs
    _assert_same_file(data / "local.h5", work / "matches.h5")
    result = CliRunner().invoke(main, ["match-pairs", str(work), "--workers", "2"])
    assert result.exit_code == 2 and "--workers and --shard-size need --cluster" in result.output


def test_match_pairs_verb_with_cluster_uses_the_local_keys_and_reads_encoded_pairs(local_ray, tmp_path):
    """Names that hloc's keys cannot tell apart ('a/b.jpg', 'a-b.jpg': collision-free keys) and
    a name with a space (a percent-encoded pairs file): the cluster run writes the local file."""
    from click.testing import CliRunner

    from lightglue.cli import main
    from lightglue.collection.pairs import QUOTED_HEADER, write_pairs

    work = {label: tmp_path / label for label in ("local", "cluster")}
    for folder in work.values():
        folder.mkdir()
        names = _features(folder / "features.h5", names=["a/b.jpg", "a-b.jpg", "c d.jpg", "e.jpg"])
        write_pairs(exhaustive_pairs(names), folder / "pairs.txt")
    assert (work["local"] / "pairs.txt").read_text().splitlines()[0] == QUOTED_HEADER
    common = ["--max-keypoints", "128", "--resize", "320", "--batch-size", "4"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each actor runs
    try:
        result = CliRunner().invoke(main, ["match-pairs", str(work["local"]), *common])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["match-pairs", str(work["cluster"]), *common, "--cluster", "local",
                                       "--workers", "2", "--shard-size", "4"])
    assert result.exit_code == 0, result.output
    assert "6 pairs in" in result.stdout and "(6 matched now" in result.stdout
    with h5py.File(work["cluster"] / "matches.h5", "r") as f:
        assert f.attrs[PAIR_KEYS_ATTR] == "quoted"
    _assert_same_file(work["local"] / "matches.h5", work["cluster"] / "matches.h5")
