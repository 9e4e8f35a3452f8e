"""Shards to Ray actors: bounded in-flight work, retries after lost workers, statistics.

Each actor holds at most ``depth`` shards at a time (one running, the next already queued,
so it never waits for the driver). A shard whose worker dies (``kill -9``, node lost) comes
back as a Ray system error; it is sent again (to any worker) up to ``max_attempts`` times,
while Ray restarts the dead actor (actors are created with ``max_restarts=-1``). Errors of
the work itself (a bug, a bad input) are not retried: they stop the run. Results are handed
to ``on_done`` in the driver's thread, in completion order.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from lightglue.collection.cluster.actors import ShardResult
from lightglue.collection.cluster.connect import require_ray


class Shard(Protocol):
    index: int

    @property
    def num_items(self) -> int: ...


S = TypeVar("S", bound=Shard)


class ShardFailedError(RuntimeError):
    """A shard was lost with its worker more often than allowed."""


@dataclass
class WorkerStats:
    """What one worker (actor) did.

    Attributes:
        worker: the actor's label, ``worker-<k>``.
        processes: ``host:pid`` of each process that served it (more than one after a restart).
        shards: shards completed.
        items: images or pairs completed.
        seconds: time spent working, measured in the worker.
        failures: items it could not process (unreadable images).
        retries: shards lost with it (its process died) and sent again.
    """

    worker: str
    processes: list[str] = field(default_factory=list)
    shards: int = 0
    items: int = 0
    seconds: float = 0.0
    failures: int = 0
    retries: int = 0


def format_worker_stats(stats: Sequence[WorkerStats], unit: str) -> str:
    """A small table: one line per worker and a total line."""
    head = f"{'worker':<10} {'host:pid':<28} {'shards':>6} {unit + 's':>8} {'seconds':>8} {unit + 's/s':>8} " \
           f"{'failures':>8} {'retries':>7}"
    lines = [head]
    for s in stats:
        rate = s.items / s.seconds if s.seconds else 0.0
        procs = ",".join(s.processes) or "-"
        lines.append(f"{s.worker:<10} {procs:<28} {s.shards:>6} {s.items:>8} {s.seconds:>8.1f} {rate:>8.2f} "
                     f"{s.failures:>8} {s.retries:>7}")
    tot = WorkerStats("total", shards=sum(s.shards for s in stats), items=sum(s.items for s in stats),
                      seconds=sum(s.seconds for s in stats), failures=sum(s.failures for s in stats),
                      retries=sum(s.retries for s in stats))
    lines.append(f"{tot.worker:<10} {'':<28} {tot.shards:>6} {tot.items:>8} {tot.seconds:>8.1f} {'':>8} "
                 f"{tot.failures:>8} {tot.retries:>7}")
    return "\n".join(lines)


def _system_errors() -> tuple[type[BaseException], ...]:
    """Ray's errors that mean "the worker or its data was lost", not "the work failed"."""
    from ray import exceptions as rex

    names = ("RayActorError", "WorkerCrashedError", "ObjectLostError", "OwnerDiedError", "NodeDiedError",
             "ActorUnavailableError")
    return tuple(getattr(rex, n) for n in names if hasattr(rex, n))


class ShardScheduler(Generic[S]):
    """Runs shards on a fixed pool of actors.

    Args:
        actors: Ray actor handles.
        call: ``(actor, payload) -> ObjectRef`` of a :class:`ShardResult`.
        max_attempts: tries per shard before :class:`ShardFailedError`.
        depth: shards queued per actor at a time.
        max_revivals: pings (0.2 s apart when they fail) a lost actor gets to come back.
        revive_s: how long to wait for a lost actor when no other worker is left.
    """

    def __init__(self, actors: Sequence[Any], call: Callable[[Any, Any], Any], max_attempts: int = 5, depth: int = 2,
                 max_revivals: int = 50, revive_s: float = 600.0):
        self.actors = list(actors)
        self.call = call
        self.max_attempts = max_attempts
        self.depth = depth
        self.max_revivals = max_revivals
        self.revive_s = revive_s
        self.stats = [WorkerStats(f"worker-{k}") for k in range(len(self.actors))]

    def run(self, jobs: Iterable[tuple[S, Any]], on_done: Callable[[S, ShardResult], None]) -> None:
        """Do every ``(shard, payload)`` of ``jobs``; ``on_done(shard, result)`` for each.

        A worker that lost a shard gets no new work until it answers a ping again (Ray
        restarts its process); one that does not come back after ``max_revivals`` pings is
        left out, and the run fails only when no worker is left.
        """
        ray = require_ray()
        lost = _system_errors()
        source = iter(jobs)
        retry: collections.deque[tuple[S, Any, int]] = collections.deque()
        inflight: dict[Any, tuple[int, S, Any, int]] = {}
        reviving: dict[Any, tuple[int, int]] = {}  # ping ref -> (actor, pings sent)
        usable = [True] * len(self.actors)
        load = [0] * len(self.actors)
        exhausted = False
        while True:
            while retry or not exhausted:  # each job to the least loaded usable worker
                free = [k for k in range(len(self.actors)) if usable[k] and load[k] < self.depth]
                if not free:
                    break
                k = min(free, key=load.__getitem__)
                if retry:
                    shard, payload, attempt = retry.popleft()
                else:
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                        break
                    (shard, payload), attempt = job, 1
                inflight[self.call(self.actors[k], payload)] = (k, shard, payload, attempt)
                load[k] += 1
            if not inflight and not retry and exhausted:
                return  # lost workers still restarting are not waited for
            if not inflight and not reviving:
                raise ShardFailedError("Every worker was lost and none came back; giving up.")
            ready, _ = ray.wait([*inflight, *reviving], num_returns=1, timeout=None if inflight else self.revive_s)
            if not ready:
                raise ShardFailedError(f"Every worker was lost and none came back within {self.revive_s} s.")
            ref = ready[0]
            if ref in reviving:
                k, pings = reviving.pop(ref)
                try:
                    ray.get(ref)
                    usable[k] = True
                except lost:
                    if pings < self.max_revivals:
                        time.sleep(0.2)
                        reviving[self.actors[k].ping.remote()] = (k, pings + 1)
                continue
            k, shard, payload, attempt = inflight.pop(ref)
            load[k] -= 1
            try:
                result: ShardResult = ray.get(ref)
            except lost as err:
                self.stats[k].retries += 1
                if attempt >= self.max_attempts:
                    raise ShardFailedError(f"Shard {shard.index} was lost {attempt} times; last error: {err}") from err
                retry.append((shard, payload, attempt + 1))
                if usable[k]:
                    usable[k] = False
                    reviving[self.actors[k].ping.remote()] = (k, 1)
                continue
            st = self.stats[k]
            if result.worker not in st.processes:
                st.processes.append(result.worker)
            st.shards += 1
            st.items += shard.num_items - len(result.skipped)
            st.failures += len(result.skipped)
            st.seconds += result.seconds
            on_done(shard, result)
