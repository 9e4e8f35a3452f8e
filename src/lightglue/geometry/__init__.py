"""Two-view geometry: homography and relative-pose estimation, their errors, conversions.

All functions work on NumPy arrays in float64: keypoints ``[S, 2]`` in pixels, homographies
and intrinsics ``[3, 3]``, rigid transforms ``[4, 4]``; angles are in degrees.
"""

from lightglue.geometry.errors import (
    epipolar_errors,
    homography_corner_error,
    homography_transfer_errors,
    relative_pose_error,
    rotation_angle_error,
    translation_angle_error,
)
from lightglue.geometry.homography import HOMOGRAPHY_ESTIMATORS, estimate_homography, homography_dlt
from lightglue.geometry.pose import POSE_ESTIMATORS, RelativePose, estimate_relative_pose
from lightglue.geometry.transforms import (
    from_homogeneous,
    normalize_points,
    relative_transform,
    rotate_intrinsics,
    rotate_pose_inplane,
    scale_homography,
    scale_intrinsics,
    to_homogeneous,
    warp_points,
)

__all__ = [
    "HOMOGRAPHY_ESTIMATORS",
    "POSE_ESTIMATORS",
    "RelativePose",
    "epipolar_errors",
    "estimate_homography",
    "estimate_relative_pose",
    "from_homogeneous",
    "homography_corner_error",
    "homography_dlt",
    "homography_transfer_errors",
    "normalize_points",
    "relative_pose_error",
    "relative_transform",
    "rotate_intrinsics",
    "rotate_pose_inplane",
    "rotation_angle_error",
    "scale_homography",
    "scale_intrinsics",
    "to_homogeneous",
    "translation_angle_error",
    "warp_points",
]
