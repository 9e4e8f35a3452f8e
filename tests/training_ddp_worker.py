"""Run by tests/test_training_ddp.py alone or under ``torchrun``: one training step, dump gradients, train on.

Usage: python training_ddp_worker.py OUT_DIR STEPS. Writes OUT_DIR/grads_rank{r}.pt (the
gradients after the step's all-reduce, every parameter) and the run folder of the trainer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from training_pairs import SyntheticPairs

from lightglue.training import distributed
from lightglue.training.config import config_from_dict
from lightglue.training.trainer import Trainer


def main(out: Path, steps: int) -> None:
    torch.set_num_threads(1)
    config = config_from_dict({
        "model": {"n_layers": 2, "descriptor_dim": 32, "num_heads": 2},
        "train": {"steps": steps, "batch_size": 4, "lr": 1e-3, "log_every": 1, "val_every": 0,
                  "checkpoint_every": 1000, "device": "cpu"},
    })
    ctx = distributed.setup("cpu")
    trainer = Trainer(config, out, SyntheticPairs(n=8, k=32), ctx=ctx, show_progress=False)
    trainer.train_step(next(trainer.batches()))
    grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters()}
    torch.save({"grads": grads, "world_size": ctx.world_size}, out / f"grads_rank{ctx.rank}.pt")
    trainer.fit()
    distributed.teardown(ctx)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
