"""Next-token loss as *sums* over tokens, so micro-batches, ranks and masks combine into an exact mean."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """fp64 for loss sums over many tokens (exact enough to compare runs at 1e-5), but MPS has no fp64."""
    return torch.float32 if device.type == "mps" else torch.float64


def next_token_labels(input_ids: torch.Tensor, label_mask: torch.Tensor | None = None) -> torch.Tensor:
    """[B, T] labels for the logits at positions 0..T-1: token t+1, IGNORE_INDEX at the last position (no
    next token) and wherever ``label_mask`` is false. The labels shift, not the logits: slicing the logits
    would copy a [B, T, vocab] tensor every micro-batch."""
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[:, :-1] = input_ids[:, 1:]
    if label_mask is not None:
        labels[:, :-1][~label_mask[:, 1:].bool()] = IGNORE_INDEX
    return labels


def loss_sums(
    logits: torch.Tensor, labels: torch.Tensor, z_loss_multiplier: float | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(sum of cross-entropy, sum of z-loss or None) over the non-ignored labels, computed in fp32.

    The z-loss (PaLM, OLMo) is ``multiplier * logsumexp(logits)^2`` per token: it keeps the softmax
    normaliser near 1, which guards bf16 training against logit drift.
    """
    logits = logits.reshape(-1, logits.shape[-1]).float()  # a view (no copy) when already fp32
    flat = labels.reshape(-1)
    ce = F.cross_entropy(logits, flat, ignore_index=IGNORE_INDEX, reduction="sum")
    if not z_loss_multiplier:
        return ce, None
    valid = (flat != IGNORE_INDEX).to(logits.dtype)
    z = torch.logsumexp(logits, dim=-1)
    return ce, z_loss_multiplier * (z.pow(2) * valid).sum()
