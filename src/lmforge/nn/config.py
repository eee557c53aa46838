"""The model's configuration: every architectural choice of the OLMo / OLMo-2 family as a field."""

from __future__ import annotations

import dataclasses
from typing import Literal

from lmforge.config import require

NormType = Literal["layernorm", "rmsnorm"]
NormPlacement = Literal["pre", "post"]
InitFn = Literal["mitchell", "normal"]


@dataclasses.dataclass
class ModelConfig:
    """An OLMo-architecture decoder.

    OLMo-1: ``norm_type=layernorm, norm_affine=False, norm_eps=1e-5, norm_placement=pre``.
    OLMo-2: ``norm_type=rmsnorm, norm_affine=True, norm_eps=1e-6, norm_placement=post, qk_norm=True``
    (``post`` is OLMo-2's "reordered norm": the norm is applied to the attention / MLP *outputs*).
    """

    preset: str | None = None  # the preset these values started from (informational; see models.presets)
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int | None = None  # None: multi-head attention (n_kv_heads = n_heads)
    mlp_hidden_size: int = 512  # per branch of the SwiGLU (the fused projection is 2x this)
    vocab_size: int = 50280
    embedding_size: int | None = None  # None: vocab_size rounded up to pad_vocab_multiple
    pad_vocab_multiple: int = 128
    max_sequence_length: int = 2048
    rope_theta: float = 10000.0
    norm_type: NormType = "layernorm"
    norm_affine: bool = False
    norm_eps: float = 1e-5
    norm_placement: NormPlacement = "pre"
    qk_norm: bool = False
    clip_qkv: float | None = None
    weight_tying: bool = False
    init_fn: InitFn = "mitchell"
    init_std: float = 0.02
    init_cutoff_factor: float = 3.0
    # Token ids the model is built around (written into HF configs; the tokenizer is the authority).
    eos_token_id: int = 50279
    pad_token_id: int = 1
    bos_token_id: int | None = None

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def padded_vocab_size(self) -> int:
        if self.embedding_size is not None:
            return self.embedding_size
        multiple = max(1, self.pad_vocab_multiple)
        return ((self.vocab_size + multiple - 1) // multiple) * multiple

    @property
    def family(self) -> str:
        """``olmo`` or ``olmo2`` when the options match a Hugging Face architecture, else ``custom``."""
        # transformers' OlmoLayerNorm hard-codes eps 1e-5, and Olmo2 has no clip_qkv.
        if (
            self.norm_type == "layernorm"
            and not self.norm_affine
            and self.norm_placement == "pre"
            and not self.qk_norm
            and self.norm_eps == 1e-5
        ):
            return "olmo"
        if (
            self.norm_type == "rmsnorm"
            and self.norm_affine
            and self.norm_placement == "post"
            and self.qk_norm
            and self.clip_qkv is None
        ):
            return "olmo2"
        return "custom"

    def validate(self) -> None:
        for name in (
            "d_model",
            "n_layers",
            "n_heads",
            "mlp_hidden_size",
            "vocab_size",
            "max_sequence_length",
        ):
            require(getattr(self, name) > 0, name, "must be positive")
        require(
            self.d_model % self.n_heads == 0,
            "d_model",
            f"must be divisible by n_heads (d_model={self.d_model}, n_heads={self.n_heads})",
        )
        require(
            self.head_dim % 2 == 0,
            "d_model",
            f"d_model / n_heads must be even for RoPE (got {self.head_dim})",
        )
        if self.n_kv_heads is not None:
            require(self.n_kv_heads > 0, "n_kv_heads", "must be positive")
            require(
                self.n_heads % self.n_kv_heads == 0,
                "n_kv_heads",
                f"must divide n_heads (n_heads={self.n_heads}, n_kv_heads={self.n_kv_heads})",
            )
        if self.embedding_size is not None:
            require(
                self.embedding_size >= self.vocab_size,
                "embedding_size",
                f"must be at least vocab_size ({self.embedding_size} < {self.vocab_size})",
            )
        if self.clip_qkv is not None:
            require(self.clip_qkv > 0, "clip_qkv", "must be positive when set")
        require(self.norm_eps > 0, "norm_eps", "must be positive")
        require(self.rope_theta > 0, "rope_theta", "must be positive")
        require(self.init_std > 0, "init_std", "must be positive")
