"""Building blocks of the LightGlue transformer: positional encoding, self and cross blocks.

Parameter names and shapes follow the official state dicts, so the released weights load
as they are. Shapes: B batch, N points, d state size, h heads, c = d / h head size.
Optional key masks ``[B, N]`` (True = a real, still active point) make padded batches exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FourierPositionalEncoding(nn.Module):
    """Learned Fourier features used as a rotary encoding.

    ``Wr`` projects the P-dimensional position (normalised x, y and optionally scale and
    orientation) to c/2 frequencies; each cosine and sine is repeated twice so that it
    covers one adjacent channel pair of a head.
    """

    def __init__(self, in_dim: int, head_dim: int) -> None:
        super().__init__()
        self.Wr = nn.Linear(in_dim, head_dim // 2, bias=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions [B, N, P] -> (cos, signed sin), each [B, 1, N, c].

        The sine is returned with the sign of the pair rotation folded in (``-sin`` on the
        first channel of each pair), see :func:`apply_rotary`.
        """
        projected = self.Wr(positions)
        cos = projected.cos().repeat_interleave(2, dim=-1)
        sin = projected.sin().repeat_interleave(2, dim=-1)
        sin[..., 0::2] = -sin[..., 0::2]
        return cos.unsqueeze(1).contiguous(), sin.unsqueeze(1).contiguous()


def apply_rotary(t: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate each adjacent channel pair (x1, x2) of ``t`` by the encoded angle.

    Computes ``t * cos + rot(t) * sin`` with ``rot(x1, x2) = (-x2, x1)``, written as
    ``swap(t) * signed_sin`` where ``swap(x1, x2) = (x2, x1)``.

    Args:
        t: [B, h, N, c] queries or keys.
        cos, signed_sin: [B, 1, N, c] from :class:`FourierPositionalEncoding`.
    """
    swapped = t.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
    return t * cos + swapped * signed_sin


def _ffn(dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(2 * dim, 2 * dim),
        nn.LayerNorm(2 * dim, elementwise_affine=True),
        nn.GELU(),
        nn.Linear(2 * dim, dim),
    )


def dense(layer: nn.Linear, x: torch.Tensor, gemm_dtype: torch.dtype | None = None) -> torch.Tensor:
    """``layer(x)``, with the matrix product in ``gemm_dtype`` when given.

    The product's inputs (``x``, weight, bias) are rounded to ``gemm_dtype`` and the result is
    returned in ``x``'s dtype, so that everything between products (residual sums, layer norm,
    attention) keeps full precision. ``None``: the layer as it is. Attention itself stays in
    ``x``'s dtype: on the CPU the fused kernel gains nothing from bfloat16 inputs.
    """
    if gemm_dtype is None or gemm_dtype == x.dtype:
        return layer(x)
    bias = None if layer.bias is None else layer.bias.to(gemm_dtype)
    return F.linear(x.to(gemm_dtype), layer.weight.to(gemm_dtype), bias).to(x.dtype)


def feed_forward(ffn: nn.Sequential, x: torch.Tensor, gemm_dtype: torch.dtype | None = None) -> torch.Tensor:
    """The block's MLP ``[x, message] [.., 2d] -> [.., d]`` (see :func:`dense` for ``gemm_dtype``)."""
    if gemm_dtype is None:
        return ffn(x)
    hidden = ffn[2](ffn[1](dense(ffn[0], x, gemm_dtype)))
    return dense(ffn[3], hidden, gemm_dtype)


def _key_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """[B, N] -> [B, 1, 1, N] boolean attention mask over keys."""
    return None if mask is None else mask[:, None, None, :]


class SelfBlock(nn.Module):
    """Self-attention with rotary positions, then ``x + ffn([x, message])``."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.Wqkv = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.ffn = _ffn(dim)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None = None,
        gemm_dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """x [B, N, d], encoding [B, 1, N, c], mask [B, N] or None -> [B, N, d].

        ``gemm_dtype``: dtype of the matrix products (see :func:`dense`), None for ``x``'s.
        """
        # q, k and v are interleaved along the last axis: [..., heads, head_dim, 3].
        qkv = dense(self.Wqkv, x, gemm_dtype).unflatten(-1, (self.num_heads, -1, 3)).transpose(1, 2)
        q, k, v = qkv.unbind(-1)
        q = apply_rotary(q, cos, sin)
        k = apply_rotary(k, cos, sin)
        context = F.scaled_dot_product_attention(q, k, v.contiguous(), attn_mask=_key_mask(mask))
        message = dense(self.out_proj, context.transpose(1, 2).flatten(-2), gemm_dtype)
        return x + feed_forward(self.ffn, torch.cat([x, message], -1), gemm_dtype)


class CrossBlock(nn.Module):
    """Bidirectional cross-attention sharing one similarity matrix between the images.

    ``S = (qk0 s^.5)(qk1 s^.5)^T`` with ``s = c^-0.5``: one projection gives both queries
    and keys, image 0 attends with a softmax over the rows of S, image 1 over its columns.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_qk = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)
        self.ffn = _ffn(dim)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def forward(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        mask0: torch.Tensor | None = None,
        mask1: torch.Tensor | None = None,
        gemm_dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x0 [B, M, d], x1 [B, N, d], masks [B, M] / [B, N] or None -> updated (x0, x1).

        ``gemm_dtype``: dtype of the matrix products (see :func:`dense`), None for ``x``'s.
        """
        qk0, qk1 = (self._heads(dense(self.to_qk, x, gemm_dtype)) for x in (x0, x1))
        v0, v1 = (self._heads(dense(self.to_v, x, gemm_dtype)) for x in (x0, x1))
        # Two fused attentions share the logits S = qk0 qk1^T / sqrt(c): image 0 attends over
        # the rows of S, image 1 over its columns (S^T). Never materialises S.
        m0 = F.scaled_dot_product_attention(qk0, qk1, v1, attn_mask=_key_mask(mask1))
        m1 = F.scaled_dot_product_attention(qk1, qk0, v0, attn_mask=_key_mask(mask0))
        m0 = dense(self.to_out, m0.transpose(1, 2).flatten(-2), gemm_dtype)
        m1 = dense(self.to_out, m1.transpose(1, 2).flatten(-2), gemm_dtype)
        x0 = x0 + feed_forward(self.ffn, torch.cat([x0, m0], -1), gemm_dtype)
        x1 = x1 + feed_forward(self.ffn, torch.cat([x1, m1], -1), gemm_dtype)
        return x0, x1


class TransformerLayer(nn.Module):
    """One LightGlue layer: a self block on each image, then the cross block."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.self_attn = SelfBlock(dim, num_heads)
        self.cross_attn = CrossBlock(dim, num_heads)

    def forward(
        self,
        desc0: torch.Tensor,
        desc1: torch.Tensor,
        enc0: tuple[torch.Tensor, torch.Tensor],
        enc1: tuple[torch.Tensor, torch.Tensor],
        mask0: torch.Tensor | None = None,
        mask1: torch.Tensor | None = None,
        gemm_dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """desc [B, N, d], enc (cos, sin) [B, 1, N, c], masks [B, N] or None.

        ``gemm_dtype``: dtype of the matrix products (see :func:`dense`), None for ``desc``'s.
        """
        desc0 = self.self_attn(desc0, *enc0, mask0, gemm_dtype)
        desc1 = self.self_attn(desc1, *enc1, mask1, gemm_dtype)
        return self.cross_attn(desc0, desc1, mask0, mask1, gemm_dtype)
