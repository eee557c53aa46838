"""Rotary position embeddings, rotate-half convention (GPT-NeoX / OLMo / transformers), angles in fp32.

Nothing is cached in buffers: the angles are cheap next to the matmuls, and keeping no buffers means a model
built on the meta device needs no special care when it is materialised or sharded.

The rotation is a custom autograd function. Written with plain tensor ops (``x * cos + rotate_half(x) * sin``)
it costs a chunk, a negation, a concatenation and three full-size products, and autograd keeps ``x`` alive
for the backward pass. Here each half is written once, straight into the output, and the backward pass is
the inverse rotation, which needs only the angles: fewer passes over memory, and no saved activations.
"""

from __future__ import annotations

import torch


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin for ``positions`` ([T] or [B, T]); shape [..., T, head_dim // 2], fp32.

    Each frequency appears once (the rotate-half convention uses it for dimension i and i + head_dim/2).
    """
    inv_freq = 1.0 / (
        theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.int64).float() / head_dim)
    )
    with torch.autocast(positions.device.type, enabled=False):
        freqs = positions.float()[..., None] * inv_freq
        return freqs.cos(), freqs.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, sign: float) -> torch.Tensor:
    """[x1, x2] -> [x1 cos - sign x2 sin, x2 cos + sign x1 sin] over the last dim; fp32 arithmetic."""
    x1, x2 = x.chunk(2, dim=-1)
    if torch.compiler.is_compiling():  # inductor fuses this into one kernel; it cannot trace out= writes
        o1 = torch.addcmul(x1 * cos, x2, sin, value=-sign)
        o2 = torch.addcmul(x2 * cos, x1, sin, value=sign)
        return torch.cat((o1, o2), dim=-1).to(x.dtype)
    out = torch.empty_like(x)
    o1, o2 = out.chunk(2, dim=-1)
    if x.dtype == torch.float32:
        torch.mul(x1, cos, out=o1)
        o1.addcmul_(x2, sin, value=-sign)
        torch.mul(x2, cos, out=o2)
        o2.addcmul_(x1, sin, value=sign)
    else:  # low precision: compute each half in fp32, round once
        o1.copy_(torch.addcmul(x1 * cos, x2, sin, value=-sign))
        o2.copy_(torch.addcmul(x2 * cos, x1, sin, value=sign))
    return out


class _Rotary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(cos, sin)
        return _rotate(x, cos, sin, 1.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        cos, sin = ctx.saved_tensors
        return _rotate(grad.contiguous(), cos, sin, -1.0), None, None  # the inverse rotation


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [B, T, H, D] by angles ``cos``/``sin`` [T, D/2] or [B, T, D/2] (per-row positions)."""
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # broadcast over heads
    return _Rotary.apply(x, cos, sin)


def apply_rope(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q [B, T, H, D] and k [B, T, Hkv, D]."""
    return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
