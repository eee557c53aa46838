"""Final hidden states of a model, with a custom attention mask and positions where the model allows it.

Scoring needs log-probabilities at a few positions only (the answer tokens), and computing the
[batch, seq, vocab] logits everywhere dominates the cost for small models with large vocabularies. For an
unwrapped lmforge :class:`~lmforge.nn.transformer.Transformer` we run its modules ourselves (same order as its
``forward``), which also lets several answers share one copy of their context through a block-diagonal mask.
Any other model (a Hugging Face one, a compiled or FSDP-wrapped lmforge model) goes through its own
``forward`` and yields full logits.
"""

from __future__ import annotations

import torch
from torch import nn


def supports_custom_mask(model: nn.Module) -> bool:
    """True for a plain lmforge Transformer whose weights are ordinary (unsharded) tensors."""
    from lmforge.nn.transformer import Transformer

    if type(model) is not Transformer:
        return False
    # FSDP2 shards parameters into DTensors and gathers them only in the root module's forward hook.
    return not any(hasattr(p, "device_mesh") for p in model.parameters())


def final_hidden(
    model: nn.Module, input_ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """[B, T, d_model] after the final norm. ``mask`` [B, 1, T, T] bool (True = attend) or None (causal)."""
    from lmforge.nn.rope import rope_angles

    config = model.config
    rope = rope_angles(positions, config.head_dim, config.rope_theta)
    x = model.embeddings(input_ids)
    for block in model.blocks.values():
        x = block(x, rope, mask, None)
    return model.final_norm(x)


def model_logits(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """[B, T, V] logits through the model's own forward (lmforge or Hugging Face outputs)."""
    out = model(input_ids)
    return out.logits if hasattr(out, "logits") else out[0]
