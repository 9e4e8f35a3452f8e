"""``lightglue render-scenes``: synthetic posed training scenes from a folder of photos."""

from __future__ import annotations

import click


@click.command("render-scenes")
@click.argument("photos", type=click.Path(file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--scenes", default=120, show_default=True, help="Scenes to render (s0000, s0001, ...).")
@click.option("--views", default=8, show_default=True, help="Views per scene.")
@click.option("--seed", default=0, show_default=True, help="Seed of the rooms, cameras and photometric changes.")
@click.option("--size", nargs=2, type=int, default=(640, 480), show_default=True, help="Image width and height.")
@click.option("--val-fraction", default=0.1, show_default=True,
              help="Share of the photos held out (as lightglue train splits them); they are never used as textures.")
@click.option("--workers", default=1, show_default=True, help="Processes rendering scenes in parallel.")
def render_scenes(photos, out, scenes, views, seed, size, val_fraction, workers):
    """Render textured rooms with boxes from PHOTOS into OUT, in the MegaDepth layout.

    \b
    Each scene is a room whose walls, floor, ceiling and boxes are textured with training photos,
    seen by VIEWS cameras; OUT gets images/, depth_undistorted/ and scene_info/, which
    data.kind = "megadepth" trains on (ground truth from depth, with occlusions). Finished
    scenes are skipped, so an interrupted run continues where it stopped.
    \b
    Example:
      lightglue render-scenes ../shared/data/photos outputs/scenes --scenes 120 --workers 2
    """
    from lightglue.training.data.scenes import render_scenes as render

    done = 0
    try:
        for name, rendered in render(photos, out, scenes, views, seed, workers, tuple(size), val_fraction):
            done += 1
            click.echo(f"[{done}/{scenes}] {name} {'rendered' if rendered else 'already there'}")
    except (ValueError, OSError) as err:
        raise click.ClickException(str(err)) from None
