"""The OLMo / OLMo-2 decoder. Architecture only: parallelism is applied from :mod:`lmforge.distributed`."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from lmforge.nn.attention import Attention, KVCache, build_attention_mask
from lmforge.nn.config import ModelConfig
from lmforge.nn.mlp import SwiGLU
from lmforge.nn.norm import make_norm
from lmforge.nn.rope import rope_angles


@dataclasses.dataclass
class ModelOutput:
    logits: torch.Tensor  # [batch, seq, padded_vocab]


class Block(nn.Module):
    """One transformer layer. ``pre``: x + f(norm(x)) (OLMo-1); ``post``: x + norm(f(x)) (OLMo-2)."""

    def __init__(self, config: ModelConfig, layer_id: int) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.post_norm = config.norm_placement == "post"
        self.attention = Attention(config)
        self.attn_norm = make_norm(config)
        self.feed_forward = SwiGLU(config)
        self.ff_norm = make_norm(config)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        if self.post_norm:
            x = x + self.attn_norm(self.attention(x, rope, mask, cache))
            return x + self.ff_norm(self.feed_forward(x))
        x = x + self.attention(self.attn_norm(x), rope, mask, cache)
        return x + self.feed_forward(self.ff_norm(x))


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = nn.Embedding(config.padded_vocab_size, config.d_model)
        # A ModuleDict keyed by layer index (not a ModuleList) so per-block wrappers (FSDP, activation
        # checkpointing, compile) can replace entries in place, as torchtitan does.
        self.blocks = nn.ModuleDict({str(i): Block(config, i) for i in range(config.n_layers)})
        self.final_norm = make_norm(config)
        self.lm_head = (
            None if config.weight_tying else nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        )

    def output_weight(self) -> torch.Tensor:
        return self.embeddings.weight if self.lm_head is None else self.lm_head.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        doc_lens: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        kv_caches: list[KVCache] | None = None,
        logits_to_keep: int = 0,
    ) -> ModelOutput:
        """Logits for ``input_ids`` [B, T].

        ``doc_lens`` [B, max_docs]: restrict attention to within documents. ``attention_mask`` [B, past+T]:
        1 for real tokens (left padding 0). ``positions`` [B, T]: RoPE positions (default: past + arange).
        ``kv_caches``: one :class:`KVCache` per layer for incremental decoding. ``logits_to_keep`` > 0:
        compute logits for the last that many positions only (decoding needs one; the output projection is
        the largest matmul of a small model).
        """
        batch, seq = input_ids.shape
        past = kv_caches[0].length if kv_caches else 0
        if positions is None:
            positions = torch.arange(past, past + seq, device=input_ids.device)
        rope = rope_angles(positions, self.config.head_dim, self.config.rope_theta)
        if past and seq == 1 and doc_lens is None and attention_mask is None:
            mask = None  # one new token sees the whole cache: no mask needed
        else:
            mask = build_attention_mask(batch, seq, past + seq, input_ids.device, doc_lens, attention_mask)
        x = self.embeddings(input_ids)
        for i, block in enumerate(self.blocks.values()):
            x = block(x, rope, mask, kv_caches[i] if kv_caches else None)
        if logits_to_keep > 0:
            x = x[:, -logits_to_keep:]
        x = self.final_norm(x)
        logits = x @ self.output_weight().t() if self.lm_head is None else self.lm_head(x)
        return ModelOutput(logits=logits)

    def new_kv_caches(self, batch_size: int, max_len: int, dtype: torch.dtype | None = None) -> list[KVCache]:
        param = self.embeddings.weight
        return [
            KVCache(
                batch_size,
                self.config.kv_heads,
                max_len,
                self.config.head_dim,
                param.device,
                dtype or param.dtype,
            )
            for _ in range(self.config.n_layers)
        ]
