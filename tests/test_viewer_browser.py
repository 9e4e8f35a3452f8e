"""The viewer's pages in a real browser: headless Chromium, WebGL in software, no network.

Chromium comes from the system (Debian's ``chromium`` package, which ``scripts/setup.sh``
installs when run as root); when it is missing the session fixture installs it with
apt-get if it can, and the tests are skipped, saying why, only when it cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from test_viewer import synthetic, synthetic_model, workdir  # noqa: F401  (fixtures: a synthetic working folder)

from lightglue.cli import main
from lightglue.collection.pairs import exhaustive_pairs
from lightglue.collection.viewer_matches import write_matches_html
from lightglue.collection.viewer_reconstruction import write_reconstruction_html
from lightglue.collection.viewer_snapshot import find_chromium, page_requests, screenshot

DATA = Path(__file__).parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"
SIZE = (1200, 800)


def _apt_install_chromium() -> str | None:
    """Install Debian's chromium with apt-get when running as root; its path, or None."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    for command in (install, ["apt-get", "update", "-q"], install):
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=900, check=False)
        except subprocess.TimeoutExpired:
            return None
        if find_chromium():
            return find_chromium()
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    found = find_chromium() or _apt_install_chromium()
    if found is None:
        pytest.skip("Chromium is missing and could not be installed (needs root and apt-get): "
                    "run 'apt-get install -y chromium' or scripts/setup.sh as root.")
    return found


def colour_counts(png: Path) -> dict[str, float]:
    """Pixel statistics of the plot area of a screenshot (below the header, clear of legend and toolbar)."""
    image = cv2.imread(str(png))[:, :, ::-1].astype(np.int32)  # RGB
    area = image[140:620, 130:1150]
    r, g, b = area[..., 0], area[..., 1], area[..., 2]
    return {
        "std": float(area.mean(axis=2).std()),
        "red": int(((r > 150) & (g < 90) & (b < 90)).sum()),  # camera frusta (#d62728)
        "blue": int(((b > 150) & (r < 90) & (g < 120)).sum()),  # the synthetic points (20, 60, 230)
        "green": int(((g > 150) & (r < 100) & (b < 120)).sum()),  # inlier match lines
    }


def test_network_log_catches_a_page_that_loads_remote_urls(chromium, tmp_path):
    page = tmp_path / "remote.html"
    page.write_text('<img src="https://example.com/x.png"><script>fetch("http://example.org/y.js")</script>')
    screenshot(page, tmp_path / "remote.png", 400, 300, budget_ms=1000, netlog=tmp_path / "net.json",
               chromium=chromium)
    assert page_requests(tmp_path / "net.json") == ["http://example.org/y.js", "https://example.com/x.png"]


def test_reconstruction_page_draws_points_and_cameras_offline(chromium, tmp_path):
    rec = synthetic_model()
    for point_id in rec.point3D_ids():
        rec.point3D(point_id).color = np.array([20, 60, 230], np.uint8)
    page = write_reconstruction_html(rec, tmp_path / "reconstruction.html")
    png = screenshot(page, tmp_path / "shot.png", *SIZE, netlog=tmp_path / "net.json", chromium=chromium)
    counts = colour_counts(png)
    assert counts["std"] > 5, counts  # not a blank canvas
    assert counts["blue"] > 300, counts  # the points, drawn by WebGL
    assert counts["red"] > 50, counts  # the camera pyramids
    assert page_requests(tmp_path / "net.json") == []


def test_matches_page_draws_the_first_pair_offline(chromium, tmp_path, workdir):  # noqa: F811
    root, names = workdir
    page = write_matches_html(tmp_path / "matches.html", root / "features.h5", root / "matches.h5",
                              exhaustive_pairs(names), root / "images", root / "viewer.db")
    png = screenshot(page, tmp_path / "shot.png", *SIZE, budget_ms=2000, netlog=tmp_path / "net.json",
                     chromium=chromium)
    image = cv2.imread(str(png))[:, :, ::-1].astype(np.int32)
    view = image[150:650, 480:1180]  # right of the pair list: the two images and the match lines
    green = ((view[..., 1] > 150) & (view[..., 0] < 100) & (view[..., 2] < 120)).sum()
    assert green > 2000, green
    assert page_requests(tmp_path / "net.json") == []


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")
def test_sacre_coeur_reconstruction_page_in_chromium(chromium, tmp_path):
    out = tmp_path / "sacre_coeur"
    args = ["reconstruct", str(DATA), "--out", str(out), "--max-keypoints", "1024", "--resize", "1024", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_registered"] == 10
    assert (out / "matches.html").is_file()
    page = (out / "reconstruction.html").read_text()
    assert "<dd>10 / 10</dd>" in page and f"<dd>{summary['num_points3D']:,}</dd>" in page
    png = screenshot(out / "reconstruction.html", tmp_path / "shot.png", *SIZE, netlog=tmp_path / "net.json",
                     chromium=chromium)
    counts = colour_counts(png)
    assert counts["std"] > 5, counts
    assert counts["red"] > 100, counts
    assert page_requests(tmp_path / "net.json") == []
