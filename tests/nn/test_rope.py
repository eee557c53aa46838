"""The fused rotary function against the textbook rotate-half formula, forward and backward."""

from __future__ import annotations

import torch

from lmforge.nn.rope import apply_rotary, rope_angles


def reference(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    freqs = positions.double()[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().unsqueeze(-2), emb.sin().unsqueeze(-2)
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def test_forward_and_backward_match_reference():
    x = torch.randn(2, 7, 3, 16, dtype=torch.float64)
    positions = torch.arange(7)
    cos, sin = rope_angles(positions, 16, 10000.0)
    ours = apply_rotary(x.float().requires_grad_(), cos, sin)
    torch.testing.assert_close(ours.double(), reference(x, positions, 10000.0), atol=1e-5, rtol=0)
    # Backward: the gradient of <rotate(x), g> is the inverse rotation of g.
    xr = x.clone().requires_grad_()
    g = torch.randn_like(x)
    (reference(xr, positions, 10000.0) * g).sum().backward()
    xf = x.float().requires_grad_()
    (apply_rotary(xf, cos, sin) * g.float()).sum().backward()
    torch.testing.assert_close(xf.grad.double(), xr.grad, atol=1e-5, rtol=0)


def test_per_row_positions_and_bf16():
    x = torch.randn(2, 5, 4, 8)
    positions = torch.tensor([[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]])
    cos, sin = rope_angles(positions, 8, 500000.0)
    ours = apply_rotary(x, cos, sin)
    torch.testing.assert_close(ours.double(), reference(x.double(), positions, 500000.0), atol=1e-5, rtol=0)
    low = apply_rotary(x.bfloat16(), cos, sin)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ours, atol=2e-2, rtol=1e-2)


def test_model_compiles_and_matches_eager():
    """torch.compile (used by the trainer's parallelize step) must trace the rotary function."""
    from lmforge.models.folder import model_config_from_dict
    from lmforge.nn import build_model

    model = build_model(model_config_from_dict({"preset": "tiny", "vocab_size": 256, "n_layers": 1}), seed=0)
    ids = torch.randint(0, 256, (2, 16))
    compiled = torch.compile(model, backend="aot_eager")  # traces like inductor, needs no C++ compiler
    out = compiled(ids).logits
    torch.testing.assert_close(out, model(ids).logits, atol=1e-5, rtol=0)
    out.sum().backward()
    assert model.embeddings.weight.grad is not None
