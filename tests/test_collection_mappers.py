"""``--mapper incremental|global``: a clear error without pycolmap's global mapper, and a real
global (GLOMAP) reconstruction of the Sacre Coeur photos where pycolmap has it;
``--mapper-threads`` reaches pycolmap's options."""

from __future__ import annotations

import json
import types
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from collection_helpers import texture
from lightglue.cli import main
from lightglue.collection import mappers
from lightglue.collection._pycolmap import pycolmap

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"


def test_unknown_or_missing_mapper_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(mappers.MapperUnavailableError, match="Unknown mapper 'hierarchical'"):
        mappers.check_mapper("hierarchical")
    mappers.check_mapper("incremental")
    old = types.SimpleNamespace(__version__="3.10.0")  # a pycolmap without global_mapping
    monkeypatch.setattr(mappers, "pycolmap", old)
    with pytest.raises(mappers.MapperUnavailableError, match=r"pycolmap 3\.10\.0 has no global mapper"):
        mappers.check_mapper("global")
    (tmp_path / "photos").mkdir()  # empty: the mapper is checked before the images are listed
    result = CliRunner().invoke(main, ["reconstruct", str(tmp_path / "photos"), "--out", str(tmp_path / "out"),
                                       "--mapper", "global", "-q"])
    assert result.exit_code == 1 and "no global mapper" in result.output and "--mapper incremental" in result.output
    result = CliRunner().invoke(main, ["reconstruct", str(tmp_path / "photos"), "--out", str(tmp_path / "o"),
                                       "--mapper", "glomap"])
    assert result.exit_code == 2 and "'glomap' is not one of" in result.output


def test_mapper_threads_reach_pycolmaps_options(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        cv2.imwrite(str(photos / f"img{i}.png"), texture(i))
    seen = []

    def fake_incremental_mapping(db_path, image_dir, work_dir, options):
        seen.append((options.num_threads, options.random_seed))
        return {}  # no model: the CLI says so and exits 1

    fake = types.SimpleNamespace(IncrementalPipelineOptions=pycolmap.IncrementalPipelineOptions,
                                 incremental_mapping=fake_incremental_mapping)
    monkeypatch.setattr(mappers, "pycolmap", fake)
    args = ["reconstruct", str(photos), "--out", str(tmp_path / "out"), "--max-keypoints", "128", "--resize", "320",
            "-q"]
    for extra, threads in (([], -1), (["--mapper-threads", "1"], 1), (["--mapper-threads", "3"], 3)):
        result = CliRunner().invoke(main, args + extra)
        assert result.exit_code == 1 and "No model could be reconstructed" in result.output, result.output
        assert seen.pop() == (threads, 0)
    assert not seen
    result = CliRunner().invoke(main, args + ["--mapper-threads", "0"])
    assert result.exit_code == 2 and "--mapper-threads" in result.output
    assert not seen


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")
@pytest.mark.skipif(not hasattr(pycolmap, "global_mapping"), reason="this pycolmap has no global mapper")
def test_global_mapper_reconstructs_the_sacre_coeur(tmp_path):
    args = ["reconstruct", str(DATA), "--out", str(tmp_path), "--max-keypoints", "1024", "--mapper", "global", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["num_registered"] >= 9, summary
    assert summary["num_points3D"] > 500 and summary["mean_reprojection_error"] < 2.0
    assert pycolmap.Reconstruction(tmp_path / "sparse").num_reg_images() == summary["num_registered"]
