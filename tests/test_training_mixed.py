"""Training on two sources at once (``[data.mix]``): the share of each, collation of mixed
batches, configuration errors, and ``lightglue train`` on homography pairs mixed with
rendered posed scenes."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from test_training_cli import TINY_TOML, write_photos
from training_pairs import SyntheticPairs

from lightglue.cli import main
from lightglue.training.config import ConfigError, load_config
from lightglue.training.data.mixed import MixedPairs
from lightglue.training.data.scenes import render_scenes
from lightglue.training.history import read_log
from lightglue.training.trainer import build_datasets


def test_share_and_source_of_each_pair():
    primary, secondary = SyntheticPairs(n=6, k=16, seed=0), SyntheticPairs(n=3, k=16, seed=1)
    mixed = MixedPairs(primary, secondary, share=0.25)  # 6 primary pairs are 75 %: 2 secondary
    assert len(mixed) == 8
    assert [mixed.source(i)[1] for i in range(8)] == [0, 1, 2, 3, 4, 5, 0, 1]
    assert mixed.source(5)[0] is primary and mixed.source(6)[0] is secondary
    assert torch.equal(mixed[7]["keypoints0"], secondary[1]["keypoints0"])
    many = MixedPairs(primary, secondary, share=0.75)  # 18 secondary pairs: the 3 repeated
    assert len(many) == 24 and [many.source(i)[1] for i in range(6, 12)] == [0, 1, 2, 0, 1, 2]
    with pytest.raises(IndexError):
        many.source(24)
    for share in (0.0, 1.0):
        with pytest.raises(ValueError, match="share"):
            MixedPairs(primary, secondary, share)
    with pytest.raises(ValueError, match="at least one pair"):
        MixedPairs(primary, SyntheticPairs(n=0), 0.5)


def test_a_mixed_batch_keeps_the_keys_both_kinds_have():
    homography = {"keypoints0": torch.zeros(4, 2), "H_0to1": torch.eye(3), "name": "a"}
    posed = {"keypoints0": torch.ones(4, 2), "K0": torch.eye(3), "T_0to1": torch.eye(4), "name": "b"}
    batch = MixedPairs.collate([homography, posed])
    assert set(batch) == {"keypoints0", "names"}
    assert batch["keypoints0"].shape == (2, 4, 2) and batch["names"] == ["a", "b"]
    assert "H_0to1" in MixedPairs.collate([homography, homography])


def _write(tmp_path, photos, mix: str, name: str = "mixed.toml"):
    path = tmp_path / name
    path.write_text(TINY_TOML.format(root=photos, steps=2) + mix)
    return path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.mix.kind=nerf", "data.mix.share=0.5"], "data.mix.kind must be one of"),
        (["data.mix.kind=megadepth", "data.mix.share=1.0"], "data.mix.share must be a number in"),
        (["data.mix.kind=megadepth", "data.mix.share=true"], "data.mix.share must be a number in"),
        (["data.mix.kind=megadepth"], "data.mix.share must be a number in"),
        (["data.mix=3"], "data.mix must be a table"),
    ],
)
def test_bad_mix_tables_are_clear_errors(tmp_path, overrides, message):
    path = _write(tmp_path, tmp_path, "")
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides)


def test_train_on_homographies_mixed_with_rendered_scenes(tmp_path):
    photos = write_photos(tmp_path / "photos", 10)
    scenes = tmp_path / "scenes"
    list(render_scenes(photos, scenes, scenes=2, views=3, seed=0, image_size=(320, 240), val_fraction=0.3))
    mix = f"""
[data.mix]
kind = "megadepth"
share = 0.5
root = "{scenes}"
num_keypoints = 48
resize = 320
pairs_per_scene = 6
min_overlap = 0.02
max_overlap = 1.0
"""
    config_file = _write(tmp_path, photos, mix)
    train_set, val_set = build_datasets(load_config(config_file))
    assert isinstance(train_set, MixedPairs) and len(train_set) == 2 * len(train_set.primary)
    assert "H_0to1" in train_set[0] and "T_0to1" in train_set[len(train_set.primary)]
    assert val_set is not None and "H_0to1" in val_set[0]  # validation: the first source
    # an option the second source does not take is named
    bad = _write(tmp_path, photos, mix.replace("resize = 320", "resise = 320"), "bad.toml")
    result = CliRunner().invoke(main, ["train", str(bad), "--out", str(tmp_path / "bad"), "--no-progress"])
    assert result.exit_code == 1 and "'data.mix.resise'; did you mean 'data.mix.resize'?" in result.output
    result = CliRunner().invoke(main, ["train", str(config_file), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    records = [r for r in read_log(tmp_path / "run" / "log.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in records] == [1, 2] and all(r["loss"] > 0 for r in records)
    assert (tmp_path / "run" / "weights.pth").is_file()
    # resuming: the second source's settings are fixed by the checkpoint, its cache folder is not
    run = ["train", str(config_file), "--out", str(tmp_path / "run"), "--resume", "--no-progress", "train.steps=3"]
    result = CliRunner().invoke(main, [*run, "data.mix.share=0.25"])
    assert result.exit_code == 1 and "data.mix.share" in result.output
    result = CliRunner().invoke(main, [*run, f"data.mix.cache_dir={tmp_path / 'cache2'}"])
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in read_log(tmp_path / "run" / "log.jsonl") if r["kind"] == "train"] == [1, 2, 3]
