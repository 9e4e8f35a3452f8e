"""Ground-truth correspondences for training pairs (homography, depth + pose, COLMAP model).

Every function takes batched float keypoints ``[B, M, 2]`` / ``[B, N, 2]`` (pixels, x y) and
returns ``gt_matches0 [B, M]``, ``gt_matches1 [B, N]`` (partner index, -1 unmatchable,
-2 ignored) and ``gt_assignment [B, M, N]`` (bool, one-to-one), plus function-specific keys.
"""

from lightglue.training.groundtruth.colmap import gt_from_colmap
from lightglue.training.groundtruth.depth import gt_from_depth
from lightglue.training.groundtruth.homography import gt_from_homography
from lightglue.training.groundtruth.labels import IGNORE, UNMATCHED

__all__ = ["IGNORE", "UNMATCHED", "gt_from_colmap", "gt_from_depth", "gt_from_homography"]
