"""Data-parallel training over processes started by ``torchrun`` (torch.distributed).

Each process computes the loss of its slice of the global batch; the gradients are averaged
over the processes (one all-reduce of a flat buffer), so that every process takes the same
optimiser step as a single process on the whole batch would. Backend: gloo on the CPU,
nccl on CUDA. Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is
a no-op on one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in the group.

    Attributes:
        rank: global rank (0 writes logs and checkpoints).
        world_size: number of processes.
        device: the device this process trains on.
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available; ``cuda`` requires it (one GPU per local rank)."""
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("train.device = 'cuda' but no CUDA device is available")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def setup(device_preference: str) -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference, local_rank)
    if world_size <= 1:
        return Distributed(0, 1, device)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), device)


def teardown(ctx: Distributed) -> None:
    """Leave the process group; every process waits for the others first.

    Without the barrier a process can destroy its group (rank 0 also stops the rendezvous
    store) while another is still leaving, which can abort that one (``terminate called
    without an active exception``).
    """
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def broadcast_parameters(module: torch.nn.Module, ctx: Distributed) -> None:
    """Give every process rank 0's parameters and buffers."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], ctx: Distributed) -> None:
    """Replace each gradient by its mean over the processes (a missing gradient counts as 0)."""
    if not ctx.enabled:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_ranks_true(flag: bool, ctx: Distributed) -> bool:
    """True when ``flag`` holds on every process."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0)


def mean_over_ranks(values: torch.Tensor, ctx: Distributed) -> torch.Tensor:
    """The mean of a tensor over the processes (for logging the global batch's loss)."""
    if not ctx.enabled:
        return values
    values = values.detach().clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / ctx.world_size


def barrier(ctx: Distributed) -> None:
    if ctx.enabled:
        dist.barrier()
