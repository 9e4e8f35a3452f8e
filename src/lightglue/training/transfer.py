"""Start a matcher for one feature type from the weights trained for another.

The official LightGlue files differ between feature types only in the input projection
(descriptor size) and in the positional encoding's input (2-D positions, or positions plus
keypoint scale and orientation for SIFT / DoGHardNet). Weights of a 2-D model widened with
zero columns for scale and orientation give a 4-D model that computes exactly what the 2-D one
does; training then learns to use the extra inputs. This is how the project's SIFT-LightGlue
is started from the official ALIKED-LightGlue (same descriptor size, 128).
"""

from __future__ import annotations

import torch

POSENC_KEY = "posenc.Wr.weight"


def widen_positional_encoding(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of a 2-D-position state dict for a model with ``add_scale_ori=True``.

    Args:
        state: LightGlue state dict whose ``posenc.Wr.weight`` is ``[head_dim / 2, 2]``.
    Returns:
        The same tensors, ``posenc.Wr.weight`` widened to ``[head_dim / 2, 4]`` (new columns 0).
    Raises:
        ValueError: the state has no 2-D positional encoding.
    """
    if POSENC_KEY not in state or state[POSENC_KEY].ndim != 2 or state[POSENC_KEY].shape[1] != 2:
        shape = tuple(state[POSENC_KEY].shape) if POSENC_KEY in state else None
        raise ValueError(f"expected {POSENC_KEY} of shape [n, 2], got {shape}")
    out = dict(state)
    wr = state[POSENC_KEY]
    out[POSENC_KEY] = torch.cat([wr, torch.zeros_like(wr)], dim=1)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m lightglue.training.transfer NAME_OR_FILE OUT.pth``: widen and save a 2-D model."""
    import argparse

    from lightglue.matcher.lightglue import weights_file
    from lightglue.weights import load_state_dict

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("weights", help="weight name (e.g. aliked_lightglue) or file of a 2-D-position LightGlue")
    parser.add_argument("out", help="where to write the widened state dict")
    args = parser.parse_args(argv)
    file = weights_file(args.weights)
    state = widen_positional_encoding(load_state_dict(file.stem, path=file))
    torch.save(state, args.out)
    print(f"wrote {args.out} (from {file})")


if __name__ == "__main__":
    main()
