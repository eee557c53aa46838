"""Model presets: functions returning :class:`ModelConfig`, with the published OLMo / OLMo-2 shapes."""

from __future__ import annotations

from collections.abc import Callable

from lmforge.nn.config import ModelConfig

OLMO2_VOCAB = 100278  # dolma2 tokenizer
OLMO1_VOCAB = 50280  # GPT-NeoX-based tokenizer with PII tokens


def tiny() -> ModelConfig:
    """An OLMo-1 model for CPU tests and the quickstart: 0.4 M parameters in its blocks, 13 M in all (the
    50 304 x 128 embedding and output matrices are most of it)."""
    return ModelConfig(d_model=128, n_layers=2, n_heads=4, mlp_hidden_size=384, max_sequence_length=512)


def olmo_1b() -> ModelConfig:
    """allenai/OLMo-1B: tied embeddings, 2048 context."""
    return ModelConfig(
        d_model=2048, n_layers=16, n_heads=16, mlp_hidden_size=8192, vocab_size=OLMO1_VOCAB, weight_tying=True,
        max_sequence_length=2048,
    )  # fmt: skip


def olmo_7b() -> ModelConfig:
    """allenai/OLMo-7B."""
    return ModelConfig(
        d_model=4096, n_layers=32, n_heads=32, mlp_hidden_size=11008, vocab_size=OLMO1_VOCAB,
        max_sequence_length=2048,
    )  # fmt: skip


def olmo_7b_0424() -> ModelConfig:
    """allenai/OLMo-7B-0424 (OLMo 1.7): clip_qkv 8 against loss spikes, 4096 context."""
    config = olmo_7b()
    config.clip_qkv = 8.0
    config.max_sequence_length = 4096
    return config


def _olmo2(d_model: int, n_layers: int, n_heads: int, mlp_hidden_size: int) -> ModelConfig:
    return ModelConfig(
        d_model=d_model, n_layers=n_layers, n_heads=n_heads, mlp_hidden_size=mlp_hidden_size,
        vocab_size=OLMO2_VOCAB, max_sequence_length=4096, rope_theta=500000.0, norm_type="rmsnorm",
        norm_affine=True, norm_eps=1e-6, norm_placement="post", qk_norm=True, eos_token_id=100257,
        pad_token_id=100277, init_fn="normal",
    )  # fmt: skip


def olmo2_1b() -> ModelConfig:
    """allenai/OLMo-2-0425-1B."""
    return _olmo2(2048, 16, 16, 8192)


def olmo2_7b() -> ModelConfig:
    """allenai/OLMo-2-1124-7B."""
    return _olmo2(4096, 32, 32, 11008)


def tiny_olmo2() -> ModelConfig:
    config = _olmo2(128, 2, 4, 384)
    config.max_sequence_length = 512
    return config


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "tiny": tiny,
    "tiny_olmo2": tiny_olmo2,
    "olmo_1b": olmo_1b,
    "olmo_7b": olmo_7b,
    "olmo_7b_0424": olmo_7b_0424,
    "olmo2_1b": olmo2_1b,
    "olmo2_7b": olmo2_7b,
}


def get_preset(name: str) -> ModelConfig:
    from lmforge.config import ConfigError

    key = name.replace("-", "_")
    if key not in PRESETS:
        raise ConfigError("model.preset", f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[key]()


def resolve_model_section(section: dict) -> dict:
    """A config's ``model:`` mapping with its ``preset`` expanded: preset values, then explicit fields.

    ``{"preset": "tiny", "d_model": 256}`` -> every field of the tiny preset, d_model replaced.
    """
    from lmforge.config import to_dict

    section = dict(section or {})
    name = section.get("preset")
    if not name:
        return section
    base = to_dict(get_preset(str(name)))
    base.update(section)
    return base
