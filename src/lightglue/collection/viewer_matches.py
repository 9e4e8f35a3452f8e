"""``matches.html``: browse the matched pairs of a working folder in one offline file.

The page lists the pairs with their numbers of matches (``matches.h5``) and of inliers (the
two-view geometries that geometric verification kept in ``database.db``); a click on a
pair draws its matches over the two images, inliers in green and the rejected matches in
red. Images are embedded as downscaled JPEG data URIs, so the page needs nothing else;
to keep its size reasonable only the ``max_pairs`` pairs with most inliers (then matches)
are embedded, with at most ``max_images`` images, and the table lists at most
``max_listed`` pairs. The page says what was left out.
"""

from __future__ import annotations

import base64
import html
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np

from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.features_h5 import read_features
from lightglue.collection.matches_h5 import find_pair, read_matches
from lightglue.collection.pairs import Pair
from lightglue.collection.viewer_page import b64_array, fill_template, script_json, write_page
from lightglue.image import read_image

logger = logging.getLogger(__name__)

MAX_PAIRS = 100
MAX_IMAGES = 50
MAX_LISTED = 10_000
IMAGE_SIDE = 640
JPEG_QUALITY = 80


@dataclass(frozen=True)
class PairMatches:
    """The matches of one pair and which of them verification kept.

    Attributes:
        name0, name1: image names.
        matches: ``[K, 2]`` keypoint indices (image 0, image 1).
        inliers: ``[K]`` bool, or None when the pair has no verified two-view geometry
            (no database, or verification did not run on it).
    """

    name0: str
    name1: str
    matches: np.ndarray
    inliers: np.ndarray | None

    @property
    def num_inliers(self) -> int | None:
        """Matches kept by verification, or None when unknown."""
        return None if self.inliers is None else int(self.inliers.sum())


def _inlier_mask(matches: np.ndarray, inlier_matches: np.ndarray) -> np.ndarray:
    """``[K]`` mask of the rows of ``matches [K, 2]`` found in ``inlier_matches [I, 2]``."""
    if not len(matches) or not len(inlier_matches):
        return np.zeros(len(matches), dtype=bool)
    base = int(max(matches[:, 1].max(), inlier_matches[:, 1].max())) + 1
    key = lambda m: m[:, 0].astype(np.int64) * base + m[:, 1]  # noqa: E731
    return np.isin(key(matches), key(inlier_matches.astype(np.int64)))


def read_pair_matches(
    matches_path: str | os.PathLike, pairs: Sequence[Pair], database_path: str | os.PathLike | None = None
) -> list[PairMatches]:
    """Matches of every pair found in ``matches.h5`` with, when a database is given, its inliers.

    Pairs absent from ``matches.h5`` are left out. Inliers are read from the database's
    two-view geometries (keypoint indices are those of ``features.h5``: the database is
    built from it in the same order).
    """
    found: list[tuple[str, str, np.ndarray]] = []
    with h5py.File(matches_path, "r") as f:
        for name0, name1 in pairs:
            if find_pair(f, name0, name1) is not None:
                found.append((name0, name1, read_matches(f, name0, name1)[0]))
    if database_path is None or not Path(database_path).is_file():
        return [PairMatches(a, b, m, None) for a, b, m in found]
    out = []
    with pycolmap.Database.open(database_path) as db:
        ids = {im.name: im.image_id for im in db.read_all_images()}
        for name0, name1, matches in found:
            inliers = None
            if name0 in ids and name1 in ids and db.exists_two_view_geometry(ids[name0], ids[name1]):
                geometry = db.read_two_view_geometry(ids[name0], ids[name1])
                inliers = _inlier_mask(matches, np.asarray(geometry.inlier_matches).reshape(-1, 2))
            out.append(PairMatches(name0, name1, matches, inliers))
    return out


def _jpeg_data_uri(path: Path, side: int, quality: int) -> str:
    """The image at ``path`` scaled so that its long side is at most ``side`` pixels, as a JPEG data URI."""
    image = read_image(path)
    scale = side / max(image.shape[:2])
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"Could not encode {path} as JPEG.")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _choose_embedded(pairs: list[PairMatches], max_pairs: int, max_images: int) -> list[int]:
    """Indices of the pairs to embed, in order, within both caps."""
    chosen: list[int] = []
    images: set[str] = set()
    for i, pair in enumerate(pairs):
        if len(chosen) >= max_pairs:
            break
        if len(images | {pair.name0, pair.name1}) <= max_images:
            chosen.append(i)
            images |= {pair.name0, pair.name1}
    return chosen


