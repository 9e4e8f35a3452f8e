"""The cluster twins of the local extraction and matching loops.

:class:`ClusterExtractor` and :class:`ClusterMatcher` are *engines* for
:func:`~lightglue.collection.extract.extract_collection` and
:func:`~lightglue.collection.match.match_collection`: those functions still open the output
store, check its configuration, find what a previous (possibly killed) run stored and pick
the work left; the engine only replaces the loop that does that work. The driver reads the
inputs (image file bytes, features from ``features.h5``), hands them to the actors by value
(through Ray's object store: no shared filesystem needed), and writes every finished shard
through the same :class:`~lightglue.collection.workers.RecordWriter` (atomic parts) as the
local path. A driver killed at any moment therefore loses only unfinished shards, and a
re-run does only the work that is missing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightglue.collection.cluster.actors import ExtractWorker, MatchWorker, ShardResult
from lightglue.collection.cluster.connect import ClusterOptions, connect, require_ray, worker_resources
from lightglue.collection.cluster.scheduler import ShardScheduler, WorkerStats, format_worker_stats
from lightglue.collection.cluster.shards import ImageShard, MatchShard, image_shards, match_shards
from lightglue.collection.extract import ExtractReport
from lightglue.collection.features_h5 import open_features, read_features
from lightglue.collection.fingerprint import read_with_fingerprint
from lightglue.collection.h5store import H5Store
from lightglue.collection.pairs import Pair
from lightglue.collection.presets import Preset
from lightglue.collection.workers import Prefetcher, RecordWriter, progress_bar

logger = logging.getLogger(__name__)


def _start_actors(worker_cls: type, options: ClusterOptions, preset: Preset, device: str | None) -> list[Any]:
    """Start the actor pool (restarted by Ray when a process dies) and wait until it is up."""
    ray = require_ray()
    connect(options.address)
    count, resources = worker_resources(options)
    remote = ray.remote(max_restarts=-1, max_task_retries=0, **resources)(worker_cls)
    actors = [remote.remote(preset, threads=options.cpus_per_worker, device=device) for _ in range(count)]
    ray.get([a.ping.remote() for a in actors])
    return actors


def _stop_actors(actors: Sequence[Any]) -> None:
    ray = require_ray()
    for actor in actors:
        ray.kill(actor, no_restart=True)


class _Engine:
    """Common state: the options and, after a run, the per-worker statistics."""

    unit = "item"

    def __init__(self, preset: Preset, options: ClusterOptions, device: str | None = None):
        self.preset = preset
        self.options = options
        self.device = device
        self.stats: list[WorkerStats] = []

    def summary(self) -> str:
        """The per-worker table of the last run (empty when nothing ran)."""
        return format_worker_stats(self.stats, self.unit) if self.stats else ""

    def _run(self, actors: list[Any], scheduler: ShardScheduler, jobs: Iterator[tuple[Any, Any]],
             on_done: Callable[[Any, ShardResult], None], writer: RecordWriter, bar: Any) -> None:
        """Run ``jobs`` (prepared in a thread, ahead of the workers); always close and stop everything."""
        loader = Prefetcher(jobs, depth=2 * len(actors))
        try:
            scheduler.run(loader, on_done)
        finally:
            bar.close()
            loader.close()
            writer.close()
            self.stats = scheduler.stats
            _stop_actors(actors)


class ClusterExtractor(_Engine):
    """Extraction engine: image shards to :class:`ExtractWorker` actors."""

    unit = "img"
    worker_cls: type = ExtractWorker

    def __call__(self, image_dir: Path, todo: Sequence[str], store: H5Store, report: ExtractReport,
                 progress: bool) -> None:
        """Extract ``todo`` into ``store``; fills ``report.extracted`` / ``report.skipped``."""
        actors = _start_actors(self.worker_cls, self.options, self.preset, self.device)
        scheduler: ShardScheduler[ImageShard] = ShardScheduler(
            actors, lambda actor, payload: actor.extract.remote(payload)
        )

        fingerprints: dict[str, dict[str, Any]] = {}  # of the bytes sent, stored with the features

        def jobs():
            for shard in image_shards(todo, self.options.extract_shard):
                payload = []
                for name in shard.names:
                    try:
                        data, fingerprints[name] = read_with_fingerprint(Path(image_dir) / name)
                        payload.append((name, data))
                    except OSError as err:  # reported by the worker with the shard's results
                        payload.append((name, f"Could not read image {name!r}: {err.strerror or err}."))
                yield shard, payload

        writer = RecordWriter(store)
        bar = progress_bar(len(todo), "extract", "img", progress)

        def on_done(shard: ImageShard, result: ShardResult) -> None:
            writer.put([dataclasses.replace(r, group_attrs=fingerprints.pop(r.key)) for r in result.records])
            report.extracted.extend(r.key for r in result.records)
            for name in result.skipped:
                fingerprints.pop(name, None)
            for name, reason in result.skipped.items():
                report.skipped[name] = reason
                logger.warning("Skipping image %s: %s", name, reason)
            bar.update(shard.num_items)

        self._run(actors, scheduler, jobs(), on_done, writer, bar)


class _FeatureRefs:
    """Object-store references of image features, shared by the in-flight shards that need them.

    An image is read from ``features.h5`` and put into the object store once while shards
    that need it are in flight, and released when the last of them is done.
    """

    def __init__(self, f: h5py.File):
        self._f = f
        self._refs: dict[str, list[Any]] = {}  # name -> [ref, shards in flight]
        self._lock = threading.Lock()

    def acquire(self, names: Sequence[str]) -> dict[str, Any]:
        ray = require_ray()
        out = {}
        for name in names:
            with self._lock:
                entry = self._refs.get(name)
                if entry is not None:
                    entry[1] += 1
            if entry is None:
                ref = ray.put(read_features(self._f, name))
                with self._lock:
                    entry = self._refs.setdefault(name, [ref, 0])
                    entry[1] += 1
            out[name] = entry[0]
        return out

    def release(self, names: Sequence[str]) -> None:
        with self._lock:
            for name in names:
                entry = self._refs[name]
                entry[1] -= 1
                if entry[1] == 0:
                    del self._refs[name]


class ClusterMatcher(_Engine):
    """Matching engine: the local path's batches, grouped into shards, to :class:`MatchWorker` actors."""

    unit = "pair"
    worker_cls: type = MatchWorker  # a subclass can replace the work (the benchmark's no-op matcher)

    def __call__(self, batches: Sequence[Sequence[Pair]], features_path: Path, store: H5Store,
                 progress: bool, scheme: str, hashes: Mapping[str, str]) -> int:
        """Match every batch into ``store``; returns the number of pairs matched.

        ``scheme`` (the file's pair-key scheme) and ``hashes`` (image -> content hash) go to
        the workers with each shard, so records carry the keys and hashes of the local path.
        """
        shards = match_shards(batches, self.options.match_shard)
        actors = _start_actors(self.worker_cls, self.options, self.preset, self.device)
        scheduler: ShardScheduler[MatchShard] = ShardScheduler(
            actors, lambda actor, payload: actor.match_refs.remote(*payload)
        )
        writer = RecordWriter(store)
        bar = progress_bar(sum(s.num_items for s in shards), "match", "pair", progress)
        matched = 0
        with open_features(features_path) as f:
            refs = _FeatureRefs(f)

            def jobs():
                for shard in shards:
                    images = shard.images()
                    yield shard, (shard.batches, refs.acquire(images), scheme, {n: hashes[n] for n in images})

            def on_done(shard: MatchShard, result: ShardResult) -> None:
                nonlocal matched
                writer.put(result.records)
                refs.release(shard.images())
                matched += shard.num_items
                bar.update(shard.num_items)

            self._run(actors, scheduler, jobs(), on_done, writer, bar)
        return matched
