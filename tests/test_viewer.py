"""The viewer's pages and the framed PNG, on synthetic models and a synthetic working folder (no browser)."""

from __future__ import annotations

import base64
import json
import re

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from test_collection_colmap import synthetic  # noqa: F401  (the synthetic working folder, a fixture)

from lightglue.cli import main
from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.colmap_db import build_database
from lightglue.collection.matches_h5 import read_matches
from lightglue.collection.pairs import exhaustive_pairs
from lightglue.collection.render import render_reconstruction
from lightglue.collection.scene import frustum_lines, robust_inliers, scene_from_reconstruction, view_axes
from lightglue.collection.viewer_matches import matches_page
from lightglue.collection.viewer_reconstruction import reconstruction_page

CSP_NONE = '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
FAR = np.array([[80.0, 0.0, 0.0], [0.0, -90.0, 10.0], [60.0, 60.0, 60.0]])  # planted far from the unit cube


def synthetic_model(num_points: int = 300, seed: int = 0) -> pycolmap.Reconstruction:
    """6 cameras around ``num_points`` points in the unit cube (pycolmap's synthetic scene), plus 3 far points."""
    pycolmap.set_random_seed(seed)
    opts = pycolmap.SyntheticDatasetOptions(
        num_rigs=1, num_cameras_per_rig=1, num_frames_per_rig=6, num_points3D=num_points
    )
    rec = pycolmap.synthesize_dataset(opts)
    for xyz in FAR:
        rec.add_point3D(xyz, pycolmap.Track(), np.array([255, 0, 0], np.uint8))
    return rec


def page_data(page: str, script_id: str) -> dict:
    match = re.search(rf'<script id="{script_id}" type="application/json">(.*?)</script>', page, re.S)
    assert match, f"no {script_id} in the page"
    return json.loads(match.group(1))


def decode(b64: str, dtype: str, width: int = 1) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(b64), dtype=dtype)
    return values.reshape(-1, width) if width > 1 else values


def remote_references(page: str) -> list[str]:
    """src/href/url() values and <script src>/<link>/<iframe> tags that would fetch something remote."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]*)""", page, re.I)
    refs += re.findall(r"""url\(\s*["']?((?:https?:)?//[^"')]*)""", page, re.I)
    refs += re.findall(r"<(?:script[^>]*\ssrc|link|iframe)\b[^>]*>", page, re.I)
    return refs


def test_robust_inliers_drop_only_far_points():
    rng = np.random.default_rng(0)
    xyz = np.concatenate([rng.normal(size=(2000, 3)) * [5.0, 1.0, 0.3], FAR])
    mask = robust_inliers(xyz)
    assert not mask[-3:].any()
    assert mask[:-3].mean() > 0.99
    assert robust_inliers(FAR).all()  # too few points to tell


def test_view_axes_look_at_a_facade_upright_from_the_cameras():
    rng = np.random.default_rng(1)
    facade = rng.uniform(-1, 1, (500, 3)) * [10.0, 3.0, 0.05]  # wide in x, high in y, thin in z
    # cameras at z > 0 looking down -z, image y (down) = world -y: world up is +y
    world_from_cam = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    rotations = np.repeat(world_from_cam[None], 4, 0)
    axes = view_axes(facade, rotations)
    np.testing.assert_allclose(np.abs(axes @ axes.T), np.eye(3), atol=1e-9)
    np.testing.assert_allclose(axes, [[1, 0, 0], [0, 1, 0], [0, 0, -1]], atol=0.02)  # right, up, forward


def test_frusta_reach_the_asked_depth_along_each_viewing_direction():
    scene = scene_from_reconstruction(synthetic_model())
    segments = frustum_lines(scene, depth=0.7)
    assert segments.shape == (6, 8, 2, 3)
    np.testing.assert_allclose(segments[:, :4, 0], np.repeat(scene.centres[:, None], 4, 1))
    along = np.einsum("cki,ci->ck", segments[:, :4, 1] - scene.centres[:, None], scene.rotations[:, :, 2])
    np.testing.assert_allclose(along, 0.7)
    np.testing.assert_allclose(segments[:, 4:, 0], segments[:, :4, 1])  # the rim joins the 4 corners


