"""The official package's public API: names, LightGlue's constructor, attributes and methods.

hloc builds its matcher as ``LightGlue(conf.pop("features"), **conf)`` with ``compile: False`` in
``conf`` and calls ``.compile()`` when it is true; code written for the official package reads
``default_conf``, ``features``, ``required_data_keys``... These tests pin that behaviour.
"""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch

import lightglue
from lightglue import LightGlue

OFFICIAL_TOP_LEVEL = ("LightGlue", "SuperPoint", "DISK", "SIFT", "ALIKED", "DoGHardNet", "match_pair", "viz2d")
OFFICIAL_UTILS = (
    "ImagePreprocessor", "map_tensor", "batch_to_device", "rbd", "read_image", "numpy_image_to_torch",
    "resize_image", "load_image", "Extractor", "match_pair",
)
OFFICIAL_CONF_KEYS = (
    "name", "input_dim", "descriptor_dim", "add_scale_ori", "n_layers", "num_heads", "flash", "mp",
    "depth_confidence", "width_confidence", "filter_threshold", "weights",
)


def small(**conf) -> LightGlue:
    torch.manual_seed(0)
    base = dict(input_dim=32, descriptor_dim=32, num_heads=2, n_layers=3, filter_threshold=0.0)
    return LightGlue(features=None, **{**base, **conf}).eval()


def random_features(n: int, d: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "keypoints": torch.rand(1, n, 2, generator=g) * 200,
        "descriptors": torch.randn(1, n, d, generator=g),
        "image_size": torch.tensor([[200.0, 200.0]]),
    }


def test_every_official_public_name_imports():
    for name in OFFICIAL_TOP_LEVEL:
        assert getattr(lightglue, name) is not None, name
    utils = importlib.import_module("lightglue.utils")
    for name in OFFICIAL_UTILS:
        assert callable(getattr(utils, name)), name
    from lightglue import DoGHardNet, match_pair, viz2d  # noqa: F401  (the official README's form)

    assert lightglue.match_pair is utils.match_pair
    assert lightglue.viz2d.plot_matches is viz2d.plot_matches


def test_hloc_matcher_configuration_constructs_without_warning():
    conf = {"features": "aliked", "depth_confidence": 0.95, "width_confidence": 0.99, "compile": False}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = LightGlue(conf.pop("features"), **conf)
    assert net.conf.input_dim == 128 and net.conf.weights == "aliked_lightglue"


def test_unknown_key_warns_with_the_close_match_and_is_ignored():
    with pytest.warns(UserWarning, match=r"unknown option 'filter_treshold' is ignored; did you mean 'filter_threshold'\?"):
        net = small(filter_treshold=0.5)
    assert net.conf.filter_threshold == 0.0
    with pytest.warns(UserWarning, match="unknown option 'zzz'.*valid options"):
        small(zzz=1)


def test_class_attributes_have_the_official_meaning():
    assert set(OFFICIAL_CONF_KEYS) <= set(LightGlue.default_conf)
    assert LightGlue.default_conf["depth_confidence"] == 0.95 and LightGlue.default_conf["n_layers"] == 9
    assert set(LightGlue.features) == {"superpoint", "disk", "aliked", "sift", "doghardnet"}
    assert LightGlue.features["superpoint"] == {"weights": "superpoint_lightglue", "input_dim": 256}
    assert LightGlue.features["sift"] == {"weights": "sift_lightglue", "input_dim": 128, "add_scale_ori": True}
    assert LightGlue.required_data_keys == ["image0", "image1"]
    assert LightGlue.version == "v0.1_arxiv"
    assert LightGlue.url.format(LightGlue.version, "disk").endswith("/v0.1_arxiv/disk_lightglue.pth")
    assert LightGlue.pruning_keypoint_thresholds == {"cpu": -1, "mps": -1, "cuda": 1024, "flash": 1536}
    net = LightGlue("disk", filter_threshold=0.2)
    assert isinstance(net.features, dict)  # the preset table, not the chosen name
    assert net.conf.filter_threshold == 0.2 and net.conf.input_dim == 128 and net.conf.weights == "disk_lightglue"
    assert LightGlue("disk", weights=None).conf.weights == "disk_lightglue"  # None: the preset's file
    assert net.pruning_min_kpts(torch.device("cuda")) == 1536
    assert net.pruning_min_kpts(torch.device("cpu")) == -1


