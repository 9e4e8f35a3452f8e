"""ONNX export and the ONNX Runtime matcher against our PyTorch matcher on the golden pairs.

The adaptive runtime must give the same ``matches0``, ``stop`` and pruning layers as the
PyTorch model (early exit and pruning decided on ONNX Runtime's numbers), and the
whole-graph export the same matches as the full-depth PyTorch model.
"""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from golden import FEATURES, MODES, PAIRS, features

pytest.importorskip("onnx", reason="ONNX export needs the optional extra: pip install 'lightglue[onnx]'")
pytest.importorskip("onnxruntime", reason="the ONNX runtime needs the optional extra: pip install 'lightglue[onnx]'")

from lightglue import LightGlue  # noqa: E402
from lightglue.cli import main  # noqa: E402
from lightglue.onnx import Manifest, OnnxLightGlue, export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Exported matchers, written and loaded once on first use: get(feat, whole) -> OnnxLightGlue
    (the adaptive ALIKED export through the CLI)."""
    root = tmp_path_factory.mktemp("onnx")
    cache = {}

    def get(feat: str, whole: bool = False):
        key = (feat, whole)
        if key not in cache:
            out = root / f"{feat}{'-whole' if whole else ''}"
            if feat == "aliked" and not whole:
                result = CliRunner().invoke(main, ["export", "onnx", "--features", feat, "--out", str(out)])
                assert result.exit_code == 0, result.output
                assert "adaptive export of aliked" in result.output
            else:
                export_onnx(LightGlue(feat).eval(), out, whole_graph=whole)
            cache[key] = OnnxLightGlue(out)
        return cache[key]

    return get


def _data(golden, pair, feat, n=None):
    g = golden[pair]
    data = {"image0": features(g, feat, 0), "image1": features(g, feat, 1)}
    if n is not None:  # the first n keypoints of each image
        data = {k: {**v, "keypoints": v["keypoints"][:, :n], "descriptors": v["descriptors"][:, :n]} for k, v in data.items()}
    return data


def _duplicate_ties(data) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of each image that have an exact duplicate (equal position and descriptor)."""
    dup = []
    for side in ("image0", "image1"):
        rows = torch.cat([data[side]["keypoints"][0], data[side]["descriptors"][0]], 1).numpy()
        _, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
        dup.append(counts[inverse.ravel()] > 1)
    return dup[0], dup[1]


def _assert_same(ours: dict, ref: dict, data) -> None:
    """Same stop, prune layers and matches0 (up to ties between duplicate keypoints), close scores."""
    assert ours["stop"].tolist() == ref["stop"].tolist()
    assert torch.equal(ours["prune0"], ref["prune0"]) and torch.equal(ours["prune1"], ref["prune1"])
    dup0, dup1 = _duplicate_ties(data)
    m0, r0 = ours["matches0"][0].numpy(), ref["matches0"][0].numpy()
    differ = m0 != r0
    tie = dup0 | (dup1[np.maximum(m0, 0)] & (m0 >= 0)) | (dup1[np.maximum(r0, 0)] & (r0 >= 0))
    assert not (differ & ~tie).any(), f"{int((differ & ~tie).sum())} matches0 differ"
    assert (r0 > -1).sum() > 100  # a real matching problem
    same = ~differ
    assert np.abs(ours["matching_scores0"][0].numpy() - ref["matching_scores0"][0].numpy())[same].max() < 1e-3
    assert len(ours["matches"][0]) == int((m0 > -1).sum())
    assert np.array_equal(ours["matches"][0][:, 1].numpy(), m0[ours["matches"][0][:, 0].numpy()])


def _run_both(model_onnx, feat, mode, data):
    with torch.inference_mode():
        ref = LightGlue(feat, **MODES[mode]).eval()(data)
    return model_onnx(data), ref


def test_adaptive_exact_on_golden_pair(exports, golden):
    """ALIKED, adaptive: the runtime exits and prunes exactly where PyTorch does."""
    data = _data(golden, "astronaut_h", "aliked")
    ours, ref = _run_both(exports("aliked"), "aliked", "adaptive", data)
    assert 1 <= int(ref["stop"][0]) < 9 and (ref["prune0"][0] < 9).any()  # both kinds of adaptivity happen
    _assert_same(ours, ref, data)


