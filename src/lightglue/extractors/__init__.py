"""Local feature extractors behind one :class:`Extractor` API (official LightGlue names).

Example::

    from lightglue.extractors import ALIKED
    from lightglue.image import load_image
    feats = ALIKED(max_num_keypoints=2048).extract(load_image("a.jpg"))
    feats["keypoints"]  # [1, N, 2] pixels of a.jpg
"""

from .aliked import ALIKED
from .base import Extractor
from .disk import DISK
from .dog_hardnet import DoGHardNet
from .sift import SIFT
from .superpoint import SuperPoint

EXTRACTORS: dict[str, type[Extractor]] = {
    "aliked": ALIKED,
    "disk": DISK,
    "doghardnet": DoGHardNet,
    "sift": SIFT,
    "superpoint": SuperPoint,
}
"""The extractor paired with each LightGlue feature preset of the same name."""

__all__ = ["ALIKED", "DISK", "DoGHardNet", "EXTRACTORS", "SIFT", "Extractor", "SuperPoint"]
