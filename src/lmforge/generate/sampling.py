"""Choosing the next token from logits: greedy, temperature, top-k, top-p (nucleus)."""

from __future__ import annotations

import dataclasses

import torch

from lmforge.config import require


@dataclasses.dataclass
class SamplingParams:
    """How each new token is chosen. ``temperature == 0`` is greedy decoding (argmax).

    Filters apply in the order transformers uses: temperature, then top-k, then top-p.
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set of tokens whose probabilities sum to >= top_p
    seed: int | None = None  # seeds a torch.Generator for sampling; None: torch's global generator

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def validate(self) -> None:
        require(self.max_new_tokens >= 0, "max_new_tokens", "must be >= 0")
        require(self.temperature >= 0, "temperature", "must be >= 0 (0 means greedy)")
        if self.top_k is not None:
            require(self.top_k > 0, "top_k", "must be positive when set")
        if self.top_p is not None:
            require(0 < self.top_p <= 1, "top_p", "must be in (0, 1]")


def filter_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """[B, V] fp32 logits with temperature applied and filtered-out tokens set to -inf."""
    logits = logits / params.temperature
    if params.top_k is not None and params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p is not None and params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p; the first one always stays.
        drop_sorted = (probs.cumsum(dim=-1) - probs) >= params.top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_tokens(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One token id per row of ``logits`` [B, V]."""
    if params.greedy:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits.float(), params).softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
