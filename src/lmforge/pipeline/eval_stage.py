"""The eval stage: held-out perplexity per source (lmforge.eval's Paloma-style scorer) next to the unigram
entropy of the same tokens, and downstream tasks (the built-in ones and any listed), into eval/results.json.

The unigram entropy is the loss of the best model that ignores context - one that knows the exact token
frequencies of the held-out text itself. A trained model's loss "well below" it is what learning from
context looks like; a model at or above it has learned token frequencies at best.
"""

from __future__ import annotations

import collections
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import yaml

from lmforge.config import to_dict
from lmforge.io import atomic_write, write_json
from lmforge.pipeline.config import PipelineConfig
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.runner import Stage


def unigram_entropy(token_lists: Sequence[Sequence[int]]) -> tuple[float, int]:
    """Entropy in nats/token of the tokens' empirical distribution, and the token count."""
    counts: collections.Counter[int] = collections.Counter()
    for tokens in token_lists:
        counts.update(tokens)
    total = sum(counts.values())
    if total == 0:
        return float("nan"), 0
    return -sum(c / total * math.log(c / total) for c in counts.values()), total


def write_jsonl(path: str, records: list[dict[str, Any]]) -> None:
    with atomic_write(path, "wt") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def trained_seq_len(layout: RunLayout) -> int | None:
    path = os.path.join(layout.run_dir, "train_config.yaml")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return int((yaml.safe_load(handle) or {}).get("data", {}).get("seq_len") or 0) or None


def evaluate_run(
    cfg: PipelineConfig, layout: RunLayout, eval_docs: dict[str, list[str]], tokenizer_path: str
) -> dict[str, Any]:
    import torch

    import lmforge
    from lmforge.eval.downstream import evaluate_tasks, model_max_length
    from lmforge.eval.perplexity import DocumentWindows, aggregate, read_eval_documents
    from lmforge.eval.tokenizer import load_eval_tokenizer
    from lmforge.tokenize.tokenizer import eos_token_id, load_tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = lmforge.load_model(layout.train, device=device).eval()
    eos = eos_token_id(load_tokenizer(tokenizer_path))
    tokenizer = load_eval_tokenizer(None, tokenizer_path, prefix_token_id=eos)
    # Score with the context length the model was trained on: longer windows would test RoPE extrapolation.
    max_len = min(trained_seq_len(layout) or model_max_length(model), model_max_length(model))
    results: dict[str, Any] = {"model": layout.train, "max_seq_len": max_len}

    if cfg.eval.perplexity and eval_docs:
        docs = []
        for source, paths in sorted(eval_docs.items()):
            found = sorted(read_eval_documents(paths), key=lambda d: d.id)
            for doc in found:
                doc.source = doc.domain = source  # the configured name, whatever the documents say
            docs += found[: cfg.eval.max_documents_per_source]
        scores = DocumentWindows(docs, tokenizer, max_len).score(model, cfg.eval.batch_size)
        raw = aggregate(scores)
        per_source = {src: raw["domains"][src] for src in raw["sources"]}
        per_source["all"] = raw["overall"]["micro"]
        results["perplexity"] = {
            name: {k: m.get(k) for k in ("loss", "token_perplexity", "bits_per_byte", "tokens", "documents")}
            | {"perplexity": m.get("token_perplexity")}
            for name, m in per_source.items()
        }
        entropy: dict[str, float] = {}
        all_tokens: list[list[int]] = []
        for source in sorted({d.source for d in docs}):
            tokens = tokenizer.encode_batch([d.text for d in docs if d.source == source])
            entropy[source] = unigram_entropy(tokens)[0]
            all_tokens += tokens
        entropy["all"] = unigram_entropy(all_tokens)[0]
        results["unigram_entropy"] = entropy
        results["perplexity_raw"] = raw

    task_names = list(cfg.eval.tasks)
    if cfg.eval.builtin_tasks:
        from lmforge.pipeline.builtin_tasks import write_builtin_tasks

        task_names += write_builtin_tasks(
            eval_docs.get("stdlib-docs", []),
            eval_docs.get("stdlib-code", []),
            os.path.join(layout.eval, "tasks"),
        )
    if task_names:
        tasks, records = evaluate_tasks(
            model,
            tokenizer,
            task_names,
            data_dir=cfg.eval.data_dir,
            limit=cfg.eval.limit,
            num_fewshot=cfg.eval.num_fewshot,
            batch_size=cfg.eval.batch_size,
        )  # the model's full context: a task's context + answer may be longer than a training sequence
        results["tasks"] = tasks
        # per-example scores, as `lmforge eval tasks` writes them, to see which examples a model gets right
        write_jsonl(layout.eval_examples, records)
    write_json(layout.eval_results, results)
    return results


def print_headline(results: dict[str, Any]) -> None:
    ppl, entropy = results.get("perplexity") or {}, results.get("unigram_entropy") or {}
    for source in sorted(ppl, key=lambda s: (s == "all", s)):
        loss, h = ppl[source].get("loss"), entropy.get(source)
        print(
            f"[eval] {source:>14}: held-out loss {loss:.3f} nats/token (ppl {math.exp(loss):.1f}) | unigram entropy {h:.3f}"
        )
    for task, metrics in sorted((results.get("tasks") or {}).items()):
        shown = " ".join(
            f"{k}={v:.3f}" for k, v in metrics.items() if k.startswith("acc") and isinstance(v, float)
        )
        print(f"[eval] task {task}: {shown}")


def eval_stage(cfg: PipelineConfig, layout: RunLayout, eval_docs: dict[str, list[str]]) -> Stage:
    from lmforge.pipeline.stages import tokenizer_file

    tokenizer = tokenizer_file(cfg, layout)

    def run() -> dict[str, Any]:
        results = evaluate_run(cfg, layout, eval_docs, tokenizer)
        print_headline(results)
        overall = (results.get("perplexity") or {}).get("all") or {}
        summary: dict[str, Any] = {}
        if overall:
            summary["heldout_loss"] = overall.get("loss")
            summary["unigram_entropy"] = (results.get("unigram_entropy") or {}).get("all")
        for task, metrics in (results.get("tasks") or {}).items():
            summary[f"{task}_acc"] = metrics.get("acc")
        return summary

    inputs = [layout.train, tokenizer, *[p for paths in eval_docs.values() for p in paths]]
    if cfg.eval.data_dir and cfg.eval.tasks:
        inputs.append(cfg.eval.data_dir)  # new or changed task files rerun the evaluation
    config = {"eval": to_dict(cfg.eval), "eval_documents": eval_docs}
    return Stage("eval", config, inputs, [layout.eval], run, "held-out perplexity and downstream tasks")
