"""Worker bodies: each holds one extractor or one matcher and does whole shards.

Plain classes; the driver turns them into Ray actors (``ray.remote(...)(MatchWorker)``), so
they can also be used and tested in-process. Inputs arrive by value (image file bytes,
features as numpy arrays through the object store): a worker needs no access to the
driver's files.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from lightglue.collection.extract import extract_record
from lightglue.collection.features_h5 import ImageFeatures
from lightglue.collection.h5store import Record
from lightglue.collection.match import _to_tensors, load_batch, match_batch
from lightglue.collection.pairs import Pair
from lightglue.collection.presets import Preset, resolve_device
from lightglue.image import decode_image, numpy_image_to_torch


@dataclass
class ShardResult:
    """What a worker sends back for one shard.

    Attributes:
        records: items to store (features of images, or matches of pairs).
        skipped: item -> reason, for images that could not be read or processed.
        seconds: time the worker spent on the shard.
        worker: ``host:pid`` of the process that did it.
    """

    records: list[Record]
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    worker: str = ""


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Worker:
    def __init__(self, threads: int, device: str | None):
        torch.set_num_threads(max(1, threads))
        self.device = resolve_device(device)

    def ping(self) -> str:
        """``host:pid`` of this actor (ready once it answers)."""
        return _worker_id()


class ExtractWorker(_Worker):
    """Extracts the local features of images sent as file bytes."""

    def __init__(self, preset: Preset, threads: int = 1, device: str | None = None):
        super().__init__(threads, device)
        self.preset = preset
        self.extractor = preset.build_extractor(self.device)

    def extract(self, images: Sequence[tuple[str, bytes | str]]) -> ShardResult:
        """Features of each ``(name, file bytes)``; unreadable images go to ``skipped``.

        The bytes are decoded exactly as :func:`lightglue.image.load_image` reads the file
        (:func:`lightglue.image.decode_image`). A string instead of bytes is the reason the
        driver could not read the file.
        """
        start = time.perf_counter()
        result = ShardResult([], worker=_worker_id())
        for name, data in images:
            if isinstance(data, str):
                result.skipped[name] = data
                continue
            try:
                image = numpy_image_to_torch(decode_image(data, name))
                result.records.append(extract_record(self.extractor, self.preset, name, image))
            except (OSError, ValueError, RuntimeError) as err:
                result.skipped[name] = str(err)
        result.seconds = time.perf_counter() - start
        return result


class MatchWorker(_Worker):
    """Matches batches of pairs with features handed over as :class:`ImageFeatures`."""

    def __init__(self, preset: Preset, threads: int = 1, device: str | None = None):
        super().__init__(threads, device)
        self.matcher = preset.build_matcher(self.device)

    def match(self, batches: Sequence[Sequence[Pair]], features: Mapping[str, ImageFeatures], scheme: str,
              hashes: Mapping[str, str]) -> ShardResult:
        """Matches of every pair, batch by batch exactly as given (padding included).

        ``scheme``: the pair-key scheme of the driver's ``matches.h5``; ``hashes``: image ->
        content hash, stamped on each record (see :func:`~lightglue.collection.match.match_batch`).
        """
        start = time.perf_counter()
        tensors = {name: _to_tensors(f) for name, f in features.items()}
        records: list[Record] = []
        for batch in batches:
            data0, data1 = load_batch(batch, tensors.__getitem__, self.device)
            records.extend(match_batch(self.matcher, batch, data0, data1, scheme, hashes))
        return ShardResult(records, seconds=time.perf_counter() - start, worker=_worker_id())

    def match_refs(self, batches: Sequence[Sequence[Pair]], refs: Mapping[str, object], scheme: str,
                   hashes: Mapping[str, str]) -> ShardResult:
        """:meth:`match` with the features given as object-store references (fetched here)."""
        import ray

        values = ray.get(list(refs.values()))
        return self.match(batches, dict(zip(refs, values)), scheme, hashes)