def test_reconstruction_page_is_self_contained_with_points_cameras_outliers_and_figures():
    rec = synthetic_model()
    page = reconstruction_page(rec, title="Synthetic <scene>")
    data = page_data(page, "scene-data")
    scene = scene_from_reconstruction(rec)
    inliers = robust_inliers(scene.xyz)
    shown = decode(data["inliers"]["xyz"], "<f4", 3)
    hidden = decode(data["outliers"]["xyz"], "<f4", 3)
    assert len(shown) == inliers.sum() == 300 and len(hidden) == 3
    # the page's frame is the model's, moved and rotated (distances and handedness kept)
    orig = scene.xyz[inliers][:50]
    np.testing.assert_allclose(
        np.linalg.norm(np.diff(shown[:50], axis=0), axis=1), np.linalg.norm(np.diff(orig, axis=0), axis=1),
        rtol=1e-4, atol=1e-5,
    )
    triple = lambda p: np.linalg.det(p[1:4] - p[0])  # noqa: E731
    assert np.sign(triple(shown)) == np.sign(triple(orig))
    assert np.linalg.norm(hidden, axis=1).min() > 50
    np.testing.assert_array_equal(decode(data["inliers"]["rgb"], "u1", 3), scene.rgb[inliers])
    np.testing.assert_array_equal(decode(data["inliers"]["track"], "<u2"), scene.track_length[inliers])
    assert data["cameras"]["names"] == sorted(rec.image(i).name for i in rec.reg_image_ids())
    assert len(data["cameras"]["frusta"]) == 6 and len(data["cameras"]["frusta"][0]) == 8 * 2 * 3
    # header figures, the toggle, outliers hidden by default
    assert "<title>Synthetic &lt;scene&gt;</title>" in page
    assert "<dt>images registered</dt><dd>6 / 6</dd>" in page
    assert "<dt>3D points</dt><dd>303</dd>" in page
    assert f"<dd>{rec.compute_mean_reprojection_error():.3f} px</dd>" in page
    assert 'id="show-outliers"' in page and "(3 points far from the bulk)" in page
    assert 'pointTrace(data.outliers, "outliers", "legendonly")' in page
    assert "random subset" not in page
    # plotly.js inlined verbatim; our markup and data reference nothing remote; the browser may fetch nothing
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()) == 1 and "Plotly.newPlot" in page
    assert remote_references(page.replace(get_plotlyjs(), "")) == []
    assert CSP_NONE in page
    assert "{{" not in page.split("<script>", 1)[0]


def test_remote_reference_check_finds_what_it_should():
    assert remote_references('<img src="https://x.org/a.png"><link rel=stylesheet href="s.css">') == [
        "https://x.org/a.png", '<link rel=stylesheet href="s.css">'
    ]
    assert remote_references("<script src='//cdn.x/p.js'></script>")[0] == "//cdn.x/p.js"


def test_large_model_is_subsampled_and_says_so():
    rec = synthetic_model(num_points=400)
    page = reconstruction_page(rec, max_points=100)
    data = page_data(page, "scene-data")
    counts = [len(decode(data[g]["track"], "<u2")) for g in ("inliers", "outliers")]
    assert sum(counts) == 100
    assert "showing a random subset of 100 of its 403 points (point budget 100)" in page
    with pytest.raises(ValueError, match="max_points"):
        reconstruction_page(rec, max_points=0)


def test_png_is_framed_on_the_bulk(tmp_path):
    png = render_reconstruction(synthetic_model(), tmp_path / "rec.png")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] > image.shape[0]
    # the points fill their panel: coloured (non-white) pixels over a good part of the front view
    h, w = image.shape[:2]
    front = image[int(0.15 * h) : int(0.9 * h), int(0.03 * w) : w // 3]
    assert (front.min(axis=2) < 200).mean() > 0.012  # 0.006 when framed on all points
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def workdir(synthetic):  # noqa: F811
    """The synthetic working folder with images on disk and a verified database."""
    root, names = synthetic
    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    for name in names:
        assert cv2.imwrite(str(root / "images" / name), rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8))
    build_database(root / "viewer.db", root / "features.h5", root / "matches.h5", exhaustive_pairs(names))
    return root, names