def test_official_helper_methods():
    net = small(n_layers=9, width_confidence=0.9)
    assert net.confidence_threshold(0) == pytest.approx(0.9)
    assert net.confidence_threshold(8) == pytest.approx(0.8 + 0.1 * torch.exp(torch.tensor(-32 / 9)).item())
    scores = torch.tensor([[0.05, 0.2, 0.01]])
    assert net.get_pruning_mask(None, scores, 0).tolist() == [[False, True, False]]
    confidences = torch.tensor([[0.1, 0.99, 0.99]])  # the first point is not yet confident: kept
    assert net.get_pruning_mask(confidences, scores, 0).tolist() == [[True, True, False]]
    sure, unsure = torch.full((1, 10), 0.99), torch.full((1, 10), 0.5)
    assert net.check_if_stop(sure, sure, 0, 20).tolist() == [True]
    assert net.check_if_stop(sure, unsure, 0, 20).tolist() == [False]  # 50% confident < 95%


@pytest.mark.parametrize(
    "key,value",
    [
        ("depth_confidence", float("nan")),
        ("depth_confidence", 1.5),
        ("width_confidence", 0.0),
        ("width_confidence", float("inf")),
        ("filter_threshold", 5),
        ("filter_threshold", -0.1),
        ("n_layers", 0),
        ("num_heads", 3),
        ("pruning_min_keypoints", -5),
    ],
)
def test_options_are_range_checked(key, value):
    with pytest.raises(ValueError, match=key if key != "num_heads" else "divisible"):
        small(**{key: value})


def test_disabled_confidences_are_accepted():
    net = small(depth_confidence=-1, width_confidence=-1, filter_threshold=0.0)
    assert net.conf.depth_confidence == -1


def _compile_fails(*args, **kwargs):
    from torch._inductor.exc import InductorError

    def run(*a, **k):
        raise InductorError(RuntimeError("no working C++ compiler"), None)

    return run


def test_compile_falls_back_with_a_warning_when_the_compiler_fails(monkeypatch):
    net = small(width_confidence=-1)
    data = {"image0": random_features(40), "image1": random_features(50, seed=1)}
    with torch.inference_mode():
        ref = net(data)
    monkeypatch.setattr(torch, "compile", _compile_fails)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # width_confidence=-1: no pruning warning
        net.compile(mode="reduce-overhead")
    assert net.static_lengths == [256, 512, 768, 1024, 1280, 1536]
    with pytest.warns(UserWarning, match="torch.compile cannot run here.*uncompiled"), torch.inference_mode():
        out = net(data)
    assert torch.equal(out["matches0"], ref["matches0"]) and len(ref["matches"][0]) > 0
    assert torch.equal(out["matching_scores0"], ref["matching_scores0"])


def test_compile_warns_when_pruning_is_enabled(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(kw) or fn)
    net = small()
    with pytest.warns(UserWarning, match="point pruning"):
        net.compile()
    assert calls == [{"mode": "reduce-overhead", "dynamic": True}] * net.conf.n_layers


@pytest.mark.slow
def test_compiled_layers_give_the_same_matches_on_cpu():
    """Real torch.compile (inductor, C++ on the CPU): a few minutes on a busy machine."""
    net = small(depth_confidence=-1, width_confidence=-1)
    pairs = [
        {"image0": random_features(40), "image1": random_features(50, seed=1)},
        {"image0": random_features(70, seed=2), "image1": random_features(30, seed=3)},
    ]
    with torch.inference_mode():
        refs = [net(p) for p in pairs]
    net.compile(mode="default")
    with torch.inference_mode():
        outs = [net(p) for p in pairs]
    for ref, out in zip(refs, outs):
        assert torch.equal(ref["matches0"], out["matches0"]) and len(ref["matches"][0]) > 0
        assert (ref["matching_scores0"] - out["matching_scores0"]).abs().max() < 1e-5


def test_viz2d_has_the_official_names_and_colour_anchors():
    import numpy as np

    from lightglue import viz2d

    for name in ("cm_RdGn", "cm_BlRdGn", "cm_prune", "cm_grad2d", "plot_images", "plot_keypoints",
                 "plot_matches", "add_text", "save_plot"):
        assert callable(getattr(viz2d, name)), name
    np.testing.assert_allclose(viz2d.cm_RdGn(np.array([0.0, 0.5, 1.0])), [[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    np.testing.assert_allclose(viz2d.cm_BlRdGn(np.array([-1.0, 0.0, 1.0]))[:, [0, 2]], [[0, 1], [1, 0], [0, 0]])
    corners = viz2d.cm_grad2d(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_allclose(corners, [[1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
    axes = viz2d.plot_images([np.zeros((10, 40, 3)), np.zeros((10, 10, 3))], adaptive=False)
    assert axes[0].get_subplotspec().get_gridspec().get_width_ratios() == [4 / 3, 4 / 3]
    viz2d._pyplot().close()
