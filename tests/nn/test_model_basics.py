from __future__ import annotations

import pytest
import torch

from lmforge.config import ConfigError
from lmforge.models import get_preset, load_model, save_model_folder
from lmforge.models.cli import info
from lmforge.models.folder import model_config_from_dict
from lmforge.nn import build_model


@pytest.mark.parametrize(
    ("preset", "expected"),
    [("olmo_1b", 1_176_764_416), ("olmo_7b", 6_888_095_744), ("olmo2_7b", 7_298_617_344)],
)
def test_preset_parameter_counts_without_memory(preset, expected):
    assert info(get_preset(preset))["num_params"] == expected


def test_validation_names_field_and_rule():
    with pytest.raises(ConfigError, match=r"model\.d_model: must be divisible by n_heads"):
        model_config_from_dict({"preset": "tiny", "d_model": 100, "n_heads": 3})
    with pytest.raises(ConfigError, match=r"model\.n_kv_heads: must divide n_heads"):
        model_config_from_dict({"preset": "tiny", "n_kv_heads": 3})


def test_vocab_padding():
    assert get_preset("olmo_1b").padded_vocab_size == 50304
    assert get_preset("olmo2_7b").padded_vocab_size == 100352


def test_same_seed_same_weights_and_folder_roundtrip(tmp_path):
    config = model_config_from_dict({"preset": "tiny", "vocab_size": 300, "n_kv_heads": 2})
    a, b = build_model(config, seed=3), build_model(config, seed=3)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name
    save_model_folder(a, str(tmp_path / "m"))
    loaded = load_model(str(tmp_path / "m"))
    ids = torch.randint(0, 300, (2, 16))
    assert torch.equal(a(ids).logits, loaded(ids).logits)
    assert a(ids).logits.shape == (2, 16, 384)


def test_causality_and_intra_document_masking():
    config = model_config_from_dict({"preset": "tiny", "vocab_size": 300})
    model = build_model(config, seed=0)
    ids = torch.randint(0, 300, (1, 12))
    full = model(ids).logits
    changed = ids.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 300
    assert torch.allclose(model(changed).logits[0, :8], full[0, :8], atol=1e-6)
    # Two documents of 5 and 7 tokens: the second must not see the first.
    doc = model(ids, doc_lens=torch.tensor([[5, 7]])).logits
    alone = model(ids[:, 5:]).logits
    assert torch.allclose(doc[0, 5:], alone[0], atol=1e-5)
    assert torch.allclose(doc[0, :5], full[0, :5], atol=1e-6)


def test_kv_cache_matches_full_forward():
    for preset in ("tiny", "tiny_olmo2"):
        config = model_config_from_dict({"preset": preset, "vocab_size": 300, "n_kv_heads": 2})
        model = build_model(config, seed=1)
        ids = torch.randint(0, 300, (2, 10))
        full = model(ids).logits
        caches = model.new_kv_caches(2, 10)
        first = model(ids[:, :6], kv_caches=caches).logits
        steps = [model(ids[:, i : i + 1], kv_caches=caches).logits for i in range(6, 10)]
        assert torch.allclose(torch.cat([first, *steps], dim=1), full, atol=1e-5)


def _check_truncated_normal(name: str, values: torch.Tensor, std: float) -> None:
    # A normal truncated at 3 sigma has a standard deviation of 0.9866 sigma.
    assert values.abs().max() <= 3 * std * (1 + 1e-6), name
    assert abs(values.float().std().item() / (0.9866 * std) - 1) < 0.03, (name, values.std().item(), std)
    assert abs(values.float().mean().item()) < 0.05 * std, name


def test_mitchell_init_follows_olmo():
    """OLMo-1's scheme: 1/sqrt(fan_in); attn_out / ff_out shrink with depth, 1/sqrt(2 * fan_in * (layer + 1))."""
    import math

    config = model_config_from_dict(
        {
            "preset": "tiny",
            "d_model": 256,
            "n_heads": 4,
            "n_layers": 3,
            "mlp_hidden_size": 512,
            "vocab_size": 300,
        }
    )
    model = build_model(config, seed=7)
    params = dict(model.named_parameters())
    d, h = 256, 512
    expected = {"embeddings.weight": 1 / math.sqrt(d), "lm_head.weight": 1 / math.sqrt(d)}
    for layer in range(3):
        expected[f"blocks.{layer}.attention.att_proj.weight"] = 1 / math.sqrt(d)
        expected[f"blocks.{layer}.feed_forward.ff_proj.weight"] = 1 / math.sqrt(d)
        expected[f"blocks.{layer}.attention.attn_out.weight"] = 1 / math.sqrt(2 * d * (layer + 1))
        expected[f"blocks.{layer}.feed_forward.ff_out.weight"] = 1 / math.sqrt(2 * h * (layer + 1))
    assert set(expected) == set(params)  # OLMo-1: no norm weights, no biases
    for name, std in expected.items():
        _check_truncated_normal(name, params[name].detach(), std)
    other_seed = build_model(config, seed=8)
    assert not torch.equal(other_seed.embeddings.weight, model.embeddings.weight)


def test_normal_init_is_truncated_at_three_sigma_and_norms_start_at_one():
    config = model_config_from_dict(
        {"preset": "tiny_olmo2", "d_model": 256, "n_layers": 2, "vocab_size": 300}
    )
    assert config.init_fn == "normal" and config.init_std == 0.02
    for name, param in build_model(config, seed=3).named_parameters():
        if param.dim() == 1:
            assert torch.equal(param, torch.ones_like(param)), name
        else:
            _check_truncated_normal(name, param.detach(), 0.02)


def test_built_on_the_meta_device_without_memory():
    model = build_model(get_preset("olmo2_7b"), device="meta")
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == 7_298_617_344


def test_presets_carry_the_published_architectures():
    olmo_1b, olmo_7b, olmo_0424 = get_preset("olmo_1b"), get_preset("olmo_7b"), get_preset("olmo_7b_0424")
    assert olmo_1b.weight_tying and not olmo_7b.weight_tying
    assert (olmo_0424.clip_qkv, olmo_0424.max_sequence_length) == (8.0, 4096)
    assert olmo_7b.clip_qkv is None and olmo_7b.max_sequence_length == 2048
    for preset in ("olmo_1b", "olmo_7b", "olmo_7b_0424", "tiny"):
        config = get_preset(preset)
        assert config.family == "olmo" and config.norm_type == "layernorm" and not config.norm_affine
        assert (config.norm_eps, config.rope_theta, config.init_fn) == (1e-5, 10000.0, "mitchell")
    for preset in ("olmo2_1b", "olmo2_7b", "tiny_olmo2"):
        config = get_preset(preset)
        assert config.family == "olmo2" and config.norm_placement == "post" and config.qk_norm
        assert (config.norm_type, config.norm_eps, config.rope_theta) == ("rmsnorm", 1e-6, 500000.0)
        assert config.padded_vocab_size == 100352
    assert info(get_preset("olmo2_1b"))["num_params"] == 1_484_916_736
