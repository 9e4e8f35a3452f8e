"""The ``view`` verb: open a working folder's ``reconstruction.html`` or ``matches.html``."""

from __future__ import annotations

import json
import os
import sys
import webbrowser
from pathlib import Path

import click


def has_display() -> bool:
    """Whether a browser window can be shown: always on macOS and Windows, with X11 or Wayland elsewhere."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _build_reconstruction_page(workdir: Path, page: Path) -> None:
    from lightglue.collection._pycolmap import pycolmap
    from lightglue.collection.reconstruct import ReconstructionSummary
    from lightglue.collection.viewer_reconstruction import write_reconstruction_html

    if not (workdir / "sparse").is_dir():
        raise click.ClickException(f"No model in {workdir / 'sparse'}: run 'lightglue reconstruct' first.")
    summary = None
    if (workdir / "summary.json").is_file():
        summary = ReconstructionSummary(**json.loads((workdir / "summary.json").read_text()))
    rec = pycolmap.Reconstruction(workdir / "sparse")
    write_reconstruction_html(rec, page, summary, title=f"Reconstruction in {workdir.resolve().name}")


def _build_matches_page(workdir: Path, page: Path, images: Path | None) -> None:
    from lightglue.collection.pairs import read_pairs
    from lightglue.collection.viewer_matches import write_matches_html

    if images is None:
        raise click.ClickException(f"No {page}: pass --images (the image folder) to build it.")
    for file, verb in (("features.h5", "extract"), ("matches.h5", "match-pairs"), ("pairs.txt", "pairs")):
        if not (workdir / file).is_file():
            raise click.ClickException(f"No {file} in {workdir}: run 'lightglue {verb}' first.")
    write_matches_html(page, workdir / "features.h5", workdir / "matches.h5", read_pairs(workdir / "pairs.txt"),
                       images, workdir / "database.db", title=f"Matches in {workdir.resolve().name}")


@click.command()
@click.argument("workdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--matches", "show_matches", is_flag=True, help="Open the match browser instead of the 3D view.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The image folder: needed to (re)build matches.html.")
@click.option("--rebuild", is_flag=True, help="Write the page again from the folder's files, even if it exists.")
@click.option("--no-browser", is_flag=True, help="Only print the page's path.")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Instead of opening it, render the page in headless Chromium (offline) to this PNG.")
@click.option("--size", type=(click.IntRange(min=100), click.IntRange(min=100)), default=(1200, 800),
              show_default=True, help="Window size of --screenshot, pixels.")
def view(workdir: Path, show_matches: bool, images: Path | None, rebuild: bool, no_browser: bool,
         screenshot: Path | None, size: tuple[int, int]) -> None:
    """Open WORKDIR/reconstruction.html (or matches.html) in a web browser, or print its path without a display.

    A missing page (or any page with --rebuild) is written first from WORKDIR's files:
    sparse/ and summary.json for the 3D view; features.h5, matches.h5, pairs.txt,
    database.db and the --images folder for the match browser.
    """
    page = workdir / ("matches.html" if show_matches else "reconstruction.html")
    if rebuild or not page.is_file():
        try:
            if show_matches:
                _build_matches_page(workdir, page, images)
            else:
                _build_reconstruction_page(workdir, page)
        except (OSError, ValueError) as err:
            raise click.ClickException(str(err)) from err
    if screenshot is not None:
        from lightglue.collection import viewer_snapshot

        try:
            viewer_snapshot.screenshot(page, screenshot, *size)
        except (OSError, RuntimeError) as err:
            raise click.ClickException(str(err)) from err
        click.echo(f"{page} rendered to {screenshot}")
    elif not no_browser and has_display() and webbrowser.open(page.resolve().as_uri()):
        click.echo(f"opened {page}")
    else:
        click.echo(str(page))
