"""``match-pairs --cluster`` on a real two-node Ray cluster started here (head + a second node,
separate ``ray start`` processes with one CPU each), on the Sacre Coeur photos: the local
run's matches.h5, a worker SIGKILLed mid-run, the driver SIGKILLed and re-run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from lightglue.collection.h5store import H5Store  # noqa: E402
from test_cluster_inprocess import _assert_same_file  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")]

BIN = Path(sys.executable).parent
CLI = [sys.executable, "-c", "from lightglue.cli import main; main()"]
ENV = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "OMP_NUM_THREADS": "1",
       "RAY_USAGE_STATS_ENABLED": "0", "PATH": f"{BIN}:{os.environ['PATH']}",
       "RAY_AUTH_MODE": "disabled"}  # a throw-away cluster on 127.0.0.1: no token to hand around
SMALL = ["--max-keypoints", "256", "--resize", "512"]


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _node_args(ports: list[int]) -> list[str]:
    """Ports of one node's agents, unique so that two nodes (and other Ray users) share the machine."""
    names = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
             "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port")
    return [a for name, port in zip(names, ports) for a in (name, str(port))]


def _processes_under(root: str) -> list[int]:
    """Pids of processes whose command line mentions ``root`` (this cluster's temp folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if root.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node (1 CPU each, 150 MB object store), stopped at the end whatever happens."""
    temp = tempfile.mkdtemp(prefix="lgray", dir="/tmp")  # short: Ray's socket paths must stay < 108 bytes
    ports = _free_ports(14)
    address = f"127.0.0.1:{ports[0]}"
    common = ["--block", "--num-cpus", "1", "--num-gpus", "0", "--object-store-memory", "150000000",
              "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    head = [str(BIN / "ray"), "start", "--head", "--port", str(ports[0]), "--temp-dir", temp,
            "--include-dashboard", "false", *common, *_node_args(ports[2:8])]
    node = [str(BIN / "ray"), "start", "--address", address, *common, *_node_args(ports[8:14])]
    procs = []
    try:
        procs.append(subprocess.Popen(head, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        time.sleep(5)
        procs.append(subprocess.Popen(node, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        probe = ("import ray, time\nray.init(address=%r, log_to_driver=False)\n"
                 "for _ in range(240):\n    if sum(n['Alive'] for n in ray.nodes()) == 2: break\n"
                 "    time.sleep(0.5)\nprint(sum(n['Alive'] for n in ray.nodes()))" % address)
        out = subprocess.run([sys.executable, "-c", probe], env=ENV, capture_output=True, text=True, timeout=240)
        assert out.stdout.strip().endswith("2"), out.stderr[-2000:]
        yield address
    finally:
        for proc in procs:  # ray start --block stops its node's processes on SIGTERM
            with_group(proc, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with_group(proc, signal.SIGKILL)
                proc.wait()
        for pid in _processes_under(temp):  # anything of this cluster still alive
            with_group_pid(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def with_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def with_group_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Features of the 10 photos, their 45 exhaustive pairs, and the local run's matches (1 thread)."""
    work = tmp_path_factory.mktemp("sacre_coeur")
    for args in (["extract", str(DATA), "--out", str(work), *SMALL, "-q"], ["pairs", str(work)],
                 ["match-pairs", str(work), *SMALL, "--out", str(work / "local.h5"), "-q"]):
        run = subprocess.run([*CLI, *args], env=ENV, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stderr
    assert len((work / "pairs.txt").read_text().splitlines()) == 45
    return work


def _cluster_args(work: Path, address: str, out: Path) -> list[str]:
    return [*CLI, "match-pairs", str(work), *SMALL, "--cluster", address, "--workers", "2", "--shard-size", "4",
            "--out", str(out)]


def _totals(stdout: str) -> dict[str, int]:
    """Numbers of the per-worker table's total line."""
    line = next(ln for ln in stdout.splitlines() if ln.startswith("total"))
    shards, pairs, _, failures, retries = line.split()[1:]
    return {"shards": int(shards), "pairs": int(pairs), "failures": int(failures), "retries": int(retries)}


def _wait_for_part(proc: subprocess.Popen, parts: Path) -> None:
    deadline = time.monotonic() + 600
    while not (parts.is_dir() and any(parts.glob("*.h5"))):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "nothing was written in time"
        time.sleep(0.05)


def test_cluster_matches_equal_the_local_run(cluster, workdir, tmp_path):
    run = subprocess.run(_cluster_args(workdir, cluster, tmp_path / "m.h5"), env=ENV, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "45 pairs in" in run.stdout and "(45 matched now" in run.stdout
    assert _totals(run.stdout) == {"shards": 12, "pairs": 45, "failures": 0, "retries": 0}
    assert len(re.findall(r"^worker-\d", run.stdout, re.M)) == 2
    _assert_same_file(workdir / "local.h5", tmp_path / "m.h5")


def test_a_worker_sigkilled_mid_run_still_gives_the_local_matches(cluster, workdir, tmp_path):
    out = tmp_path / "m.h5"
    proc = subprocess.Popen(_cluster_args(workdir, cluster, out), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_part(proc, Path(f"{out}.parts"))
    workers = [pid for pid in _processes_under("ray::MatchWorker")]
    assert workers, "no MatchWorker process found"
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-3000:]
    assert "(45 matched now" in stdout
    totals = _totals(stdout)
    assert totals["pairs"] == 45 and totals["retries"] >= 1, stdout
    _assert_same_file(workdir / "local.h5", out)


def test_a_sigkilled_driver_reruns_only_the_missing_shards(cluster, workdir, tmp_path):
    out = tmp_path / "m.h5"
    proc = subprocess.Popen(_cluster_args(workdir, cluster, out), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_part(proc, Path(f"{out}.parts"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    written = len(H5Store(out).keys())  # every file left behind opens
    assert 0 < written < 45, "the driver was not killed in the middle"
    rerun = subprocess.run(_cluster_args(workdir, cluster, out), env=ENV, capture_output=True, text=True,
                           timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"({45 - written} matched now" in rerun.stdout
    assert _totals(rerun.stdout)["pairs"] == 45 - written
    _assert_same_file(workdir / "local.h5", out)
