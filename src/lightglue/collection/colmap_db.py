"""A COLMAP database from ``features.h5`` + ``matches.h5``, through pycolmap's Database API.

Holds cameras (one per image, or one shared), a trivial rig and frame per image, images,
keypoints (shifted by +0.5 px to COLMAP's convention, where the top-left pixel's centre is
(0.5, 0.5)), the raw matches of every pair, and the two-view geometries that pycolmap's
geometric verification (RANSAC on F / E / H, with a fixed seed: the same matches give the
same geometries on every build) keeps. The file is built under a temporary name and renamed
into place, so an interrupted build never leaves a half-written database.

COLMAP keeps its databases in SQLite's WAL mode: a process killed while it has
``database.db`` open (mapping, or a user's COLMAP) leaves ``database.db-wal`` / ``-shm``
behind, and SQLite would replay that old log onto the next, freshly built file and corrupt
it. Before the new file is renamed into place, the old file's journal files are removed
(the old file is being replaced, so its pending log is worthless); the new file is
renamed in with no journal of its own (fully checkpointed when its last connection closed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.features_h5 import open_features, read_features
from lightglue.collection.h5store import item_keys
from lightglue.collection.matches_h5 import find_pair, read_matches
from lightglue.collection.pairs import Pair

CAMERA_MODES = ("per-image", "single")
DEFAULT_FOCAL_FACTOR = 1.2  # COLMAP's focal-length guess without EXIF: 1.2 x max(W, H)


@dataclass(frozen=True)
class DatabaseSummary:
    """What went into a database.

    Attributes:
        num_images: images written.
        num_matched_pairs: pairs with at least one match.
        num_verified_pairs: pairs with a two-view geometry that passed verification.
    """

    num_images: int
    num_matched_pairs: int
    num_verified_pairs: int


@contextlib.contextmanager
def colmap_log_level(level: int) -> Iterator[None]:
    """Temporarily set pycolmap's (glog) minimum log level (0 info, 1 warning, 2 error)."""
    old = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = level
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = old


def default_camera(width: int, height: int) -> pycolmap.Camera:
    """SIMPLE_RADIAL camera with COLMAP's default focal guess and a centred principal point."""
    return pycolmap.Camera(
        model="SIMPLE_RADIAL",
        width=int(width),
        height=int(height),
        params=[DEFAULT_FOCAL_FACTOR * max(width, height), width / 2.0, height / 2.0, 0.0],
    )


def _write_camera_with_rig(db: pycolmap.Database, camera: pycolmap.Camera) -> tuple[int, int]:
    """Write a camera and the trivial rig made of it alone (COLMAP >= 3.12 needs rigs).

    Returns:
        (camera_id, rig_id).
    """
    camera_id = db.write_camera(camera)
    rig = pycolmap.Rig()
    rig.add_ref_sensor(pycolmap.sensor_t(type=pycolmap.SensorType.CAMERA, id=camera_id))
    return camera_id, db.write_rig(rig)


def _write_image(db: pycolmap.Database, name: str, camera_id: int, rig_id: int) -> int:
    """Write an image and its own frame of the camera's rig (COLMAP >= 3.12 needs frames)."""
    image_id = db.write_image(pycolmap.Image(name=name, camera_id=camera_id))
    frame = pycolmap.Frame()
    frame.rig_id = rig_id
    sensor = pycolmap.sensor_t(type=pycolmap.SensorType.CAMERA, id=camera_id)
    frame.add_data_id(pycolmap.data_t(sensor_id=sensor, id=image_id))
    db.write_frame(frame)
    return image_id


SQLITE_JOURNAL_SUFFIXES = ("-wal", "-shm", "-journal")