def test_matches_page_lists_every_pair_with_matches_and_inliers(workdir):
    root, names = workdir
    pairs = exhaustive_pairs(names)
    page = matches_page(root / "features.h5", root / "matches.h5", pairs, root / "images", root / "viewer.db")
    data = page_data(page, "match-data")
    assert len(data["pairs"]) == 15 and data["hasDatabase"]
    with h5py.File(root / "matches.h5", "r") as f, pycolmap.Database.open(root / "viewer.db") as db:
        ids = {im.name: im.image_id for im in db.read_all_images()}
        for row in data["pairs"]:
            matches, _ = read_matches(f, row["name0"], row["name1"])
            assert row["matches"] == len(matches)
            geometry = db.read_two_view_geometry(ids[row["name0"]], ids[row["name1"]])
            assert row["inliers"] == len(geometry.inlier_matches) > 0
            mask = decode(row["inlierMask"], "u1")
            assert mask.sum() == row["inliers"] and len(mask) == row["matches"]
    inliers = [r["inliers"] for r in data["pairs"]]
    assert inliers == sorted(inliers, reverse=True)
    # drawn keypoints are those of features.h5, matched
    row = data["pairs"][0]
    with h5py.File(root / "features.h5", "r") as ff, h5py.File(root / "matches.h5", "r") as f:
        matches, _ = read_matches(f, row["name0"], row["name1"])
        np.testing.assert_allclose(decode(row["kpts0"], "<f4", 2), ff[row["name0"]]["keypoints"][()][matches[:, 0]])
        np.testing.assert_allclose(decode(row["kpts1"], "<f4", 2), ff[row["name1"]]["keypoints"][()][matches[:, 1]])
    image = data["images"][names[0]]
    assert image["size"] == [1024, 768]
    jpeg = cv2.imdecode(np.frombuffer(base64.b64decode(image["uri"].split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert image["uri"].startswith("data:image/jpeg;base64,") and jpeg.shape == (480, 640, 3)
    assert remote_references(page) == [] and CSP_NONE in page


def test_matches_page_caps_what_it_embeds_and_says_so(workdir):
    root, names = workdir
    pairs = exhaustive_pairs(names)
    page = matches_page(root / "features.h5", root / "matches.h5", pairs, root / "images", root / "viewer.db",
                        max_pairs=10, max_images=3, image_side=200)
    data = page_data(page, "match-data")
    drawable = [r for r in data["pairs"] if "kpts0" in r]
    assert len(data["images"]) == 3 and len(drawable) == 3  # 3 images make 3 pairs
    assert {n for r in drawable for n in (r["name0"], r["name1"])} == set(data["images"])
    assert "15 matched pairs, 3 of them drawable" in page and "at most 3 images" in page
    assert len(page) < 200_000
    no_db = page_data(matches_page(root / "features.h5", root / "matches.h5", pairs, root / "images"), "match-data")
    assert all(r["inliers"] is None and "inlierMask" not in r for r in no_db["pairs"])


def test_view_verb_builds_the_page_and_prints_its_path_without_a_display(tmp_path, monkeypatch):
    import webbrowser

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: pytest.fail("no display: nothing to open"))
    (tmp_path / "sparse").mkdir()
    synthetic_model().write(tmp_path / "sparse")
    result = CliRunner().invoke(main, ["view", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "reconstruction.html")
    assert "<dd>6 / 6</dd>" in (tmp_path / "reconstruction.html").read_text()
    result = CliRunner().invoke(main, ["view", str(tmp_path), "--matches"])
    assert result.exit_code != 0 and "--images" in result.output
    result = CliRunner().invoke(main, ["view", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
