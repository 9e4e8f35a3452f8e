"""A folder of photos used as training material: listing, validation and a deterministic split.

The folder is searched recursively for image files (by suffix, case-insensitive). Every file is
decoded once when the corpus is scanned: a file that cannot be read, or whose short side is
below ``min_side`` pixels, is reported (logged as a warning and kept in
:attr:`PhotoCorpus.rejected`, which a trainer can print) and left out. A corpus with fewer
than ``min_photos`` usable photos is a :class:`ValueError`.

The held-out split is a property of the photo, not of the seed: a photo belongs to the
validation split when the hash of its relative path falls below ``val_fraction``, so
validation photos are never trained on whatever seed or corpus order is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
SPLITS = ("train", "val", "all")


def list_image_files(root: str | os.PathLike) -> list[str]:
    """Relative POSIX paths of the image files under ``root`` (recursive), sorted.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"The photo folder {str(root)!r} does not exist or is not a directory.")
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


def split_of(relative_path: str, val_fraction: float) -> str:
    """``"val"`` when the SHA-1 of ``relative_path`` maps below ``val_fraction`` of [0, 1), else ``"train"``."""
    digest = hashlib.sha1(relative_path.encode("utf-8")).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def check_photo(path: Path, min_side: int) -> str | None:
    """Why the photo at ``path`` cannot be used (a sentence), or None when it can."""
    try:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:  # pragma: no cover - OpenCV reports most failures as None
        return f"OpenCV failed to read it ({error})"
    if image is None or image.size == 0:
        return "not a readable image (corrupt or unsupported format)"
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        return f"too small: {w}x{h} pixels, the short side must be at least {min_side}"
    return None


@dataclass
class PhotoCorpus:
    """The usable photos of a folder, for one split.

    Attributes:
        root: the folder.
        photos: relative POSIX paths of the usable photos of the split, sorted.
        rejected: ``(relative path, reason)`` of every file left out (all splits).
    """

    root: Path
    photos: list[str]
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def path(self, index: int) -> Path:
        """Absolute path of photo ``index``."""
        return self.root / self.photos[index]

    def __len__(self) -> int:
        return len(self.photos)


def scan_photos(
    root: str | os.PathLike,
    split: str = "all",
    val_fraction: float = 0.1,
    min_side: int = 128,
    min_photos: int = 1,
) -> PhotoCorpus:
    """Find, check and split the photos under ``root``.

    Args:
        root: the folder (searched recursively).
        split: ``"train"``, ``"val"`` or ``"all"``.
        val_fraction: the share of photos held out for validation, in [0, 1].
        min_side: the smallest usable short side in pixels.
        min_photos: the fewest usable photos the split must have.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
        ValueError: a bad argument, or fewer than ``min_photos`` usable photos in the split.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose from {SPLITS}.")
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1], got {val_fraction!r}.")
    root = Path(root)
    files = list_image_files(root)
    usable, rejected = [], []
    for name in files:
        reason = check_photo(root / name, min_side)
        if reason is None:
            usable.append(name)
        else:
            logger.warning("Skipping photo %s: %s.", root / name, reason)
            rejected.append((name, reason))
    photos = usable if split == "all" else [p for p in usable if split_of(p, val_fraction) == split]
    if len(photos) < min_photos:
        raise ValueError(
            f"The photo folder {str(root)!r} has {len(photos)} usable photo(s) in split {split!r} "
            f"({len(files)} image file(s) found, {len(rejected)} unreadable or smaller than {min_side} px, "
            f"val_fraction={val_fraction}); at least {min_photos} are needed."
        )
    return PhotoCorpus(root=root, photos=photos, rejected=rejected)
