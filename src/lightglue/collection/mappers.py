"""pycolmap's mappers by name: ``incremental`` (COLMAP) and ``global`` (GLOMAP).

The incremental mapper registers images one by one and bundle-adjusts as it grows: robust,
but its cost grows faster than linearly with the number of images. The global mapper
estimates all rotations, then all positions at once, then bundle-adjusts: much faster on
large collections. pycolmap has it as ``pycolmap.global_mapping`` (pycolmap 4.x); with an
older pycolmap, asking for it is a clear error before any work starts.
"""

from __future__ import annotations

import os

from lightglue.collection._pycolmap import pycolmap

MAPPERS = ("incremental", "global")


class MapperUnavailableError(ValueError):
    """The asked-for mapper is unknown, or the installed pycolmap does not have it."""


def check_mapper(mapper: str) -> None:
    """Raise :class:`MapperUnavailableError` unless ``mapper`` can run with this pycolmap."""
    if mapper not in MAPPERS:
        raise MapperUnavailableError(f"Unknown mapper {mapper!r}; choose from {MAPPERS}.")
    if mapper == "global" and not hasattr(pycolmap, "global_mapping"):
        raise MapperUnavailableError(
            f"The installed pycolmap {pycolmap.__version__} has no global mapper (pycolmap.global_mapping, "
            "pycolmap 4.x); upgrade pycolmap or use --mapper incremental."
        )


def run_mapper(
    mapper: str,
    db_path: str | os.PathLike,
    image_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    num_threads: int = -1,
    seed: int = 0,
) -> dict[int, pycolmap.Reconstruction]:
    """Map the database with ``mapper``; the models (by index) it found, written under ``work_dir``.

    ``num_threads`` is the mapper's thread count (-1: all cores). ``seed`` is its random seed,
    but only ``num_threads=1`` repeats a mapping exactly: pycolmap's multi-threaded mappers are
    not deterministic (the same database can give models of different sizes from run to run).
    """
    check_mapper(mapper)
    if mapper == "global":
        options = pycolmap.GlobalPipelineOptions(num_threads=num_threads, random_seed=seed)
        return pycolmap.global_mapping(db_path, image_dir, work_dir, options)
    options = pycolmap.IncrementalPipelineOptions(num_threads=num_threads, random_seed=seed)
    return pycolmap.incremental_mapping(db_path, image_dir, work_dir, options)