def test_full_depth_and_whole_graph_exact(exports, golden):
    """Adaptivity switched off at run time, and the one-graph export, give the full-depth PyTorch matches."""
    data = _data(golden, "motorcycle", "aliked", n=600)
    full = exports("aliked").with_options(**MODES["full"])
    ours, ref = _run_both(full, "aliked", "full", data)
    _assert_same(ours, ref, data)
    whole = exports("aliked", whole=True)
    assert whole.manifest.kind == "whole-graph"
    _assert_same(whole(data), ref, data)
    with pytest.raises(ValueError, match="full depth"):
        whole.with_options(depth_confidence=0.95)


@pytest.mark.slow
@pytest.mark.parametrize("pair,feat,mode", [(p, f, m) for p in PAIRS for f in FEATURES for m in MODES])
def test_exact_on_all_golden_cases(exports, golden, pair, feat, mode):
    data = _data(golden, pair, feat)
    model = exports(feat).with_options(**MODES[mode])
    ours, ref = _run_both(model, feat, mode, data)
    _assert_same(ours, ref, data)
    if mode == "full":
        _assert_same(exports(feat, whole=True)(data), ref, data)


def test_numpy_inputs_batches_and_empty_images(exports, golden):
    """numpy in, numpy out; a padded batch gives each pair its result alone; an empty image matches nothing."""
    model = exports("aliked")
    data = _data(golden, "astronaut_h", "aliked", n=300)
    alone = model(data)
    as_numpy = {k: {kk: vv.numpy() for kk, vv in v.items()} for k, v in data.items()}
    out = model(as_numpy)
    assert isinstance(out["matches0"], np.ndarray) and np.array_equal(out["matches0"], alone["matches0"].numpy())
    assert isinstance(out["matches"][0], np.ndarray)
    # batch: the pair, and the pair with image 1 cut to 200 keypoints (padded, masked)
    short = {k: v[:, :200] for k, v in data["image1"].items() if k in ("keypoints", "descriptors")}
    cut = model({"image0": data["image0"], "image1": {**data["image1"], **short}})
    pad = lambda t: torch.cat([t, t], 0)  # noqa: E731
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[1, 200:] = False
    image1 = {**data["image1"], "keypoint_mask": mask}
    image1.update({k: pad(v) for k, v in data["image1"].items() if k in ("keypoints", "descriptors", "image_size")})
    image0 = {k: pad(v) for k, v in data["image0"].items()}
    batch = model({"image0": image0, "image1": image1})
    assert batch["stop"].tolist() == [int(alone["stop"][0]), int(cut["stop"][0])]
    assert torch.equal(batch["matches0"][0], alone["matches0"][0]) and torch.equal(batch["matches0"][1], cut["matches0"][0])
    assert torch.equal(batch["matches1"][1, :200], cut["matches1"][0]) and (batch["matches1"][1, 200:] == -1).all()
    assert (batch["prune1"][1, 200:] == 0).all()
    empty = {**data["image1"], "keypoints": torch.zeros(1, 0, 2), "descriptors": torch.zeros(1, 0, 128)}
    none = model({"image0": data["image0"], "image1": empty})
    assert int(none["stop"][0]) == 0 and (none["matches0"] == -1).all()


def test_manifest_and_errors(exports, tmp_path):
    model = exports("aliked")
    folder = model.path
    manifest = Manifest.read(folder)
    assert manifest.kind == "adaptive" and manifest.features == "aliked"
    assert manifest.config == LightGlue("aliked").conf
    assert len(manifest.files()) == 1 + 2 * 9
    with pytest.raises(TypeError, match="Unknown OnnxLightGlue option"):
        OnnxLightGlue(folder, n_layers=3)
    with pytest.raises(FileNotFoundError, match="lightglue export onnx"):
        OnnxLightGlue(tmp_path)
    with pytest.raises(ValueError, match="descriptor size"):
        model({"image0": {"keypoints": torch.zeros(1, 5, 2), "descriptors": torch.zeros(1, 5, 256)},
               "image1": {"keypoints": torch.zeros(1, 5, 2), "descriptors": torch.zeros(1, 5, 256)}})
    broken = tmp_path / "broken"
    broken.mkdir()
    body = json.loads((folder / "lightglue-onnx.json").read_text())
    (broken / "lightglue-onnx.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match="graph files missing"):
        Manifest.read(broken)
    result = CliRunner().invoke(main, ["export", "onnx", "--features", "aliked", "--out", str(broken)])
    assert result.exit_code != 0 and "not empty" in result.output
    assert sorted(p.name for p in broken.iterdir()) == ["lightglue-onnx.json"]  # left untouched
