"""The official LightGlue README's usage code runs unchanged against this package.

The snippets below are quoted from the official README (and the ``viz2d`` calls of its demo
notebook) to test compatibility. The only edits: SuperPoint is replaced by ALIKED (SuperPoint's
weights are not on this machine), the placeholder image paths name real files, and on a machine
without a GPU ``.cuda()`` is the identity. Matches are checked against the ground-truth
disparity of the bundled stereo pair.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from lightglue.sample_data import disparity_errors, stereo_motorcycle

README_USAGE = """
from lightglue import LightGlue, SuperPoint, DISK, SIFT, ALIKED, DoGHardNet
from lightglue.utils import load_image, rbd

# SuperPoint+LightGlue
extractor = SuperPoint(max_num_keypoints=2048).eval().cuda()  # load the extractor
matcher = LightGlue(features='superpoint').eval().cuda()  # load the matcher

# or DISK+LightGlue, ALIKED+LightGlue or SIFT+LightGlue
extractor = DISK(max_num_keypoints=2048).eval().cuda()  # load the extractor
matcher = LightGlue(features='disk').eval().cuda()  # load the matcher

# load each image as a torch.Tensor on GPU with shape (3,H,W), normalized in [0,1]
image0 = load_image('path/to/image_0.jpg').cuda()
image1 = load_image('path/to/image_1.jpg').cuda()

# extract local features
feats0 = extractor.extract(image0)  # auto-resize the image, disable with resize=None
feats1 = extractor.extract(image1)

# match the features
matches01 = matcher({'image0': feats0, 'image1': feats1})
feats0, feats1, matches01 = [rbd(x) for x in [feats0, feats1, matches01]]  # remove batch dimension
matches = matches01['matches']  # indices with shape (K,2)
points0 = feats0['keypoints'][matches[..., 0]]  # coordinates in image #0, shape (K,2)
points1 = feats1['keypoints'][matches[..., 1]]  # coordinates in image #1, shape (K,2)
"""

README_MATCH_PAIR = """
from lightglue import match_pair
feats0, feats1, matches01 = match_pair(extractor, matcher, image0, image1)
"""

README_OPTIONS = """
extractor = SuperPoint(max_num_keypoints=None)
matcher = LightGlue(features='superpoint', depth_confidence=-1, width_confidence=-1)
extractor = SuperPoint(max_num_keypoints=1024)
matcher = LightGlue(features='superpoint', depth_confidence=0.9, width_confidence=0.95)
"""

README_COMPILE = """
matcher = matcher.eval().cuda()
matcher.compile(mode='reduce-overhead')
"""

DEMO_VIZ2D = """
from lightglue import viz2d
kpts0, kpts1, matches = feats0["keypoints"], feats1["keypoints"], matches01["matches"]
m_kpts0, m_kpts1 = kpts0[matches[..., 0]], kpts1[matches[..., 1]]

axes = viz2d.plot_images([image0, image1])
viz2d.plot_matches(m_kpts0, m_kpts1, color="lime", lw=0.2)
viz2d.add_text(0, f'Stop after {matches01["stop"]} layers', fs=20)
viz2d.save_plot(out_dir / "matches.png")

kpc0, kpc1 = viz2d.cm_prune(matches01["prune0"]), viz2d.cm_prune(matches01["prune1"])
viz2d.plot_images([image0, image1])
viz2d.plot_keypoints([kpts0, kpts1], colors=[kpc0, kpc1], ps=10)
viz2d.save_plot(out_dir / "pruning.png")
"""


def adapt(code: str, paths: list[str]) -> str:
    """The only edits: ALIKED for SuperPoint, real files for the placeholder paths."""
    code = code.replace("SuperPoint(", "ALIKED(").replace("features='superpoint'", "features='aliked'")
    return code.replace("path/to/image_0.jpg", paths[0]).replace("path/to/image_1.jpg", paths[1])


@pytest.fixture
def no_gpu_cuda_is_identity(monkeypatch):
    if not torch.cuda.is_available():
        monkeypatch.setattr(torch.nn.Module, "cuda", lambda self, device=None: self)
        monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)


@pytest.fixture
def readme_run(tmp_path, no_gpu_cuda_is_identity):
    """Runs the README's usage code on the bundled stereo pair; returns its scope and the disparity."""
    left, right, disparity = stereo_motorcycle()
    paths = [str(tmp_path / "image_0.jpg"), str(tmp_path / "image_1.jpg")]
    for path, image in zip(paths, (left, right)):
        cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
    scope: dict = {"out_dir": tmp_path}
    torch.set_grad_enabled(False)
    try:
        exec(adapt(README_USAGE, paths), scope)
        yield scope, paths, disparity
    finally:
        torch.set_grad_enabled(True)


def test_official_readme_code_runs_unchanged(readme_run, tmp_path):
    scope, paths, disparity = readme_run
    points0, points1 = scope["points0"], scope["points1"]
    assert points0.shape == points1.shape and points0.shape[0] > 300
    errors = disparity_errors(points0.numpy(), points1.numpy(), disparity)
    known = np.isfinite(errors)
    assert known.sum() > 200 and (errors[known] < 1.0).mean() > 0.8

    exec(adapt(DEMO_VIZ2D, paths), scope)
    for name in ("matches.png", "pruning.png"):
        assert cv2.imread(str(tmp_path / name)) is not None

    exec(adapt(README_OPTIONS, paths), scope)
    assert scope["matcher"].conf.depth_confidence == 0.9 and scope["extractor"].conf.max_num_keypoints == 1024
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(adapt(README_COMPILE, paths), scope)
    assert any("point pruning" in str(w.message) for w in caught)  # as the official one warns


@pytest.mark.slow
def test_official_readme_match_pair_gives_the_same_matches(readme_run):
    scope, paths, _ = readme_run
    first = scope["matches"]
    exec(adapt(README_MATCH_PAIR, paths), scope)
    assert torch.equal(scope["matches01"]["matches"], first) and len(first) > 300
