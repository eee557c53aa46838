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
