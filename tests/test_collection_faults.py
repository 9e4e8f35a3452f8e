"""The collection under faults and bad input: colliding pair keys, names hloc's pairs format
cannot hold, damaged records, concurrent runs, a full disk, too few images, failed mapping."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from collection_helpers import ENV, synthetic_features, texture
from lightglue.cli import main
from lightglue.collection import h5store
from lightglue.collection._pycolmap import pycolmap
from lightglue.collection.colmap_db import build_database
from lightglue.collection.extract import list_images
from lightglue.collection.fingerprint import HASH_ATTR, file_sha256
from lightglue.collection.h5store import item_keys
from lightglue.collection.match import match_collection
from lightglue.collection.matches_h5 import (
    DamagedRecordError,
    find_pair,
    hloc_key_collisions,
    match_record,
    names_to_pair,
    read_matches,
)
from lightglue.collection.pairs import QUOTED_HEADER, exhaustive_pairs, read_pairs, write_pairs
from lightglue.collection.pipeline import reconstruct_collection
from lightglue.collection.presets import get_preset

PRESET = get_preset("aliked+lightglue", max_keypoints=64)
SACRE_COEUR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sacre_coeur" / "mapping"


def _matches(path: Path, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:
    with h5py.File(path, "r") as f:
        return {p: read_matches(f, *p)[0] for p in pairs}


def test_pairs_whose_hloc_keys_collide_each_get_their_own_record(tmp_path):
    names = synthetic_features(tmp_path / "features.h5", n=64, names=["a.jpg", "sub-c.jpg", "sub/c.jpg"])
    assert hloc_key_collisions(names) == [["sub-c.jpg", "sub/c.jpg"]]
    pairs = exhaustive_pairs(names)
    assert names_to_pair(*pairs[0]) == names_to_pair(*pairs[1])  # hloc's keys cannot tell them apart
    report = match_collection(tmp_path / "features.h5", pairs, tmp_path / "matches.h5", PRESET, 1, progress=False)
    assert report.matched == 3
    got = _matches(tmp_path / "matches.h5", pairs)
    # The same features under names that do not collide: the same matches, pair by pair.
    ref = tmp_path / "ref"
    plain = synthetic_features(ref / "features.h5", n=64, names=["a.jpg", "x.jpg", "y.jpg"])
    match_collection(ref / "features.h5", exhaustive_pairs(plain), ref / "matches.h5", PRESET, 1, progress=False)
    expected = _matches(ref / "matches.h5", exhaustive_pairs(plain))
    for pair, ref_pair in zip(pairs, exhaustive_pairs(plain), strict=True):
        np.testing.assert_array_equal(got[pair], expected[ref_pair], err_msg=str(pair))
    assert len(got[pairs[0]]) > 10 and not np.array_equal(got[pairs[0]], got[pairs[1]])
    with h5py.File(tmp_path / "matches.h5", "r") as f:
        assert f.attrs["lightglue_pair_keys"] == "quoted"
        assert find_pair(f, "a.jpg", "sub/c.jpg") == ("a.jpg/sub%2Fc.jpg", False)
        assert find_pair(f, "sub-c.jpg", "a.jpg") == ("a.jpg/sub%2Dc.jpg", True)
    with h5py.File(ref / "matches.h5", "r") as f:  # no collision: hloc's keys, as hloc reads them
        assert f.attrs["lightglue_pair_keys"] == "hloc" and set(f["a.jpg"]) == {"x.jpg", "y.jpg"}
    again = match_collection(tmp_path / "features.h5", pairs, tmp_path / "matches.h5", PRESET, 1, progress=False)
    assert again.matched == 0

    # A file in hloc's keys that a new image name would make ambiguous is refused, never mixed up.
    old = tmp_path / "old"
    store = h5store.H5Store(old / "matches.h5", {"lightglue_matcher": PRESET.matcher_fingerprint()})
    store.append([match_record("a.jpg", "sub/c.jpg", -np.ones(64), np.zeros(64))])
    store.consolidate()
    with pytest.raises(ValueError, match="cannot tell apart the images 'sub-c.jpg' and 'sub/c.jpg'"):
        match_collection(tmp_path / "features.h5", pairs, old / "matches.h5", PRESET, progress=False)


def test_names_with_spaces_and_hashes_round_trip_through_pairs_files(tmp_path):
    plain = [("a.jpg", "dir/b#1.jpg"), ("100%.jpg", "a.jpg")]
    write_pairs(plain, tmp_path / "plain.txt")  # hloc's format holds these as they are
    assert (tmp_path / "plain.txt").read_text() == "a.jpg dir/b#1.jpg\n100%.jpg a.jpg\n"
    assert read_pairs(tmp_path / "plain.txt") == plain
    odd = ["my photo 1.jpg", "#2.jpg", "tab\there.jpg", "100%.jpg", "é ü.png", "plain.jpg"]
    write_pairs(exhaustive_pairs(odd), tmp_path / "odd.txt")
    text = (tmp_path / "odd.txt").read_text(encoding="utf-8")
    assert text.startswith(QUOTED_HEADER + "\n") and "my%20photo%201.jpg %232.jpg\n" in text
    assert read_pairs(tmp_path / "odd.txt") == exhaustive_pairs(odd)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        write_pairs([("a.jpg", "bad\udcff.jpg")], tmp_path / "bad.txt")
    assert not (tmp_path / "bad.txt").exists() and not list(tmp_path.glob(".bad.txt*"))
    (tmp_path / "user.txt").write_text("a.jpg b.jpg\nmy photo.jpg c.jpg\n")  # unquoted space: loud
    with pytest.raises(ValueError, match="user.txt:2:.*percent-encoded"):
        read_pairs(tmp_path / "user.txt")

    # Through the verbs: every pair of images with such names is chosen and matched.
    names = synthetic_features(tmp_path / "features.h5", n=64, names=["my photo 1.jpg", "#2.jpg", "a#b c.jpg"])
    result = CliRunner().invoke(main, ["pairs", str(tmp_path)])
    assert result.exit_code == 0 and "3 pairs written" in result.output, result.output
    assert read_pairs(tmp_path / "pairs.txt") == exhaustive_pairs(sorted(names))
    result = CliRunner().invoke(main, ["match-pairs", str(tmp_path), "--max-keypoints", "64", "-q"])
    assert result.exit_code == 0 and "3 pairs in" in result.output, result.output
    assert all(len(m) > 10 for m in _matches(tmp_path / "matches.h5", exhaustive_pairs(names)).values())


def test_damaged_match_records_are_recomputed_on_resume(tmp_path, monkeypatch):
    names = synthetic_features(tmp_path / "features.h5", num_images=4, n=64)
    pairs = exhaustive_pairs(names)
    matches = tmp_path / "matches.h5"
    match_collection(tmp_path / "features.h5", pairs, matches, PRESET, 1, progress=False)
    expected = _matches(matches, pairs)
    with h5py.File(matches, "a") as f:
        del f[names_to_pair(*pairs[1])]["matching_scores0"]  # a dataset missing
        key = names_to_pair(*pairs[4])
        del f[key]["matches0"]
        f[key].create_dataset("matches0", data=np.zeros(3, np.int32))  # wrong length
        with pytest.raises(DamagedRecordError, match="damaged .*matching_scores0.*match-pairs"):
            read_matches(f, *pairs[1])

    report = match_collection(tmp_path / "features.h5", pairs, matches, PRESET, 1, progress=False)
    assert report.matched == 2
    got = _matches(matches, pairs)
    for pair in pairs:
        np.testing.assert_array_equal(got[pair], expected[pair], err_msg=str(pair))
    summary = build_database(tmp_path / "database.db", tmp_path / "features.h5", matches, pairs)
    assert summary.num_matched_pairs == 6

    # Resume bookkeeping reads metadata only (names, shapes, attributes), never a record's data.
    def no_data_reads(*args, **kwargs):
        raise AssertionError("resume bookkeeping read a dataset's contents")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", no_data_reads)
    monkeypatch.setattr(h5py.Dataset, "read_direct", no_data_reads)
    report = match_collection(tmp_path / "features.h5", pairs, matches, PRESET, 1, progress=False)
    assert report.matched == 0 and report.num_pairs == 6


def test_a_second_process_cannot_write_into_a_busy_folder(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        cv2.imwrite(str(photos / f"img{i}.png"), texture(20 + i, (120, 160)))
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom lightglue.collection.lock import folder_lock\n"
         "with folder_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(300)\n", str(out)],
        stdout=subprocess.PIPE, text=True, env=ENV,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        args = ["--max-keypoints", "64", "--resize", "160", "-q"]
        for verb in (["extract", str(photos), "--out", str(out)], ["reconstruct", str(photos), "--out", str(out)]):
            result = CliRunner().invoke(main, verb + args)
            assert result.exit_code == 1, result.output
            assert f"is being written by another lightglue process (pid {holder.pid})" in result.output
        assert not (out / "features.h5").exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    result = CliRunner().invoke(main, ["extract", str(photos), "--out", str(out), *args])  # a kill frees it
    assert result.exit_code == 0 and "features of 2/2 images" in result.output, result.output


def test_disk_full_during_the_merge_says_so_and_keeps_the_parts(tmp_path, monkeypatch):
    names = synthetic_features(tmp_path / "features.h5", n=64, names=["a.jpg", "b.jpg", "c.jpg"])
    write_pairs(exhaustive_pairs(names), tmp_path / "pairs.txt")
    publish = h5store._publish

    def full_disk(tmp: Path, target: Path) -> None:
        if target.name == "matches.h5":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        publish(tmp, target)

    args = ["match-pairs", str(tmp_path), "--max-keypoints", "64", "--batch-size", "1", "-q"]
    with monkeypatch.context() as m:
        m.setattr(h5store, "_publish", full_disk)
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "Disk full while merging results into" in result.output and "nothing was lost" in result.output
    assert "Traceback" not in result.output
    assert len(list((tmp_path / "matches.h5.parts").glob("*.h5"))) == 3
    assert not (tmp_path / "matches.h5").exists() and not list(tmp_path.glob(".matches.h5.*"))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and "(0 matched now" in result.output, result.output
    assert not (tmp_path / "matches.h5.parts").exists()
    assert len(_matches(tmp_path / "matches.h5", exhaustive_pairs(names))) == 3


def test_one_image_and_output_folder_equal_to_the_image_folder_are_clear_errors(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "only.png"), texture(1, (60, 80)))
    result = CliRunner().invoke(main, ["reconstruct", str(photos), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1 and "needs at least 2 images" in result.output and "only.png" in result.output
    cv2.imwrite(str(photos / "second.png"), texture(2, (60, 80)))
    for verb in ("extract", "reconstruct"):
        result = CliRunner().invoke(main, [verb, str(photos), "--out", str(photos), "-q"])
        assert result.exit_code == 1 and "is the image folder itself" in result.output, result.output
    # An output folder above the image folder hides no image; one inside it holds none.
    assert list_images(photos, exclude=tmp_path) == ["only.png", "second.png"]
    (photos / "work").mkdir()
    cv2.imwrite(str(photos / "work" / "x.png"), texture(3, (60, 80)))
    assert list_images(photos, exclude=photos / "work") == ["only.png", "second.png"]


def test_failed_mapping_lists_unreadable_images_and_leaves_no_stale_outputs(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):  # two unrelated textures: nothing to reconstruct
        cv2.imwrite(str(photos / f"img{i}.png"), texture(30 + i, (120, 160)))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg" * 10)
    out = tmp_path / "out"
    (out / "sparse").mkdir(parents=True)  # an earlier run's outputs and a killed run's work folder
    (out / "sparse" / "images.bin").write_bytes(b"old")
    (out / "points.ply").write_bytes(b"ply old")
    (out / "reconstruction.png").write_bytes(b"old")
    (out / ".mapping-abc123").mkdir()
    result = CliRunner().invoke(main, ["reconstruct", str(photos), "--out", str(out), "--max-keypoints", "64",
                                       "--resize", "160", "-q"])
    assert result.exit_code == 1 and "No model could be reconstructed" in result.output, result.output
    assert "model:" not in result.output and "points.ply" not in result.output
    assert "unreadable images : 1" in result.output and "broken.jpg" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_registered"] == 0 and list(summary["unreadable"]) == ["broken.jpg"]
    left = sorted(p.name for p in out.iterdir())
    assert left == [".lightglue.lock", "database.db", "features.h5", "matches.h5", "matches.html", "pairs.txt", "summary.json"]


def _run_folder(photos: Path, out: Path, preset) -> tuple[dict, dict, list, set]:
    """reconstruct_collection, then (features, matches, pairs, database image names) it left."""
    reconstruct_collection(photos, out, preset, progress=False)
    pairs = read_pairs(out / "pairs.txt")
    with h5py.File(out / "features.h5", "r") as f:
        feats = {n: (f[n]["keypoints"][()], dict(f[n].attrs)) for n in item_keys(f)}
    with h5py.File(out / "matches.h5", "r") as f:
        matches = {p: (read_matches(f, *p)[0], dict(f[find_pair(f, *p)[0]].attrs)) for p in pairs}
    with pycolmap.Database.open(out / "database.db") as db:
        db_names = {im.name for im in db.read_all_images()}
    return feats, matches, pairs, db_names


def _check_follows_folder(photos: Path, out: Path, preset, replace_with: bytes) -> None:
    """Run, remove one image, replace another and damage a third's features, run again: every
    output follows the folder."""
    names = sorted(p.name for p in photos.iterdir())
    _, first_matches, first_pairs, first_db = _run_folder(photos, out, preset)
    assert first_db == set(names) and len(first_pairs) == len(names) * (len(names) - 1) // 2
    kept, replaced, removed = names[0], names[1], names[-1]
    with h5py.File(out / "features.h5", "a") as f:  # and a damaged features record: extracted again
        del f[kept]["descriptors"]
    (photos / removed).unlink()
    (photos / replaced).write_bytes(replace_with)
    feats, matches, pairs, db_names = _run_folder(photos, out, preset)
    now = set(names) - {removed}
    assert set(feats) == now and db_names == now and {n for p in pairs for n in p} == now
    assert feats[replaced][1][HASH_ATTR] == file_sha256(photos / replaced)
    # Exactly what a fresh run on the folder as it is now gives.
    fresh_feats, fresh_matches, fresh_pairs, _ = _run_folder(photos, out.with_name("fresh"), preset)
    assert pairs == fresh_pairs
    for name in now:
        np.testing.assert_array_equal(feats[name][0], fresh_feats[name][0], err_msg=name)
    for pair in pairs:
        np.testing.assert_array_equal(matches[pair][0], fresh_matches[pair][0], err_msg=str(pair))
        assert matches[pair][1] == fresh_matches[pair][1]  # computed for the current image contents
    pair = next(p for p in pairs if kept in p and replaced in p)
    assert not np.array_equal(matches[pair][0], first_matches[pair][0])  # matched again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_images"] == len(now)
    if (out / "sparse").is_dir():
        assert {im.name for im in pycolmap.Reconstruction(out / "sparse").images.values()} <= now


def test_removed_and_replaced_images_leave_every_output(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    scene = texture(40, (160, 240))
    for i in range(3):  # overlapping views of one texture: matchable
        cv2.imwrite(str(photos / f"img{i}.png"), scene[10 * i : 10 * i + 120, 30 * i : 30 * i + 160])
    replacement = cv2.imencode(".png", texture(99, (120, 160)))[1].tobytes()
    _check_follows_folder(photos, tmp_path / "out", get_preset("aliked+lightglue", max_keypoints=64, resize=160),
                          replacement)


@pytest.mark.slow
@pytest.mark.skipif(not SACRE_COEUR.is_dir(), reason=f"real data not found at {SACRE_COEUR}")
def test_removed_and_replaced_photos_leave_the_model(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    files = sorted(SACRE_COEUR.iterdir())
    for file in files[:4]:
        shutil.copyfile(file, photos / file.name)
    _check_follows_folder(photos, tmp_path / "out", get_preset("aliked+lightglue", max_keypoints=512, resize=512),
                          files[4].read_bytes())
    assert pycolmap.Reconstruction(tmp_path / "out" / "sparse").num_reg_images() >= 2  # a model of what is there
