"""Tiny models of every family and option, and their transformers twins (shared by tests/hf)."""

from __future__ import annotations

import pytest
import torch

from lmforge.models.folder import model_config_from_dict
from lmforge.nn import build_model

transformers = pytest.importorskip("transformers")

# name -> model section; every option the HF architectures cover appears at least once.
VARIANTS: dict[str, dict] = {
    "olmo": {"preset": "tiny"},
    "olmo_tied": {"preset": "tiny", "weight_tying": True},
    "olmo_gqa": {"preset": "tiny", "n_kv_heads": 2},
    "olmo_mqa_clip": {"preset": "tiny", "n_kv_heads": 1, "clip_qkv": 0.05},
    "olmo_clip_tied": {"preset": "tiny", "clip_qkv": 0.08, "weight_tying": True, "rope_theta": 500.0},
    "olmo2": {"preset": "tiny_olmo2"},
    "olmo2_gqa_tied": {"preset": "tiny_olmo2", "n_kv_heads": 2, "weight_tying": True},
}


def tiny_config(name: str, vocab_size: int = 250):
    section = {**VARIANTS[name], "vocab_size": vocab_size, "n_layers": 2}
    return model_config_from_dict({**section, "eos_token_id": vocab_size - 1, "pad_token_id": 1})


def random_model(name: str, seed: int = 0, vocab_size: int = 250):
    """Random weights, including norm weights (initialised to one, they would hide mapping mistakes)."""
    model = build_model(tiny_config(name, vocab_size), seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:
                param.copy_(1.0 + 0.3 * torch.randn(param.shape, generator=gen))
    return model


def hf_twin(model):
    """The transformers model computing the same function, built from lmforge's conversion."""
    from lmforge.hf.convert import hf_config_dict, to_hf_state_dict

    config_dict = hf_config_dict(model.config)
    config = transformers.AutoConfig.for_model(**config_dict)
    hf_model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    hf_state = to_hf_state_dict(model.state_dict(), model.config)
    missing, unexpected = hf_model.load_state_dict(hf_state, strict=False)
    assert not unexpected, unexpected
    assert set(missing) <= {"lm_head.weight"} and (not missing or model.config.weight_tying), missing
    return hf_model.eval()