def remove_journal_files(db_path: str | os.PathLike) -> None:
    """Delete the SQLite journal files (``-wal``, ``-shm``, ``-journal``) next to ``db_path``.

    Only safe when no process has the database open (the output folder's lock ensures it
    for lightglue) and its content is about to be replaced or does not matter.
    """
    for suffix in SQLITE_JOURNAL_SUFFIXES:
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _fill_database(
    path: Path, features_path: str | os.PathLike, matches_path: str | os.PathLike, pairs: Sequence[Pair],
    camera_mode: str, images: Sequence[str] | None,
) -> tuple[int, int]:
    """Write cameras, rigs, frames, images, keypoints and matches; return (images, matched pairs)."""
    image_ids: dict[str, int] = {}
    num_matched = 0
    with open_features(features_path) as ff, pycolmap.Database.open(path) as db:
        stored = item_keys(ff)
        missing = sorted(set(images or ()) - stored)
        if missing:
            raise ValueError(f"{features_path} has no features for {len(missing)} image(s), e.g. {missing[0]!r}.")
        names = sorted(stored if images is None else set(images))
        shared: dict[tuple[int, int], tuple[int, int]] = {}
        for name in names:
            feats = read_features(ff, name)
            size = (int(feats.image_size[0]), int(feats.image_size[1]))
            if camera_mode == "single":
                if shared and size not in shared:
                    other = next(iter(shared))
                    raise ValueError(
                        f"camera_mode='single' needs equal image sizes: {name} is {size[0]}x{size[1]}, "
                        f"another image is {other[0]}x{other[1]}."
                    )
                if size not in shared:
                    shared[size] = _write_camera_with_rig(db, default_camera(*size))
                camera_id, rig_id = shared[size]
            else:
                camera_id, rig_id = _write_camera_with_rig(db, default_camera(*size))
            image_ids[name] = _write_image(db, name, camera_id, rig_id)
            db.write_keypoints(image_ids[name], (feats.keypoints + 0.5).astype(np.float32))
        with h5py.File(matches_path, "r") as mf:
            for name0, name1 in pairs:
                if name0 not in image_ids or name1 not in image_ids or find_pair(mf, name0, name1) is None:
                    continue
                matches, _ = read_matches(mf, name0, name1)
                if len(matches):
                    db.write_matches(image_ids[name0], image_ids[name1], matches.astype(np.uint32))
                    num_matched += 1
    return len(image_ids), num_matched


def build_database(
    db_path: str | os.PathLike,
    features_path: str | os.PathLike,
    matches_path: str | os.PathLike,
    pairs: Sequence[Pair],
    camera_mode: str = "per-image",
    num_threads: int = -1,
    verbose: bool = False,
    images: Sequence[str] | None = None,
    seed: int = 0,
) -> DatabaseSummary:
    """Write a COLMAP database and verify every matched pair.

    Images are ``images`` (default: all of ``features_path``) in sorted order; pairs missing
    from ``matches_path`` (e.g. an image was skipped), without matches or with an image
    outside ``images`` are left out.

    Args:
        db_path: the database to (re)create.
        features_path: hloc-layout ``features.h5``.
        matches_path: hloc-layout ``matches.h5``.
        pairs: the pairs to import.
        camera_mode: ``"per-image"`` (a camera per photo: different cameras, no EXIF) or
            ``"single"`` (one shared camera; all images must have the same size).
        num_threads: verification threads (-1: all cores).
        verbose: let pycolmap log at INFO level.
        images: the images to put in the database (default: every image of ``features_path``).
        seed: random seed of the verification's RANSAC. pycolmap's default (-1) draws a new
            seed on every build, so a rebuilt database would hold other two-view geometries
            and the mapping could not repeat.

    Returns:
        Counts of images, matched pairs and verified pairs.

    Raises:
        FileNotFoundError: ``features_path`` or ``matches_path`` does not exist.
        DamagedRecordError: a pair's record in ``matches_path`` is damaged.
    """
    if camera_mode not in CAMERA_MODES:
        raise ValueError(f"camera_mode must be one of {CAMERA_MODES}, got {camera_mode!r}.")
    for path, verb in ((features_path, "extract"), (matches_path, "match-pairs")):
        if not Path(path).is_file():
            raise FileNotFoundError(f"No {Path(path).name} at {path}: run 'lightglue {verb}' first.")
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in db_path.parent.glob(f".{db_path.name}.*.tmp*"):  # left by a killed run, journals too
        stale.unlink()
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    try:
        counts = _fill_database(tmp, features_path, matches_path, pairs, camera_mode, images)
        with colmap_log_level(0 if verbose else 2):
            two_view = pycolmap.TwoViewGeometryOptions()
            two_view.ransac.random_seed = seed
            pycolmap.geometric_verification(
                tmp,
                verifier_options=pycolmap.GeometricVerifierOptions(num_threads=num_threads),
                two_view_geometry_options=two_view,
            )
        with pycolmap.Database.open(tmp) as db:
            num_verified = db.num_verified_image_pairs()
        remove_journal_files(db_path)
        os.replace(tmp, db_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        remove_journal_files(tmp)
        raise
    return DatabaseSummary(*counts, num_verified)
