"""Batched KV-cache decoding with any :class:`~lmforge.nn.Transformer`.

Prompts of different lengths are left-padded to a common length, so every row's next token sits in the
same column: one pre-allocated KV cache serves the whole batch, the attention mask hides the padding, and
RoPE positions count real tokens only (position 0 is each prompt's first token, as transformers does it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmforge.config import ConfigError
from lmforge.generate.sampling import SamplingParams, next_tokens
from lmforge.nn.transformer import Transformer


def _eos_set(eos_token_id: int | Sequence[int] | None) -> list[int]:
    if eos_token_id is None:
        return []
    return [int(eos_token_id)] if isinstance(eos_token_id, int) else [int(e) for e in eos_token_id]


@torch.inference_mode()
def generate(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    params: SamplingParams | None = None,
    *,
    eos_token_id: int | Sequence[int] | None = -1,
    pad_token_id: int | None = None,
    generator: torch.Generator | None = None,
    **overrides,
) -> list[list[int]]:
    """Continue each prompt (a list of token ids); returns the new tokens of each, EOS included if hit.

    ``params`` (or keyword overrides such as ``max_new_tokens=32, temperature=0.8, top_p=0.9, seed=1``)
    choose the decoding; ``eos_token_id`` defaults to the model config's (``None``: never stop early).
    Sampling draws from ``generator``, else from one seeded with ``params.seed``, else torch's global one.
    """
    params = params if params is not None else SamplingParams()
    if overrides:
        import dataclasses

        params = dataclasses.replace(params, **overrides)
    params.validate()
    if not prompts:
        return []
    if any(len(p) == 0 for p in prompts):
        raise ConfigError(
            "prompt", "every prompt needs at least one token (add a BOS/EOS token to start from nothing)"
        )
    config = model.config
    eos = _eos_set(config.eos_token_id if eos_token_id == -1 else eos_token_id)
    pad = config.pad_token_id if pad_token_id is None else pad_token_id
    device = model.embeddings.weight.device
    if generator is None and params.seed is not None and not params.greedy:
        generator = torch.Generator(device=device).manual_seed(params.seed)

    batch, prompt_len = len(prompts), max(len(p) for p in prompts)
    total_len = prompt_len + params.max_new_tokens
    if total_len > config.max_sequence_length:
        raise ConfigError(
            "max_new_tokens",
            f"prompt ({prompt_len} tokens) + max_new_tokens ({params.max_new_tokens}) exceeds the model's "
            f"max_sequence_length ({config.max_sequence_length})",
        )
    input_ids = torch.full((batch, prompt_len), pad, dtype=torch.long)
    mask = torch.zeros((batch, total_len), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, prompt_len - len(prompt) :] = torch.as_tensor(list(prompt), dtype=torch.long)
        mask[row, prompt_len - len(prompt) : prompt_len] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)
    padded = bool((mask[:, :prompt_len] == 0).any())
    positions = (mask[:, :prompt_len].cumsum(-1) - 1).clamp(min=0)

    out = torch.full((batch, params.max_new_tokens), pad, dtype=torch.long, device=device)
    eos_ids = torch.tensor(eos, dtype=torch.long, device=device) if eos else None
    caches = model.new_kv_caches(batch, total_len)
    logits = model(
        input_ids,
        attention_mask=mask[:, :prompt_len] if padded else None,
        positions=positions,
        kv_caches=caches,
        logits_to_keep=1,
    ).logits[:, -1]
    next_pos = positions[:, -1:] + 1
    rows = torch.arange(batch, device=device)  # the output row of each sequence still being decoded
    steps = 0
    for step in range(params.max_new_tokens):
        token = next_tokens(logits.float(), params, generator)
        out[rows, step] = token
        steps = step + 1
        if eos_ids is not None:
            done = torch.isin(token, eos_ids)
            if bool(done.any()):  # one host sync per step buys stopping finished rows at once
                if bool(done.all()):
                    break
                # Drop finished rows from the batch (and their caches): no compute is spent on them.
                keep = (~done).nonzero().squeeze(1)
                rows, token, next_pos, mask = rows[keep], token[keep], next_pos[keep], mask[keep]
                for cache in caches:
                    cache.select(keep)
        if step + 1 == params.max_new_tokens:
            break
        mask[:, prompt_len + step] = 1
        logits = model(
            token[:, None],
            attention_mask=mask[:, : prompt_len + step + 1] if padded else None,
            positions=next_pos,
            kv_caches=caches,
        ).logits[:, -1]
        next_pos = next_pos + 1

    results: list[list[int]] = []
    for row in out[:, :steps].tolist():
        for i, token in enumerate(row):
            if token in eos:
                row = row[: i + 1]
                break
        results.append(row)
    return results
