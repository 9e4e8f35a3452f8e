"""The prefetch and writer threads: order, back-pressure, errors reach the caller."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lightglue.collection.h5store import H5Store, Record
from lightglue.collection.workers import Prefetcher, RecordWriter


def test_prefetcher_yields_in_order_and_reraises_producer_errors():
    assert list(Prefetcher(iter(range(10)), depth=2)) == list(range(10))

    def failing():
        yield 1
        raise RuntimeError("disk on fire")

    it = Prefetcher(failing())
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="disk on fire"):
        next(it)


def test_prefetcher_close_stops_an_unfinished_producer():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    it = Prefetcher(endless(), depth=1)
    assert next(it) == 0
    it.close()
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count <= 4  # the producer stopped, having run at most depth + 2 ahead


def test_writer_stores_each_batch_whole_and_reports_write_errors(tmp_path):
    store = H5Store(tmp_path / "s.h5")
    writer = RecordWriter(store)
    for i in range(5):
        writer.put([Record(f"b{i}/x{j}", {"v": np.arange(3) + j}) for j in range(3)])
    writer.close()
    assert store.keys() == {f"b{i}/x{j}" for i in range(5) for j in range(3)}

    class Broken(H5Store):
        def append(self, records):
            raise OSError("No space left on device")

    writer = RecordWriter(Broken(tmp_path / "t.h5"))
    writer.put([Record("a", {"v": np.zeros(1)})])
    with pytest.raises(OSError, match="No space"):
        writer.close()
