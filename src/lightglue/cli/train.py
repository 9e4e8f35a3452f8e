"""``lightglue train``: train or fine-tune LightGlue from a TOML configuration file."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run folder [default: outputs/train/<config file name>].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to OUT/log.jsonl).")
def train(config_file, overrides, out_dir, resume, no_progress):
    """Train LightGlue as CONFIG_FILE says, with optional section.key=value OVERRIDES.

    \b
    Examples:
      lightglue train configs/sift_homography.toml --out runs/sift data.root=photos/
      lightglue train configs/sift_homography.toml --out runs/sift --resume train.steps=20000
      torchrun --standalone --nproc_per_node 2 --no-python lightglue train cfg.toml --out runs/ddp

    Writes OUT/log.jsonl and OUT/log.png (losses, validation precision / recall / AUC),
    OUT/checkpoints/ (atomic, resumable after any interruption) and OUT/weights.pth, which
    loads with LightGlue(features=..., weights="OUT/weights.pth").
    """
    from lightglue.training import distributed
    from lightglue.training.config import ConfigError, load_config
    from lightglue.training.trainer import NonFiniteLossError, Stopped, Trainer, build_datasets
    from lightglue.weights import WeightsNotFoundError

    out = Path(out_dir) if out_dir else Path("outputs/train") / Path(config_file).stem
    ctx = None
    try:
        config = load_config(config_file, overrides)
        ctx = distributed.setup(config.train.device)
        train_set, val_set = build_datasets(config)
        trainer = Trainer(config, out, train_set, val_set, ctx=ctx, show_progress=not no_progress)
        if ctx.is_main:
            rejected = getattr(train_set, "rejected", [])
            if rejected:
                click.echo(f"skipped {len(rejected)} unusable file(s): "
                           + "; ".join(f"{name} ({reason})" for name, reason in rejected), err=True)
            mix = config.data.options.get("mix")
            kinds = config.data.kind + (f" + {mix['kind']} (share {mix['share']})" if mix else "")
            click.echo(f"training {config.model.features}+lightglue on {len(train_set)} {kinds} pairs "
                       f"({len(val_set) if val_set is not None else 0} for validation), "
                       f"{ctx.world_size} process(es) on {ctx.device}, into {out}")
        summary = trainer.fit(resume=resume)
    except (ConfigError, Stopped, NonFiniteLossError, WeightsNotFoundError, ValueError, OSError) as err:
        raise click.ClickException(str(err)) from None
    finally:
        if ctx is not None:
            distributed.teardown(ctx)
    if ctx.is_main:
        train_rec, val_rec = summary["train"], summary["val"]
        if not train_rec:
            click.echo(f"nothing to do: the run in {out} is at step {summary['step']} of train.steps = "
                       f"{config.train.steps}; raise train.steps to train longer")
            return
        line = f"step {summary['step']}: loss {train_rec['loss']:.4f}"
        if val_rec:
            line += ", validation " + ", ".join(f"{k} {v:.4g}" for k, v in val_rec.items() if k != "pairs")
        click.echo(line)
        click.echo(f"wrote {out / 'weights.pth'}, {out / 'log.jsonl'}, {out / 'log.png'}, {out / 'checkpoints'}")
