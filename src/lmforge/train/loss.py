"""Next-token loss as *sums* over tokens, so micro-batches, ranks and masks combine into an exact mean."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def next_token_labels(input_ids: torch.Tensor, label_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Labels aligned with the logits of positions 0..T-2: token t+1, or IGNORE_INDEX where masked."""
    labels = input_ids[:, 1:].clone()
    if label_mask is not None:
        labels[~label_mask[:, 1:].bool()] = IGNORE_INDEX
    return labels


def loss_sums(
    logits: torch.Tensor, labels: torch.Tensor, z_loss_multiplier: float | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(sum of cross-entropy, sum of z-loss or None) over the non-ignored labels, computed in fp32.

    ``logits`` [B, T, V] for positions 0..T-1; the last position has no label and is dropped here. The z-loss
    (PaLM, OLMo) is ``multiplier * logsumexp(logits)^2`` per token: it keeps the softmax normaliser near 1.
    """
    logits = logits[:, :-1].float().reshape(-1, logits.shape[-1])
    flat = labels.reshape(-1)
    ce = F.cross_entropy(logits, flat, ignore_index=IGNORE_INDEX, reduction="sum")
    if not z_loss_multiplier:
        return ce, None
    valid = (flat != IGNORE_INDEX).float()
    z = torch.logsumexp(logits, dim=-1)
    return ce, z_loss_multiplier * (z.pow(2) * valid).sum()
