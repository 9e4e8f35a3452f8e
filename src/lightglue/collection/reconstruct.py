"""Incremental Structure-from-Motion with pycolmap, exported as a COLMAP model and a PLY.

:func:`incremental_mapping` maps a database built by :mod:`lightglue.collection.colmap_db`,
keeps the largest model, writes it as a binary COLMAP model (``sparse/cameras.bin``,
``images.bin``, ``points3D.bin``, ...) and a PLY point cloud, both by rename from a
temporary name, and returns it with a :class:`ReconstructionSummary`. When nothing can be
reconstructed, the model and PLY of an earlier run are removed (they would describe other
data). Work folders (``.mapping-*``) left by a killed run are removed first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.colmap_db import colmap_log_level
from lightglue.collection.mappers import run_mapper


@dataclass
class ReconstructionSummary:
    """Numbers that say how a reconstruction went.

    Attributes:
        num_images: images in the database.
        num_registered: images with a recovered pose in the kept (largest) model.
        num_points3D: triangulated points.
        mean_track_length: mean number of observations per 3D point.
        mean_reprojection_error: mean reprojection error over all observations, pixels.
        unregistered: names of the images left out of the model.
        unreadable: image -> reason, for images that could not be read (filled by the pipeline).
        stage_seconds: wall-clock seconds per pipeline stage (filled by the pipeline).
    """

    num_images: int
    num_registered: int
    num_points3D: int
    mean_track_length: float
    mean_reprojection_error: float
    unregistered: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def format(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"registered images : {self.num_registered} / {self.num_images}",
            f"3D points         : {self.num_points3D}",
            f"mean track length : {self.mean_track_length:.2f}",
            f"mean reproj. error: {self.mean_reprojection_error:.3f} px",
        ]
        if self.unregistered:
            lines.append(f"not registered    : {', '.join(self.unregistered)}")
        if self.unreadable:
            lines.append(f"unreadable images : {len(self.unreadable)}")
            lines += [f"  {name}: {reason}" for name, reason in self.unreadable.items()]
        for stage, sec in self.stage_seconds.items():
            lines.append(f"time {stage:<13}: {sec:.1f} s")
        return "\n".join(lines)

    def write_json(self, path: str | os.PathLike) -> None:
        """Write the summary as JSON (atomically)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)


def summarize(rec: pycolmap.Reconstruction, all_names: list[str]) -> ReconstructionSummary:
    """Summary numbers of a reconstruction; ``all_names`` are the images that were given."""
    registered = {rec.image(i).name for i in rec.reg_image_ids()}
    return ReconstructionSummary(
        num_images=len(all_names),
        num_registered=len(registered),
        num_points3D=rec.num_points3D(),
        mean_track_length=float(rec.compute_mean_track_length()) if rec.num_points3D() else 0.0,
        mean_reprojection_error=float(rec.compute_mean_reprojection_error()) if rec.num_points3D() else 0.0,
        unregistered=sorted(set(all_names) - registered),
    )


def incremental_mapping(
    db_path: str | os.PathLike,
    image_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    num_threads: int = -1,
    seed: int = 0,
    verbose: bool = False,
    mapper: str = "incremental",
) -> tuple[pycolmap.Reconstruction | None, ReconstructionSummary]:
    """Run pycolmap's incremental mapper and export the largest model.

    Args:
        db_path: COLMAP database with verified two-view geometries.
        image_dir: folder of the images (read for point colours).
        out_dir: receives ``sparse/`` (binary COLMAP model) and ``points.ply``.
        num_threads: mapper threads (-1: all cores). Only 1 makes the mapping repeatable:
            pycolmap's multi-threaded mapper is not deterministic, and the same database can
            give models of different sizes from run to run.
        seed: random seed of the mapper (RANSAC, initial pair); runs repeat exactly only
            with ``num_threads=1``.
        verbose: let pycolmap log at INFO level.
        mapper: ``"incremental"`` or ``"global"`` (see :mod:`lightglue.collection.mappers`).

    Returns:
        The kept model (None if nothing could be reconstructed) and its summary.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".mapping-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    with pycolmap.Database.open(db_path) as db:
        all_names = sorted(im.name for im in db.read_all_images())
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".mapping-") as work:
        with colmap_log_level(0 if verbose else 2):
            models = run_mapper(mapper, db_path, image_dir, work, num_threads, seed)
        target = out_dir / "sparse"
        if target.exists():  # moved into the work folder, deleted with it
            os.replace(target, Path(work) / "old-sparse")
        if not models:
            (out_dir / "points.ply").unlink(missing_ok=True)
            return None, ReconstructionSummary(len(all_names), 0, 0, 0.0, 0.0, all_names)
        rec = max(models.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()))
        staged = Path(work) / "export"
        staged.mkdir()
        rec.write(staged)
        rec.export_PLY(Path(work) / "points.ply")
        os.replace(staged, target)
        os.replace(Path(work) / "points.ply", out_dir / "points.ply")
    return rec, summarize(rec, all_names)
