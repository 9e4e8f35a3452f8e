"""The HPatches homography benchmark layout: ``<seq>/1.ppm ... 6.ppm`` and ``<seq>/H_1_k``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

HPATCHES_RESIZE_SHORT_SIDE = 480
"""The published protocol resizes the short side of every image to 480 px."""


@dataclass(frozen=True)
class HomographyPair:
    """Image 1 of a sequence and image k, with the ground-truth homography.

    Attributes:
        sequence: the sequence name (``v_*`` viewpoint or ``i_*`` illumination).
        path0, path1: the image files.
        H_0to1: ``[3, 3]`` homography from image-0 to image-1 pixels of the original files.
    """

    sequence: str
    path0: Path
    path1: Path
    H_0to1: np.ndarray

    @property
    def name(self) -> str:
        """``<sequence>/<stem0>-<stem1>``, unique within the dataset."""
        return f"{self.sequence}/{self.path0.stem}-{self.path1.stem}"


def _is_sequence(path: Path) -> bool:
    return path.is_dir() and (path / "1.ppm").is_file()


def read_hpatches_sequence(sequence_dir: Path) -> list[HomographyPair]:
    """The pairs (1, k) of one sequence, for every k with both ``k.ppm`` and ``H_1_k``."""
    sequence_dir = Path(sequence_dir)
    pairs = []
    for k in range(2, 7):
        image, homography = sequence_dir / f"{k}.ppm", sequence_dir / f"H_1_{k}"
        if image.is_file() and homography.is_file():
            H = np.loadtxt(homography, dtype=np.float64).reshape(3, 3)
            pairs.append(HomographyPair(sequence_dir.name, sequence_dir / "1.ppm", image, H))
    return pairs


def read_hpatches(root: Path) -> list[HomographyPair]:
    """Every pair of an HPatches root, or of a single sequence directory.

    Args:
        root: ``hpatches-sequences-release`` (a folder of sequences) or one sequence folder.
    Raises:
        FileNotFoundError: no sequence (a folder holding ``1.ppm``) was found.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No HPatches folder at {str(root)!r}.")
    sequences = [root] if _is_sequence(root) else sorted(p for p in root.iterdir() if _is_sequence(p))
    pairs = [pair for seq in sequences for pair in read_hpatches_sequence(seq)]
    if not pairs:
        raise FileNotFoundError(
            f"No HPatches pairs under {str(root)!r}: expected <sequence>/1.ppm ... 6.ppm and H_1_k files."
        )
    return pairs