def matches_page(
    features_path: str | os.PathLike,
    matches_path: str | os.PathLike,
    pairs: Sequence[Pair],
    image_dir: str | os.PathLike,
    database_path: str | os.PathLike | None = None,
    max_pairs: int = MAX_PAIRS,
    max_images: int = MAX_IMAGES,
    max_listed: int = MAX_LISTED,
    image_side: int = IMAGE_SIDE,
    title: str = "Matches",
) -> str:
    """The HTML text of the match browser.

    Args:
        features_path: hloc-layout ``features.h5`` (keypoints, image sizes).
        matches_path: hloc-layout ``matches.h5``.
        pairs: the pairs to list (those missing from ``matches_path`` are left out).
        image_dir: folder of the images (names relative to it).
        database_path: COLMAP database with the verified two-view geometries, or None.
        max_pairs: at most this many pairs are embedded (drawable), those with most
            inliers, then most matches.
        max_images: at most this many images are embedded.
        max_listed: at most this many pairs are listed.
        image_side: embedded images are downscaled to this long side, pixels.
        title: page title.
    """
    if min(max_pairs, max_images, max_listed, image_side) < 1:
        raise ValueError("max_pairs, max_images, max_listed and image_side must be positive.")
    image_dir = Path(image_dir)
    found = read_pair_matches(matches_path, pairs, database_path)
    found.sort(key=lambda p: (-(p.num_inliers or 0), -len(p.matches), p.name0, p.name1))
    embedded = _choose_embedded(found, max_pairs, max_images)
    names = sorted({n for i in embedded for n in (found[i].name0, found[i].name1)})
    images: dict[str, dict] = {}
    unreadable = []
    rows = [
        {"name0": p.name0, "name1": p.name1, "matches": len(p.matches), "inliers": p.num_inliers}
        for p in found[:max_listed]
    ]
    with h5py.File(features_path, "r") as ff:
        keypoints = {}
        for name in names:
            try:
                uri = _jpeg_data_uri(image_dir / name, image_side, JPEG_QUALITY)
            except OSError as err:
                logger.warning("matches page: image left out: %s", err)
                unreadable.append(name)
                continue
            feats = read_features(ff, name)
            images[name] = {"uri": uri, "size": [int(feats.image_size[0]), int(feats.image_size[1])]}
            keypoints[name] = feats.keypoints
    for i in embedded:
        pair = found[i]
        if i >= max_listed or pair.name0 not in images or pair.name1 not in images:
            continue
        rows[i]["kpts0"] = b64_array(keypoints[pair.name0][pair.matches[:, 0]], "<f4")  # [K, 2] pixels
        rows[i]["kpts1"] = b64_array(keypoints[pair.name1][pair.matches[:, 1]], "<f4")
        if pair.inliers is not None:
            rows[i]["inlierMask"] = b64_array(pair.inliers, "u1")
    data = {
        "pairs": rows,
        "images": images,
        "hasDatabase": database_path is not None and Path(database_path).is_file(),
    }
    num_drawable = sum("kpts0" in r for r in rows)
    notes = [
        f"{len(found):,} matched pairs, {num_drawable:,} of them drawable: to keep this file small, at most "
        f"{max_pairs:,} pairs (those with most inliers) over at most {max_images:,} images are embedded, the "
        f"images downscaled to {image_side} px; other pairs are listed with their numbers only."
    ]
    if len(found) > max_listed:
        notes.append(f"Only the first {max_listed:,} pairs are listed.")
    if unreadable:
        notes.append(f"Images that could not be read: {', '.join(unreadable)}.")
    if not data["hasDatabase"]:
        notes.append("No database: inliers are unknown (run the verification: 'lightglue reconstruct').")
    return fill_template(
        "matches.html",
        TITLE=html.escape(title),
        NOTES="".join(f'<p class="note">{html.escape(n)}</p>' for n in notes),
        DATA=script_json(data),
    )


def write_matches_html(
    path: str | os.PathLike,
    features_path: str | os.PathLike,
    matches_path: str | os.PathLike,
    pairs: Sequence[Pair],
    image_dir: str | os.PathLike,
    database_path: str | os.PathLike | None = None,
    **options: int | str,
) -> Path:
    """Write :func:`matches_page` to ``path`` (atomically; ``options`` as there) and return the path."""
    return write_page(path, matches_page(features_path, matches_path, pairs, image_dir, database_path, **options))
