"""Causal self-attention: fused QKV, optional clip_qkv and QK-norm, RoPE, GQA, SDPA, KV cache."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.nn.config import ModelConfig
from lmforge.nn.norm import make_norm
from lmforge.nn.rope import apply_rotary


class KVCache:
    """Pre-allocated keys and values of one layer for incremental decoding: [B, Hkv, max_len, D]."""

    def __init__(
        self,
        batch_size: int,
        n_kv_heads: int,
        max_len: int,
        head_dim: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.k = torch.zeros(batch_size, n_kv_heads, max_len, head_dim, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.length = 0

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + k.shape[2]
        if end > self.k.shape[2]:
            raise ValueError(f"KV cache full: {end} positions requested, {self.k.shape[2]} allocated")
        self.k[:, :, self.length : end] = k
        self.v[:, :, self.length : end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only batch rows ``rows`` (drop finished sequences)."""
        self.k = self.k[rows]
        self.v = self.v[rows]


class Attention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.n_kv_heads = config.kv_heads
        self.head_dim = config.head_dim
        self.clip_qkv = config.clip_qkv
        q_size, kv_size = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        self.split_sizes = (q_size, kv_size, kv_size)
        self.att_proj = nn.Linear(config.d_model, q_size + 2 * kv_size, bias=False)
        self.attn_out = nn.Linear(q_size, config.d_model, bias=False)
        # OLMo-2's QK-norm normalises the full q and k projections (all heads together), not per head.
        self.q_norm = make_norm(config, q_size) if config.qk_norm else None
        self.k_norm = make_norm(config, kv_size) if config.qk_norm else None

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        batch, seq, _ = x.shape
        qkv = self.att_proj(x)
        if self.clip_qkv is not None:
            qkv = qkv.clamp(min=-self.clip_qkv, max=self.clip_qkv)
        cos, sin = rope
        heads = self.n_heads + self.n_kv_heads
        if self.q_norm is not None and self.k_norm is not None:
            q, k, v = qkv.split(self.split_sizes, dim=-1)
            q, k = self.q_norm(q), self.k_norm(k)
            qk = torch.cat((q, k), dim=-1).view(batch, seq, heads, self.head_dim)
            v = v.view(batch, seq, self.n_kv_heads, self.head_dim)
        else:
            qk, v = qkv.view(batch, seq, heads + self.n_kv_heads, self.head_dim).split(
                (heads, self.n_kv_heads), dim=2
            )
        # q and k rotate in one pass; [B, T, H, D] -> [B, H, T, D] views for SDPA.
        q, k = apply_rotary(qk, cos, sin).transpose(1, 2).split((self.n_heads, self.n_kv_heads), dim=1)
        v = v.transpose(1, 2)
        if cache is not None:
            k, v = cache.update(k, v)
        # mask=None means causal; a single query (a decoding step) attends to every cached key, and SDPA's
        # is_causal would align it with the first key instead. enable_gqa shares each k/v head among
        # n_heads / n_kv_heads query heads without materialising copies (the KV cache stays small).
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=mask is None and seq > 1,
            enable_gqa=self.n_kv_heads != self.n_heads,
        )
        return self.attn_out(out.transpose(1, 2).reshape(batch, seq, -1))


def doc_ids_from_lengths(doc_lens: torch.Tensor, seq_len: int) -> torch.Tensor:
    """[B, max_docs] document lengths (zero-padded, as OLMo's loader gives them) -> [B, seq_len] doc index."""
    ends = doc_lens.cumsum(dim=-1)  # [B, max_docs]
    positions = torch.arange(seq_len, device=doc_lens.device)
    return (positions[None, :, None] >= ends[:, None, :]).sum(dim=-1)


def build_attention_mask(
    batch_size: int,
    query_len: int,
    key_len: int,
    device: torch.device,
    doc_lens: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """A boolean [B, 1, Tq, Tk] mask (True = attend), or None when plain causal attention suffices.

    Queries are the last ``query_len`` of ``key_len`` positions (the KV-cache case). ``doc_lens`` keeps
    attention inside documents (intra-document masking); ``attention_mask`` [B, Tk] marks real tokens
    (left padding is 0).
    """
    offset = key_len - query_len
    if doc_lens is None and attention_mask is None and offset == 0:
        return None
    q_pos = torch.arange(offset, key_len, device=device)
    k_pos = torch.arange(key_len, device=device)
    mask = (k_pos[None, :] <= q_pos[:, None])[None, None].expand(batch_size, 1, query_len, key_len)
    if doc_lens is not None:
        ids = doc_ids_from_lengths(doc_lens.to(device), key_len)
        mask = mask & (ids[:, None, -query_len:, None] == ids[:, None, None, :])
    if attention_mask is not None:
        mask = mask & attention_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
        # A padding query would see no key at all, and SDPA turns an empty row into NaN; letting it
        # see itself keeps the row finite (its output is never used).
        mask = mask | (k_pos[None, :] == q_pos[:, None])[None, None]
    return mask
