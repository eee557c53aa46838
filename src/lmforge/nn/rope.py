"""Rotary position embeddings, rotate-half convention, always computed in fp32.

Nothing is cached in buffers: the angles are cheap next to the matmuls, and keeping no buffers means a model
built on the meta device needs no special care when it is materialised or sharded.
"""

from __future__ import annotations

import torch


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin for ``positions`` ([T] or [B, T]); shape [..., T, head_dim], fp32."""
    inv_freq = 1.0 / (
        theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.int64).float() / head_dim)
    )
    with torch.autocast(positions.device.type, enabled=False):
        freqs = positions.float()[..., None] * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q [B, H, T, D] and k [B, Hkv, T, D]; cos/sin are [T, D] or [B, T, D]."""
    if cos.dim() == 3:  # per-row positions (left-padded batches): broadcast over heads
        cos, sin = cos[:, None], sin[:, None]
    q32, k32 = q.float(), k.float()
    q_out = q32 * cos + _rotate_half(q32) * sin
    k_out = k32 * cos + _rotate_half(k32) * sin
    return q_out.to(q.dtype), k_out.to(k.dtype)
