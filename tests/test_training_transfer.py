"""Starting a scale/orientation model from a 2-D one: the widened model computes the same matches."""

from __future__ import annotations

import pytest
import torch

from lightglue import LightGlue
from lightglue.training.transfer import main, widen_positional_encoding


def _features(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "keypoints": torch.rand(1, n, 2, generator=g) * 300,
        "descriptors": torch.nn.functional.normalize(torch.randn(1, n, 128, generator=g), dim=-1),
        "image_size": torch.tensor([[320.0, 240.0]]),
        "scales": torch.rand(1, n, generator=g) * 10 + 1,
        "oris": torch.rand(1, n, generator=g) * 6.28 - 3.14,
    }


def test_widened_model_matches_like_the_original(tmp_path):
    torch.manual_seed(0)
    flat = LightGlue(features=None, input_dim=128, n_layers=3, depth_confidence=-1, width_confidence=-1).eval()
    torch.save(flat.state_dict(), tmp_path / "flat.pth")
    main([str(tmp_path / "flat.pth"), str(tmp_path / "wide.pth")])
    wide = LightGlue(features=None, input_dim=128, add_scale_ori=True, n_layers=3, depth_confidence=-1,
                     width_confidence=-1, weights=str(tmp_path / "wide.pth")).eval()
    assert wide.posenc.Wr.weight.shape[1] == 4 and not wide.posenc.Wr.weight[:, 2:].any()
    data = {"image0": _features(60, 1), "image1": _features(70, 2)}
    with torch.inference_mode():
        a = flat({"image0": {k: v for k, v in data["image0"].items() if k not in ("scales", "oris")},
                  "image1": {k: v for k, v in data["image1"].items() if k not in ("scales", "oris")}})
        b = wide(data)
    torch.testing.assert_close(b["matching_scores0"], a["matching_scores0"])
    assert torch.equal(a["matches0"], b["matches0"])


def test_a_model_with_scale_and_orientation_is_refused():
    state = LightGlue(features=None, input_dim=128, add_scale_ori=True, n_layers=1).state_dict()
    with pytest.raises(ValueError, match=r"posenc.Wr.weight of shape \[n, 2\]"):
        widen_positional_encoding(state)
