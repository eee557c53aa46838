"""Log-likelihoods of token continuations given token contexts, batched and length-sorted.

Semantics are lm-eval's ``hf`` backend (``_loglikelihood_tokens``): the model reads
``(context + continuation)[-(max_length + 1):][:-1]`` and the continuation's log-probability is the sum of
``log_softmax(logits)`` over the full (padded) vocabulary at the continuation's positions; ``is_greedy`` says
whether greedy decoding would have produced every continuation token.

What is different is only how the work is laid out, never the numbers:
- requests that share a context (the answer choices of one question) are packed into one row: the context
  once, then every continuation, each attending to the context and to itself (a block-diagonal causal mask,
  positions restarting after the context), so the context is read once instead of once per choice;
- log-probabilities are computed only where they are needed (the continuation positions), in chunks,
  instead of materialising [batch, seq, vocab] log-softmax for every position;
- rows are sorted longest first and batched, so padding is small and memory peaks at the first batch.
Packing needs the lmforge model's modules (see :mod:`lmforge.eval.forward`); other models get one row per
request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from lmforge.eval.forward import final_hidden, model_logits, supports_custom_mask

PAD_ID = 0  # any valid id: padded positions are never scored and never attended to by real tokens


@dataclasses.dataclass(frozen=True)
class TokenScore:
    logprob: float
    is_greedy: bool
    num_tokens: int


@dataclasses.dataclass
class _Row:
    tokens: list[int]
    positions: list[int]
    segments: list[int]  # 0: shared context, i > 0: the i-th packed continuation
    # per request packed here: (request index, positions predicting its tokens, its tokens)
    targets: list[tuple[int, list[int], list[int]]]


def truncate_request(context: Sequence[int], continuation: Sequence[int], max_length: int) -> list[int]:
    """The context the model actually sees: lm-eval keeps the last ``max_length + 1`` tokens of the pair."""
    if not continuation:
        raise ValueError("empty continuation: nothing to score")
    if not context:
        raise ValueError("empty context: condition on the prefix token instead")
    if len(continuation) > max_length:
        raise ValueError(f"continuation of {len(continuation)} tokens exceeds max_length {max_length}")
    overflow = len(context) + len(continuation) - (max_length + 1)
    return list(context[overflow:]) if overflow > 0 else list(context)


def _single_row(index: int, context: list[int], continuation: list[int]) -> _Row:
    tokens = context + continuation[:-1]
    start = len(context) - 1
    return _Row(
        tokens=tokens,
        positions=list(range(len(tokens))),
        segments=[0] * len(tokens),
        targets=[(index, list(range(start, start + len(continuation))), continuation)],
    )


def _packed_rows(
    indices: list[int], context: list[int], continuations: list[list[int]], max_row_len: int
) -> list[_Row]:
    """One context followed by several continuations (minus their last token, which predicts nothing)."""
    rows: list[_Row] = []
    row: _Row | None = None
    for index, cont in zip(indices, continuations):
        extra = len(cont) - 1
        if row is None or (len(row.tokens) + extra > max_row_len and len(row.targets) > 0):
            row = _Row(list(context), list(range(len(context))), [0] * len(context), [])
            rows.append(row)
        seg = len(row.targets) + 1
        start = len(row.tokens)
        predict = [len(context) - 1, *list(range(start, start + extra))]
        row.tokens += cont[:-1]
        row.positions += list(range(len(context), len(context) + extra))
        row.segments += [seg] * extra
        row.targets.append((index, predict, cont))
    return rows


class Scorer:
    """Score many ``(context_tokens, continuation_tokens)`` pairs with one model.

    ``batch_size`` counts rows per forward pass (a packed row holds all choices of one question).
    """

    def __init__(
        self,
        model: nn.Module,
        max_length: int,
        batch_size: int = 16,
        share_context: bool = True,
        progress: bool = True,
        logits_chunk: int | None = None,
    ) -> None:
        self.model = model
        self.max_length = max_length
        self.batch_size = max(1, batch_size)
        self.fast = supports_custom_mask(model)
        self.share_context = share_context and self.fast
        self.progress = progress
        # positions per log-softmax chunk: about 64M logits (256 MB in fp32) whatever the vocabulary size
        vocab = getattr(getattr(model, "config", None), "padded_vocab_size", None) or 50304
        self.logits_chunk = logits_chunk or max(64, (64 << 20) // vocab)
        self.device = next(model.parameters()).device

    def _rows(self, requests: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[_Row]:
        prepared = [(truncate_request(ctx, cont, self.max_length), list(cont)) for ctx, cont in requests]
        if not self.share_context:
            return [_single_row(i, ctx, cont) for i, (ctx, cont) in enumerate(prepared)]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, _) in enumerate(prepared):
            groups.setdefault(tuple(ctx), []).append(i)
        rows: list[_Row] = []
        for ctx_key, indices in groups.items():
            ctx = list(ctx_key)
            if len(indices) == 1:
                rows.append(_single_row(indices[0], ctx, prepared[indices[0]][1]))
                continue
            max_row_len = max(self.max_length, len(ctx))
            rows += _packed_rows(indices, ctx, [prepared[i][1] for i in indices], max_row_len)
        return rows

    @torch.no_grad()
    def score(
        self, requests: Sequence[tuple[Sequence[int], Sequence[int]]], desc: str = "scoring"
    ) -> list[TokenScore]:
        rows = self._rows(requests)
        rows.sort(key=lambda r: -len(r.tokens))
        logprobs = [0.0] * len(requests)
        greedy = [True] * len(requests)
        counts = [0] * len(requests)
        bar = tqdm(total=len(requests), desc=desc, disable=not self.progress, leave=False)
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            for index, lp, is_greedy, n in self._score_batch(batch):
                logprobs[index] += lp
                greedy[index] = greedy[index] and is_greedy
                counts[index] += n
            bar.update(sum(len(r.targets) for r in batch))
        bar.close()
        return [TokenScore(lp, g, n) for lp, g, n in zip(logprobs, greedy, counts)]

    def _score_batch(self, batch: list[_Row]) -> list[tuple[int, float, bool, int]]:
        width = max(len(r.tokens) for r in batch)
        ids = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        segments = torch.full((len(batch), width), -1, dtype=torch.long)
        for b, row in enumerate(batch):
            n = len(row.tokens)
            ids[b, :n] = torch.tensor(row.tokens)
            positions[b, :n] = torch.tensor(row.positions)
            segments[b, :n] = torch.tensor(row.segments)
        flat_b, flat_t, flat_y, owners = [], [], [], []
        for b, row in enumerate(batch):
            for index, predict, targets in row.targets:
                flat_b += [b] * len(predict)
                flat_t += predict
                flat_y += targets
                owners.append((index, len(predict)))
        ids, flat_y_t = ids.to(self.device), torch.tensor(flat_y, device=self.device)
        sel_b = torch.tensor(flat_b, device=self.device)
        sel_t = torch.tensor(flat_t, device=self.device)
        if self.fast:
            mask = None
            if any(len(r.targets) > 1 for r in batch):
                seg = segments.to(self.device)
                causal = torch.ones(width, width, dtype=torch.bool, device=self.device).tril()
                same = (seg[:, None, :] == 0) | (seg[:, None, :] == seg[:, :, None])
                mask = (causal[None] & same)[:, None]
            hidden = final_hidden(self.model, ids, positions.to(self.device), mask)
            selected = hidden[sel_b, sel_t]
            weight = self.model.output_weight()
            token_lp, token_greedy = self._logprobs(lambda h: h @ weight.t(), selected, flat_y_t)
        else:
            logits = model_logits(self.model, ids)
            token_lp, token_greedy = self._logprobs(lambda x: x, logits[sel_b, sel_t], flat_y_t)
        # Sum each continuation in float32 with torch, as lm-eval does: long continuations (hundreds of
        # tokens) then agree to float32 rounding instead of differing by the float32-vs-float64 summation.
        sums = [float(part.sum()) for part in token_lp.split([n for _, n in owners])]
        results, offset = [], 0
        greedy_list = token_greedy.tolist()
        for (index, n), total in zip(owners, sums):
            results.append((index, total, all(greedy_list[offset : offset + n]), n))
            offset += n
        return results

    def _logprobs(
        self, to_logits, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log p(target) and greedy flags, ``logits_chunk`` positions at a time."""
        lps, greedy = [], []
        for s in range(0, inputs.shape[0], self.logits_chunk):
            logits = to_logits(inputs[s : s + self.logits_chunk]).float()
            y = targets[s : s + self.logits_chunk]
            lps.append(logits.log_softmax(-1).gather(-1, y[:, None])[:, 0])
            greedy.append(logits.argmax(-1) == y)
        return torch.cat(lps).cpu(), torch.cat(greedy).cpu()
