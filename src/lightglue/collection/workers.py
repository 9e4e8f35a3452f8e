"""Threads that overlap disk I/O with compute: a prefetcher and a record writer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from lightglue.collection.h5store import H5Store, Record

T = TypeVar("T")


class Prefetcher(Iterator[T]):
    """Runs ``produce`` in a thread, handing its items over through a bounded queue."""

    _DONE = object()

    def __init__(self, produce: Iterable[T], depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce,), daemon=True)
        self._thread.start()

    def _run(self, produce: Iterable[T]) -> None:
        try:
            for item in produce:
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as err:  # re-raised in the consumer
            self._error = err
        self._queue.put(self._DONE)

    def __next__(self) -> T:
        item = self._queue.get()
        if item is self._DONE:
            if self._error is not None:
                raise self._error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (if still running) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass


class RecordWriter:
    """Stores lists of records as atomic parts of an :class:`H5Store`, in a thread.

    Each list given to :meth:`put` is written whole within one part (lists that pile up while
    the disk is busy are merged into one part), so a batch is either fully stored or not at all.
    """

    def __init__(self, store: H5Store):
        self._store = store
        self._queue: queue.Queue[list[Record] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        finished = False
        while not finished:
            batch = self._queue.get()
            records: list[Record] = []
            while batch is not None:
                records.extend(batch)
                try:
                    batch = self._queue.get_nowait()
                except queue.Empty:
                    break
            finished = batch is None
            if records and self._error is None:
                try:
                    self._store.append(records)
                except BaseException as err:  # re-raised in the main thread
                    self._error = err

    def put(self, records: list[Record]) -> None:
        """Queue records for writing; raises a previous write's error."""
        if self._error is not None:
            raise self._error
        self._queue.put(records)

    def close(self) -> None:
        """Write what is queued, stop, and raise a write error if one occurred."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def progress_bar(total: int, desc: str, unit: str, enabled: bool) -> tqdm:
    """A tqdm bar with rate and ETA (disabled: prints nothing)."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, smoothing=0.1)
