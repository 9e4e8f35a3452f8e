"""The ``lightglue`` command: one entry point, one verb per task.

Each verb lives in its own module of this package and is registered on :data:`main` here.
"""

from __future__ import annotations

import click

from lightglue import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lightglue")
def main() -> None:
    """Sparse local-feature matching with LightGlue."""


def _register() -> None:
    from lightglue.cli import match

    main.add_command(match.match)
    from lightglue.cli import collection

    for command in collection.COMMANDS:
        main.add_command(command)
    from lightglue.cli import evaluate

    main.add_command(evaluate.eval_group)
    main.add_command(evaluate.bench)
    from lightglue.cli import view

    main.add_command(view.view)
    from lightglue.cli import export

    main.add_command(export.export)

    from lightglue.cli import train

    main.add_command(train.train)
    from lightglue.cli import scenes

    main.add_command(scenes.render_scenes)


_register()
