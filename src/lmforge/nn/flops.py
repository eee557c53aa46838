"""Parameter counts and training FLOPs per token, computed from the config alone (no weights)."""

from __future__ import annotations

from lmforge.nn.config import ModelConfig


def num_params(config: ModelConfig, include_embedding: bool = True) -> int:
    d, h, hd = config.d_model, config.mlp_hidden_size, config.head_dim
    q, kv = config.n_heads * hd, config.kv_heads * hd
    norm = 1 if config.norm_affine else 0
    per_layer = d * (q + 2 * kv) + q * d + d * 2 * h + h * d + norm * 2 * d
    if config.qk_norm and config.norm_affine:
        per_layer += q + kv
    total = config.n_layers * per_layer + norm * d
    vocab = config.padded_vocab_size
    if not config.weight_tying:
        total += vocab * d  # the output projection is not an embedding lookup: it always counts
    if include_embedding:
        total += vocab * d
    return total


def flops_per_token(config: ModelConfig, seq_len: int | None = None) -> int:
    """Forward + backward FLOPs per token: 6 x (matmul parameters) + 12 x layers x d_attn x seq_len.

    The input embedding is a lookup and costs nothing; the output projection counts even when tied. The
    attention term counts the full T x T score matrix (PaLM / OLMo convention, no causal halving).
    """
    seq_len = seq_len or config.max_sequence_length
    matmul_params = num_params(config, include_embedding=False)
    if config.weight_tying:
        matmul_params += config.padded_vocab_size * config.d_model
    attention = 12 * config.n_layers * config.n_heads * config.head_dim * seq_len
    return 6 * matmul_params + attention
