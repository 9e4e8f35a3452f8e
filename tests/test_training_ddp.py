"""Data-parallel training under torchrun: 2 CPU processes = 1 process on the whole batch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import training_ddp_worker

from lightglue.training.history import read_log

WORKER = Path(__file__).with_name("training_ddp_worker.py")


def test_two_processes_compute_the_gradients_of_one_process_on_the_whole_batch(tmp_path, monkeypatch):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir()
    double.mkdir()
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", str(WORKER), str(double), "3"]
    ddp = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    # meanwhile, the same worker as one process on the whole batch, in this process
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    threads = torch.get_num_threads()
    try:
        training_ddp_worker.main(single, 3)
    finally:
        torch.set_num_threads(threads)
    output, _ = ddp.communicate(timeout=300)
    assert ddp.returncode == 0, output[-3000:]
    ref = torch.load(single / "grads_rank0.pt")
    ranks = [torch.load(double / f"grads_rank{r}.pt") for r in (0, 1)]
    assert ref["world_size"] == 1 and all(r["world_size"] == 2 for r in ranks)
    scale = max(float(g.abs().max()) for g in ref["grads"].values())
    assert scale > 0
    for name, g in ref["grads"].items():
        for r in ranks:  # every process holds the averaged gradient of the global batch
            torch.testing.assert_close(r["grads"][name], g, rtol=0, atol=1e-6 * scale, msg=name)
    # rank 0 alone writes the run folder; the logged losses of the global batch agree
    ref_losses = [r["loss"] for r in read_log(single / "log.jsonl")]
    ddp_losses = [r["loss"] for r in read_log(double / "log.jsonl")]
    assert len(ref_losses) == 2  # steps 2 and 3 (the worker ran step 1 before fit opened the log)
    assert ddp_losses == pytest.approx(ref_losses, rel=1e-5)
    assert sorted(p.name for p in (double / "checkpoints").glob("step_*.pt")) == ["step_0000003.pt"]
