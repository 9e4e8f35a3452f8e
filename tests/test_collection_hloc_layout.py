"""Features files written exactly the way hloc's ``extract_features`` writes them.

:func:`write_hloc_features` mirrors hloc's export loop (hloc/extract_features.py, ``main``):
each extractor's own key names (SuperPoint and DoG: ``scores``; ALIKED and DISK:
``keypoint_scores``; DoG also ``scales``/``oris``), descriptors stored ``[D, N]``, keypoints
rescaled to the original image, ``image_size`` int64 (W, H), every float32 array stored as
float16 with ``as_half``, an ``uncertainty`` attribute on ``keypoints``, one group per name
(``/`` making nested groups), written with ``h5py.File(path, "a", libver="latest")``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from lightglue.cli import main
from lightglue.collection.features_h5 import FeaturesFileError, open_features, read_features
from lightglue.collection.matches_h5 import read_matches
from lightglue.collection.pairs import write_pairs

# The keys each hloc extractor's model returns (before export), and its descriptor size.
HLOC_KEYS = {
    "superpoint": (("keypoints", "scores", "descriptors"), 256),
    "aliked": (("keypoints", "keypoint_scores", "descriptors"), 128),
    "disk": (("keypoints", "keypoint_scores", "descriptors"), 128),
    "dog": (("keypoints", "scales", "oris", "scores", "descriptors"), 128),
}


def write_hloc_features(
    path: Path,
    name: str,
    extractor: str,
    keypoints: np.ndarray,
    descriptors: np.ndarray,
    original_size: tuple[int, int],
    resized_size: tuple[int, int],
    as_half: bool = True,
    detection_noise: float = 1.0,
    rng: np.random.Generator | None = None,
) -> None:
    """Append one image's features as hloc's ``extract_features.main`` does.

    Args:
        keypoints: ``[N, 2]`` pixels of the resized image the model saw.
        descriptors: ``[N, D]`` (the model's batch element, before hloc's ``[D, N]`` layout).
        original_size, resized_size: (W, H).
    """
    rng = rng or np.random.default_rng(0)
    keys, dim = HLOC_KEYS[extractor]
    assert descriptors.shape[1] == dim
    n = len(keypoints)
    pred = {
        "keypoints": keypoints.astype(np.float32),
        "descriptors": descriptors.T.astype(np.float32),  # hloc's models give [D, N]
        "scores": rng.uniform(size=n).astype(np.float32),
        "keypoint_scores": rng.uniform(size=n).astype(np.float32),
        "scales": rng.uniform(2, 8, size=n).astype(np.float32),
        "oris": rng.uniform(-np.pi, np.pi, size=n).astype(np.float32),
    }
    pred = {k: pred[k] for k in keys}
    pred["image_size"] = original = np.array(original_size)
    scales = (original / np.array(resized_size)).astype(np.float32)
    pred["keypoints"] = (pred["keypoints"] + 0.5) * scales[None] - 0.5
    if "scales" in pred:
        pred["scales"] *= scales.mean()
    uncertainty = detection_noise * scales.mean()
    if as_half:
        for k in pred:
            if pred[k].dtype == np.float32:
                pred[k] = pred[k].astype(np.float16)
    with h5py.File(str(path), "a", libver="latest") as fd:
        if name in fd:
            del fd[name]
        grp = fd.create_group(name)
        for k, v in pred.items():
            grp.create_dataset(k, data=v)
        grp["keypoints"].attrs["uncertainty"] = uncertainty


def scene(num_images: int, n: int = 160, dim: int = 128, seed: int = 0):
    """Keypoints (resized frame 320x240) and descriptors of images of one scene, with the true correspondences."""
    rng = np.random.default_rng(seed)
    base_kpts = rng.uniform(10, [310, 230], (n, 2))
    base_desc = rng.normal(size=(n, dim))
    views = []
    for i in range(num_images):
        perm = rng.permutation(n)
        desc = base_desc + 0.3 * rng.normal(size=base_desc.shape)
        desc /= np.linalg.norm(desc, axis=1, keepdims=True)
        kpts = base_kpts + [1.5 * i, 1.0 * i] + 0.5 * rng.normal(size=(n, 2))
        views.append((kpts[perm], desc[perm], perm))
    return views


@pytest.mark.parametrize("as_half", [True, False])
@pytest.mark.parametrize("extractor", sorted(HLOC_KEYS))
def test_read_features_reads_every_hloc_layout(tmp_path, extractor, as_half):
    path = tmp_path / "feats.h5"
    dim = HLOC_KEYS[extractor][1]
    (kpts, desc, _), = scene(1, n=dim, dim=dim)  # N == D: the layout must still be read as [D, N]
    write_hloc_features(path, "seq/sub/img.jpg", extractor, kpts, desc, (640, 480), (320, 240), as_half)
    with open_features(path) as f:
        assert isinstance(f["seq"]["sub"], h5py.Group)  # '/' in a name: nested groups, as hloc
        feats = read_features(f, "seq/sub/img.jpg")
        uncertainty = f["seq/sub/img.jpg/keypoints"].attrs["uncertainty"]
    tol = 1e-2 if as_half else 1e-6
    assert feats.descriptors.dtype == np.float32 and feats.descriptors.shape == (dim, dim)
    np.testing.assert_allclose(feats.descriptors, desc, atol=tol)
    np.testing.assert_allclose(feats.keypoints, (kpts + 0.5) * 2 - 0.5, atol=0.5 if as_half else 1e-4)
    assert feats.image_size.tolist() == [640, 480] and uncertainty == pytest.approx(2.0)
    assert len(feats.scores) == dim and feats.scores.dtype == np.float32
    assert (feats.scales is not None) == (extractor == "dog") == (feats.oris is not None)


def test_match_pairs_and_show_pair_on_files_hloc_wrote(tmp_path):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    names = ["sub/a.jpg", "b.jpg", "c.jpg"]
    views = scene(len(names))
    rng = np.random.default_rng(1)
    for name, (kpts, desc, _) in zip(names, views):
        # ALIKED's layout (keypoint_scores, float16), but one image with hloc's SuperPoint key name
        write_hloc_features(work / "features.h5", name, "aliked", kpts, desc, (640, 480), (320, 240))
        cv2.imwrite(str(images / name), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    with h5py.File(work / "features.h5", "a") as f:
        f["c.jpg"].move("keypoint_scores", "scores")
    write_pairs([("sub/a.jpg", "b.jpg"), ("b.jpg", "c.jpg"), ("sub/a.jpg", "c.jpg")], work / "pairs.txt")

    result = CliRunner().invoke(main, ["match-pairs", str(work), "--preset", "aliked+lightglue", "-q"])
    assert result.exit_code == 0, result.output
    assert "3 pairs" in result.output
    with h5py.File(work / "matches.h5", "r") as f:
        for i, j in ((0, 1), (1, 2), (0, 2)):
            matches, _ = read_matches(f, names[i], names[j])
            perm_i, perm_j = views[i][2], views[j][2]
            correct = perm_i[matches[:, 0]] == perm_j[matches[:, 1]]  # same scene point
            assert len(matches) > 100 and correct.mean() > 0.95, (names[i], names[j], len(matches))

    out = tmp_path / "pair.png"
    result = CliRunner().invoke(
        main, ["show-pair", str(work), "sub/a.jpg", "c.jpg", "--images", str(images), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "matches drawn" in result.output and cv2.imread(str(out)) is not None


def test_truncated_features_file_names_the_file_and_what_to_do(tmp_path):
    path = tmp_path / "features.h5"
    (kpts, desc, _), = scene(1)
    for i in range(4):
        write_hloc_features(path, f"img{i}.jpg", "disk", kpts, desc, (640, 480), (320, 240), as_half=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FeaturesFileError, match=r"features file .*features\.h5.* truncated or damaged.*Delete it"):
        with open_features(path):
            pass
    with pytest.raises(FileNotFoundError, match="run 'lightglue extract' first"):
        with open_features(tmp_path / "missing.h5"):
            pass
    write_pairs([("img0.jpg", "img1.jpg")], tmp_path / "pairs.txt")
    (tmp_path / "images").mkdir()
    for args in (["match-pairs", str(tmp_path), "-q"],
                 ["show-pair", str(tmp_path), "img0.jpg", "img1.jpg", "--images", str(tmp_path / "images")]):
        result = CliRunner().invoke(main, args)
        h5py.File(tmp_path / "matches.h5", "w").close()  # show-pair reads a (valid) one too
        assert result.exit_code == 1, result.output
        assert str(path) in result.output and "truncated or damaged" in result.output, result.output
        assert "Delete it and run 'lightglue extract'" in result.output and "Traceback" not in result.output


def test_an_image_without_local_features_is_a_clear_error(tmp_path):
    path = tmp_path / "global.h5"
    with h5py.File(path, "w") as f:  # hloc's global descriptors (NetVLAD) file
        f.create_group("a.jpg").create_dataset("global_descriptor", data=np.zeros(4096, np.float16))
    with open_features(path) as f, pytest.raises(ValueError, match=r"'a.jpg'.*\['global_descriptor'\].*'keypoints'"):
        read_features(f, "a.jpg")


def test_hloc_match_features_path_runs_our_lightglue(tmp_path):
    """hloc's matching, step by step: its pair dataset reads the file, its wrapper builds and calls LightGlue."""
    import torch

    from lightglue import LightGlue

    path = tmp_path / "feats-aliked.h5"
    views = scene(2)
    for name, (kpts, desc, _) in zip(("q/a.jpg", "db/b.jpg"), views):
        write_hloc_features(path, name, "aliked", kpts, desc, (640, 480), (320, 240))
    data = {}
    with h5py.File(path, "r") as fd:  # hloc's FeaturePairsDataset.__getitem__, then a batch of one
        for suffix, name in (("0", "q/a.jpg"), ("1", "db/b.jpg")):
            grp = fd[name]
            for k, v in grp.items():
                data[k + suffix] = torch.from_numpy(v.__array__()).float()[None]
            data["image" + suffix] = torch.empty((1,) + tuple(grp["image_size"])[::-1])[None]
    conf = {"name": "lightglue", "features": "aliked", "depth_confidence": 0.95, "width_confidence": 0.99,
            "compile": False}  # hloc's matcher configuration
    net = LightGlue(conf.pop("features"), **conf).eval()  # hloc's LightGlue._init
    data["descriptors0"] = data["descriptors0"].transpose(-1, -2)  # hloc's LightGlue._forward
    data["descriptors1"] = data["descriptors1"].transpose(-1, -2)
    with torch.inference_mode():
        pred = net({
            "image0": {k[:-1]: v for k, v in data.items() if k[-1] == "0"},
            "image1": {k[:-1]: v for k, v in data.items() if k[-1] == "1"},
        })
    matches = pred["matches0"][0].numpy()
    valid = matches > -1
    correct = views[0][2][valid] == views[1][2][matches[valid]]
    assert valid.sum() > 100 and correct.mean() > 0.95
