"""Log-likelihoods of token continuations given token contexts, batched and length-sorted.

Semantics are lm-eval's ``hf`` backend (``_loglikelihood_tokens``): the model reads
``(context + continuation)[-(max_length + 1):][:-1]`` and the continuation's log-probability is the sum of
``log_softmax(logits)`` over the full (padded) vocabulary at the continuation's positions; ``is_greedy`` says
whether greedy decoding would have produced every continuation token.

What is different is only how the work is laid out, never the numbers:
- requests whose token sequences start alike are packed into one row as a prefix tree: the answer choices
  of a question share their context, continuations share their common beginning (PIQA's two solutions
  often differ in a few words), WinoGrande's two contexts share the sentence before the blank, and MMLU
  questions share their k-shot prefix. Each token attends to its ancestors only (a tree-shaped causal
  mask; positions are depths), so it sees exactly the sequence it would see alone;
- a token's next-token distribution is computed once however many continuations it predicts for, and only
  where something is scored, in chunks, instead of a [batch, seq, vocab] log-softmax over every position;
- rows are sorted longest first and batched, so padding is small and memory peaks at the first batch.
Packing needs the lmforge model's modules (see :mod:`lmforge.eval.forward`); other models get one row per
request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
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
    """One packed sequence: a token tree stored parents-first (``parents[i] < i``; -1 for the root)."""

    tokens: list[int] = dataclasses.field(default_factory=list)
    parents: list[int] = dataclasses.field(default_factory=list)
    depths: list[int] = dataclasses.field(default_factory=list)
    # per request packed here: (request index, the node predicting each of its tokens, its tokens)
    targets: list[tuple[int, list[int], list[int]]] = dataclasses.field(default_factory=list)
    children: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)

    def add_node(self, token: int, parent: int) -> int:
        self.tokens.append(token)
        self.parents.append(parent)
        self.depths.append(self.depths[parent] + 1 if parent >= 0 else 0)
        return len(self.tokens) - 1

    def is_chain(self) -> bool:
        return all(p == i - 1 for i, p in enumerate(self.parents))

    def ancestor_mask(self) -> np.ndarray:
        """[n, n] bool: node q may attend to node k iff k is q or an ancestor of q."""
        n = len(self.tokens)
        if self.is_chain():
            return np.tri(n, dtype=bool)
        mask = np.zeros((n, n), dtype=bool)
        for q, parent in enumerate(self.parents):
            if parent >= 0:
                mask[q] = mask[parent]
            mask[q, q] = True
        return mask


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


# Requests whose contexts start with the same tokens go into one prefix tree (the choices of a question,
# WinoGrande's two contexts, MMLU questions behind the same k-shot prefix). A tree grows to ROW_BUDGET
# tokens before a new one starts: attention over a packed row costs its length squared.
GROUP_PREFIX_TOKENS = 8
ROW_BUDGET = 1024


def _shared_prefix(row: _Row, sequence: list[int]) -> int:
    node, shared = -1, 0
    for token in sequence:
        node = row.children.get((node, token), -2)
        if node == -2:
            break
        shared += 1
    return shared


def _add_request(row: _Row, index: int, context: list[int], continuation: list[int]) -> None:
    """Insert ``context + continuation[:-1]`` into the tree (sharing existing nodes); the last continuation
    token predicts nothing, so it is never an input."""
    node, path = -1, []
    for token in context + continuation[:-1]:
        child = row.children.get((node, token))
        if child is None:
            child = row.add_node(token, node)
            row.children[(node, token)] = child
        node = child
        path.append(node)
    start = len(context) - 1
    row.targets.append((index, path[start : start + len(continuation)], continuation))


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
        need_greedy: bool = True,
    ) -> None:
        self.model = model
        self.max_length = max_length
        self.batch_size = max(1, batch_size)
        self.fast = supports_custom_mask(model)
        self.share_context = share_context and self.fast
        self.progress = progress
        # perplexity has no use for is_greedy: skipping it saves an argmax over the vocabulary per position
        self.need_greedy = need_greedy
        self.device = next(model.parameters()).device
        # Positions per log-softmax chunk. On CPU the chunk's logits should stay in the last-level cache
        # (~6M floats): the projection writes them and log-softmax reads them twice, and going to DRAM for
        # each pass made scoring 2x slower; on GPUs large chunks (64M logits, 256 MB) keep kernels busy.
        vocab = getattr(getattr(model, "config", None), "padded_vocab_size", None) or 50304
        budget = (64 << 20) if self.device.type == "cuda" else (6 << 20)
        self.logits_chunk = logits_chunk or max(16, budget // vocab)

    def _rows(self, requests: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[_Row]:
        prepared = [(truncate_request(ctx, cont, self.max_length), list(cont)) for ctx, cont in requests]
        rows: list[_Row] = []
        if not self.share_context:
            for i, (ctx, cont) in enumerate(prepared):
                rows.append(_Row())
                _add_request(rows[-1], i, ctx, cont)
            return rows
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, _) in enumerate(prepared):
            groups.setdefault(tuple(ctx[:GROUP_PREFIX_TOKENS]), []).append(i)
        for indices in groups.values():
            row = _Row()
            rows.append(row)
            for i in indices:
                ctx, cont = prepared[i]
                sequence = ctx + cont[:-1]
                if (
                    row.targets
                    and len(row.tokens) + len(sequence) - _shared_prefix(row, sequence) > ROW_BUDGET
                ):
                    row = _Row()
                    rows.append(row)
                _add_request(row, i, ctx, cont)
        return rows

    @torch.no_grad()
    def score(
        self, requests: Sequence[tuple[Sequence[int], Sequence[int]]], desc: str = "scoring"
    ) -> list[TokenScore]:
        rows = self._rows(requests)
        rows.sort(key=lambda r: -len(r.tokens))
        results: list[TokenScore | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), desc=desc, disable=not self.progress, leave=False)
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            for index, lp, is_greedy, n in self._score_batch(batch):
                results[index] = TokenScore(lp, is_greedy, n)
            bar.update(sum(len(r.targets) for r in batch))
        bar.close()
        return results  # type: ignore[return-value]

    def _score_batch(self, batch: list[_Row]) -> list[tuple[int, float, bool, int]]:
        width = max(len(r.tokens) for r in batch)
        ids = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        for b, row in enumerate(batch):
            ids[b, : len(row.tokens)] = torch.tensor(row.tokens)
            positions[b, : len(row.tokens)] = torch.tensor(row.depths)
        # Each distinct predicting node gets one row of logits, shared by every target it predicts.
        node_index: dict[tuple[int, int], int] = {}
        pred_node, pred_y, owners = [], [], []
        for b, row in enumerate(batch):
            for index, predictors, targets in row.targets:
                for node in predictors:
                    pred_node.append(node_index.setdefault((b, node), len(node_index)))
                pred_y += targets
                owners.append((index, len(predictors)))
        nodes_b = torch.tensor([b for b, _ in node_index], device=self.device)
        nodes_t = torch.tensor([t for _, t in node_index], device=self.device)
        ids = ids.to(self.device)
        if self.fast:
            mask = None
            if not all(r.is_chain() for r in batch):  # a plain causal mask suffices for chains
                full = np.zeros((len(batch), width, width), dtype=bool)
                for b, row in enumerate(batch):
                    n = len(row.tokens)
                    full[b, :n, :n] = row.ancestor_mask()
                    full[b, n:, :] = np.tri(width, dtype=bool)[n:]  # padding: causal, never read
                mask = torch.from_numpy(full).to(self.device)[:, None]
            hidden = final_hidden(self.model, ids, positions.to(self.device), mask)
            weight = self.model.output_weight()
            node_inputs, to_logits = hidden[nodes_b, nodes_t], (lambda h: h @ weight.t())
        else:
            node_inputs, to_logits = model_logits(self.model, ids)[nodes_b, nodes_t], (lambda x: x)
        token_lp, token_greedy = self._token_logprobs(
            to_logits, node_inputs, torch.tensor(pred_node), torch.tensor(pred_y)
        )
        # Sum each continuation in float32 with torch, as lm-eval does: long continuations (hundreds of
        # tokens) then agree to float32 rounding instead of differing by the float32-vs-float64 summation.
        sums = [float(part.sum()) for part in token_lp.split([n for _, n in owners])]
        results, offset = [], 0
        greedy_list = token_greedy.tolist()
        for (index, n), total in zip(owners, sums):
            results.append((index, total, all(greedy_list[offset : offset + n]), n))
            offset += n
        return results

    def _token_logprobs(
        self, to_logits, node_inputs: torch.Tensor, pred_node: torch.Tensor, pred_y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log p(y | node) and greedy flags per prediction, ``logits_chunk`` nodes at a time."""
        lp = torch.empty(len(pred_y), dtype=torch.float32)
        greedy = torch.empty(len(pred_y), dtype=torch.bool)
        for s in range(0, node_inputs.shape[0], self.logits_chunk):
            logp = to_logits(node_inputs[s : s + self.logits_chunk]).float().log_softmax(-1)
            which = ((pred_node >= s) & (pred_node < s + self.logits_chunk)).nonzero()[:, 0]
            local = (pred_node[which] - s).to(logp.device)
            lp[which] = logp[local, pred_y[which].to(logp.device)].cpu()
            if self.need_greedy:
                greedy[which] = logp.argmax(-1).cpu()[pred_node[which] - s] == pred_y[which]
            else:
                greedy[which] = False
        return lp, greedy
