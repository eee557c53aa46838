"""Logits of lmforge's model against transformers' OlmoForCausalLM / Olmo2ForCausalLM (fp32, 1e-5)."""

from __future__ import annotations

import pytest
import torch
from hf_twins import VARIANTS, hf_twin, random_model


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_logits_match_transformers(name):
    model = random_model(name).eval()
    hf_model = hf_twin(model)
    expected_class = "Olmo2ForCausalLM" if name.startswith("olmo2") else "OlmoForCausalLM"
    assert type(hf_model).__name__ == expected_class
    ids = torch.randint(0, 250, (3, 37), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ours = model(ids).logits
        theirs = hf_model(ids).logits
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    if "clip" in name:  # the clip must actually bite for the test to mean something
        qkv = model.blocks["0"].attention.att_proj(model.embeddings(ids))
        assert qkv.abs().max() > model.config.clip_qkv


@pytest.mark.parametrize("name", ["olmo_gqa", "olmo2_gqa_tied"])
def test_left_padded_batch_matches_transformers(name):
    model = random_model(name).eval()
    hf_model = hf_twin(model)
    ids = torch.randint(2, 250, (2, 12), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ours = model(ids, attention_mask=mask, positions=positions).logits
        theirs = hf_model(ids, attention_mask=mask, position_ids=positions).logits
    real = mask.bool()
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["olmo_mqa_clip", "olmo2_gqa_tied"])
def test_gradients_match_transformers(name):
    """The backward pass too: every weight's gradient of the same loss agrees."""
    import torch.nn.functional as F

    from lmforge.hf.convert import to_hf_state_dict

    model = random_model(name).train()
    hf_model = hf_twin(model).train()
    ids = torch.randint(0, 250, (2, 24), generator=torch.Generator().manual_seed(5))
    for logits in (model(ids).logits, hf_model(ids).logits):
        F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten()).backward()
    ours = to_hf_state_dict({n: p.grad for n, p in model.named_parameters()}, model.config)
    theirs = {n: p.grad for n, p in hf_model.named_parameters()}
    for key, grad in ours.items():
        torch.testing.assert_close(grad, theirs[key], atol=2e-5, rtol=1e-4, msg=key)
