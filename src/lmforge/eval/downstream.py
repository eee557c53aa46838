"""Downstream tasks end to end: load examples, render prompts, tokenize, score, compute metrics.

Tokenization follows lm-eval's ``hf`` backend: trailing whitespace of a context moves to the front of its
continuation; the pair is encoded as one string and the context's own token count splits it; an empty
context becomes the prefix token. All requests of all tasks are scored together, so batching and context
sharing work across the whole run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from torch import nn

from lmforge.config import ConfigError
from lmforge.eval.scoring import Scorer
from lmforge.eval.tasks.data import load_examples, load_fewshot_pool
from lmforge.eval.tasks.metrics import example_predictions
from lmforge.eval.tasks.prompts import RenderedExample, render_examples
from lmforge.eval.tasks.registry import get_task
from lmforge.eval.tasks.spec import TaskSpec
from lmforge.eval.tokenizer import EvalTokenizer


class PairEncoder:
    """(context, continuation) strings -> token lists, lm-eval style, with a cache of encodings."""

    def __init__(self, tokenizer: EvalTokenizer) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, list[int]] = {}

    def _encode_many(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        for text, ids in zip(missing, self.tokenizer.encode_batch(missing) if missing else []):
            self.cache[text] = ids

    @staticmethod
    def _split(context: str, continuation: str) -> tuple[str, str]:
        stripped = context.rstrip()
        return stripped, context[len(stripped) :] + continuation

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        split = [self._split(c, x) if c else (c, x) for c, x in pairs]
        self._encode_many([t for c, x in split for t in ((c, c + x) if c else (x,))])
        out = []
        for context, continuation in split:
            if not context:
                cont = self.cache[continuation]
                prefix = self.tokenizer.prefix_id
                out.append(([prefix], list(cont)) if not cont or cont[0] != prefix else (cont[:1], cont[1:]))
                continue
            ctx = self.cache[context]
            out.append((list(ctx), list(self.cache[context + continuation][len(ctx) :])))
        return out


@dataclasses.dataclass
class PreparedTask:
    spec: TaskSpec
    examples: list[RenderedExample]
    requests: list[tuple[list[int], list[int]]]
    num_fewshot: int


def _limit_rows(spec: TaskSpec, rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    if limit is None:
        return rows
    if not (spec.limit_per_group and spec.group_by):
        return rows[:limit]
    seen: dict[Any, int] = {}
    kept = []
    for row in rows:
        key = row.get(spec.group_by)
        if seen.get(key, 0) < limit:
            kept.append(row)
            seen[key] = seen.get(key, 0) + 1
    return kept


def prepare_task(
    spec: TaskSpec,
    encoder: PairEncoder,
    data_dir: str | None = None,
    limit: int | None = None,
    num_fewshot: int | None = None,
    all_rows: list[dict[str, Any]] | None = None,
) -> PreparedTask:
    """``all_rows``: the evaluation split, already loaded (else it is read here)."""
    k = spec.num_fewshot if num_fewshot is None else num_fewshot
    if all_rows is None:
        all_rows = load_examples(spec.dataset, spec.name, data_dir)
    rows = _limit_rows(spec, all_rows, limit)
    pool, pool_is_eval = (
        (rows, True) if k == 0 else load_fewshot_pool(spec.dataset, spec.name, data_dir, rows)
    )
    if (
        pool_is_eval and k > 0
    ):  # sample from the whole split, as lm-eval does, not only the first `limit` rows
        pool = all_rows
    examples = render_examples(spec, rows, k, pool, pool_is_eval)
    pairs: list[tuple[str, str]] = []
    for ex in examples:
        pairs += list(zip(ex.contexts, ex.continuations))
        pairs += ex.uncond or []
    return PreparedTask(spec, examples, encoder.encode_pairs(pairs), k)


def prepare_tasks(
    names: Sequence[str],
    tokenizer: EvalTokenizer,
    data_dir: str | None = None,
    limit: int | None = None,
    num_fewshot: int | None = None,
) -> list[PreparedTask]:
    encoder = PairEncoder(tokenizer)
    specs: dict[str, tuple[str, TaskSpec]] = {}
    for name in names:
        spec = get_task(name)
        if spec.name in specs:
            # results are keyed by task name: the second would be scored and then overwrite the first
            raise ConfigError(
                "tasks", f"{specs[spec.name][0]!r} and {name!r} are both task {spec.name!r}; list it once"
            )
        specs[spec.name] = (name, spec)
    return [prepare_task(spec, encoder, data_dir, limit, num_fewshot) for _, spec in specs.values()]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def count_truncated(task: PreparedTask, max_length: int) -> int:
    """Requests of ``task`` longer than the model reads (``max_length + 1`` tokens of context + continuation):
    their contexts lose their first tokens, as in lm-eval, which does so silently."""
    return sum(len(ctx) + len(cont) > max_length + 1 for ctx, cont in task.requests)


def score_prepared(
    model: nn.Module,
    tasks: Sequence[PreparedTask],
    max_length: int,
    batch_size: int = 16,
    progress: bool = True,
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """(results: task -> metric -> value, one record per example). Groups (MMLU subjects) are reported as
    ``<task>_<group>`` beside the task's example-weighted mean."""
    requests = [r for t in tasks for r in t.requests]
    scores = Scorer(model, max_length, batch_size=batch_size, progress=progress).score(requests, desc="tasks")
    results: dict[str, dict[str, float]] = {}
    records: list[dict[str, Any]] = []
    offset = 0
    for task in tasks:
        spec = task.spec
        correct: dict[str, dict[str | None, list[float]]] = {m: {} for m in spec.metrics}
        for ex in task.examples:
            n = len(ex.continuations)
            chosen = scores[offset : offset + n]
            offset += n
            uncond = None
            if ex.uncond:
                uncond = [s.logprob for s in scores[offset : offset + n]]
                offset += n
            lls = [s.logprob for s in chosen]
            tokens = [s.num_tokens for s in chosen]
            preds = example_predictions(spec.metrics, lls, ex.choice_texts, tokens, uncond)
            for m, p in preds.items():
                correct[m].setdefault(ex.group, []).append(float(p == ex.gold))
            records.append(
                {
                    "task": spec.name,
                    "index": ex.index,
                    "id": ex.id,
                    "group": ex.group,
                    "gold": ex.gold,
                    "predictions": preds,
                    "correct": {m: int(p == ex.gold) for m, p in preds.items()},
                    "loglikelihoods": lls,
                    "num_tokens": tokens,
                    "is_greedy": [s.is_greedy for s in chosen],
                    "uncond_loglikelihoods": uncond,
                    "contexts": sorted(set(ex.contexts), key=ex.contexts.index),
                    "continuations": ex.continuations,
                }
            )
        summary: dict[str, float] = {
            m: _mean([v for g in correct[m].values() for v in g]) for m in spec.metrics
        }
        summary["num_examples"] = len(task.examples)
        summary["num_fewshot"] = task.num_fewshot
        results[spec.name] = summary
        groups = sorted({g for m in spec.metrics for g in correct[m]}, key=str)
        if spec.group_by and len(groups) > 1:  # one subject alone (mmlu_anatomy) needs no breakdown
            base, _, variant = spec.name.partition(":")
            for g in groups:
                key = f"{base}_{g}" + (f":{variant}" if variant else "")  # mmlu_anatomy, mmlu_anatomy:rc
                results[key] = {m: _mean(correct[m].get(g, [])) for m in spec.metrics} | {
                    "num_examples": len(correct[spec.metrics[0]].get(g, []))
                }
    return results, records


def evaluate_tasks(
    model: nn.Module,
    tokenizer: EvalTokenizer,
    names: Sequence[str],
    data_dir: str | None = None,
    limit: int | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 16,
    max_length: int | None = None,
    progress: bool = True,
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    prepared = prepare_tasks(names, tokenizer, data_dir, limit, num_fewshot)
    max_length = max_length or model_max_length(model)
    return score_prepared(model, prepared, max_length, batch_size, progress)


def model_max_length(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    for name in ("max_sequence_length", "max_position_embeddings"):
        value = getattr(config, name, None)
        if value:
            return int(value)
    return 2048
