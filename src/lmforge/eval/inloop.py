"""Evaluators the trainer runs every ``eval_interval`` steps.

``build_inloop_evaluator(cfg, tokenizer_path)`` reads one evaluator config and returns an object with a
``name`` and ``__call__(model) -> {metric: value}``; the trainer logs each value as ``eval/<name>/<metric>``.

- ``{name, kind: downstream, tasks: [arc_easy, ...], data_dir, limit, num_fewshot, batch_size, max_seq_len}``:
  metrics ``<task>/<metric>`` (``arc_easy/acc``).
- ``{name, kind: ppl_docs, paths: [...], max_seq_len, stride, domain_field, batch_size}``: metrics
  ``<domain>/{token_perplexity,loss,bits_per_byte,word_perplexity}`` and ``all/...`` (micro average).

Everything that does not depend on the weights (reading data, rendering prompts, tokenizing, cutting windows)
happens once, at the first call (when the tokenizer has no EOS/BOS of its own, the prefix token is then taken
from the model's config, or is the tokenizer's own EOS when that id is no EOS token of it); configuration
errors (unknown keys included) are raised at construction. A call runs under ``torch.no_grad`` in eval mode
and puts the model back in the mode it found it in; it draws no global random numbers, so training is not
perturbed.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from lmforge.config import ConfigError
from lmforge.eval.tokenizer import EvalTokenizer, load_eval_tokenizer, model_ids_for_tokenizer

PPL_METRICS = ("token_perplexity", "loss", "bits_per_byte", "word_perplexity")

# The keys each kind reads. Anything else is a typo (``num_fewshots``, ``limt``) that would otherwise be
# ignored silently - and an ignored ``limit`` means scoring a whole dataset at every evaluation.
COMMON_KEYS = ("name", "kind", "prefix_token_id", "eos_token_id")
KIND_KEYS = {
    "downstream": ("tasks", "data_dir", "limit", "num_fewshot", "batch_size", "max_seq_len"),
    "ppl_docs": ("paths", "max_seq_len", "stride", "domain_field", "batch_size"),
}
# the smallest value each count may take (an impossible one fails when the evaluator is built, not mid-run)
MINIMUMS = {"limit": 1, "num_fewshot": 0, "batch_size": 1, "max_seq_len": 1, "stride": 1}


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _unwrap(model: nn.Module) -> nn.Module:
    """The module to score with: DDP's ``.module`` (its forward would sync buffers), compile's original."""
    inner = getattr(model, "module", None)
    if isinstance(inner, nn.Module) and type(model).__name__ == "DistributedDataParallel":
        return inner
    return model


def _default_prefix(tokenizer: EvalTokenizer, model: nn.Module) -> None:
    if tokenizer.eos_id is None and tokenizer.bos_id is None:
        eos = getattr(getattr(model, "config", None), "eos_token_id", None)
        tokenizer.eos_id, _ = model_ids_for_tokenizer(tokenizer.tokenizer, eos, None)


class DownstreamEvaluator:
    def __init__(self, cfg: dict[str, Any], tokenizer: EvalTokenizer) -> None:
        from lmforge.eval.downstream import prepare_tasks
        from lmforge.eval.tasks.registry import get_task

        self.name = str(cfg.get("name") or "")  # "": the trainer logs eval/<task>/<metric>
        tasks = cfg.get("tasks") or []
        if isinstance(tasks, str):
            tasks = [t.strip() for t in tasks.split(",") if t.strip()]
        if not tasks:
            raise ConfigError(f"evaluators.{self.name or 'downstream'}.tasks", "list at least one task")
        for task in tasks:
            get_task(task)  # unknown tasks fail now, not at the first evaluation
        self.batch_size = int(cfg.get("batch_size", 16))
        self.max_length = cfg.get("max_seq_len")
        self.tokenizer = tokenizer
        self.prepare = lambda: prepare_tasks(
            tasks, tokenizer, cfg.get("data_dir"), cfg.get("limit"), cfg.get("num_fewshot")
        )
        self.prepared: list[Any] | None = None

    def __call__(self, model: nn.Module) -> dict[str, float]:
        from lmforge.eval.downstream import model_max_length, score_prepared

        model = _unwrap(model)
        if self.prepared is None:
            _default_prefix(self.tokenizer, model)
            self.prepared = self.prepare()
        with evaluation_mode(model):
            results, _ = score_prepared(
                model,
                self.prepared,
                self.max_length or model_max_length(model),
                self.batch_size,
                progress=False,
            )
        return {
            f"{task}/{metric}": float(value)
            for task, metrics in results.items()
            for metric, value in metrics.items()
            if metric.startswith("acc")
        }


class PerplexityEvaluator:
    def __init__(self, cfg: dict[str, Any], tokenizer: EvalTokenizer) -> None:
        from lmforge.eval.perplexity import DocumentWindows, read_eval_documents

        self.name = str(cfg["name"])
        paths = cfg.get("paths") or []
        if not paths:
            raise ConfigError(f"evaluators.{self.name}.paths", "list at least one document file or glob")
        if "max_seq_len" not in cfg:
            raise ConfigError(f"evaluators.{self.name}.max_seq_len", "is required")
        if cfg.get("stride") is not None and cfg["stride"] > cfg["max_seq_len"]:
            raise ConfigError(
                f"evaluators.{self.name}.stride",
                f"must be at most max_seq_len ({cfg['stride']} > {cfg['max_seq_len']})",
            )
        docs = read_eval_documents(paths, cfg.get("domain_field", "source"))
        self.batch_size = int(cfg.get("batch_size", 8))
        self.tokenizer = tokenizer
        self.prepare = lambda: DocumentWindows(docs, tokenizer, int(cfg["max_seq_len"]), cfg.get("stride"))
        self.windows: Any = None

    def __call__(self, model: nn.Module) -> dict[str, float]:
        from lmforge.eval.perplexity import aggregate

        model = _unwrap(model)
        if self.windows is None:
            _default_prefix(self.tokenizer, model)
            self.windows = self.prepare()
        with evaluation_mode(model):
            scores = self.windows.score(model, self.batch_size, progress=False)
        summary = aggregate(scores)
        out = {f"all/{m}": float(summary["overall"]["micro"][m]) for m in PPL_METRICS}
        for domain, metrics in summary["domains"].items():
            out.update({f"{domain}/{m}": float(metrics[m]) for m in PPL_METRICS})
        return out


def _check_keys(cfg: dict[str, Any], name: str, kind: Any) -> None:
    if kind not in KIND_KEYS:
        raise ConfigError(f"evaluators.{name}.kind", f"must be downstream or ppl_docs, got {kind!r}")
    known = COMMON_KEYS + KIND_KEYS[kind]
    for key in cfg:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"evaluators.{name}.{key}", f"unknown field for a {kind} evaluator{hint}")
    for key, minimum in MINIMUMS.items():
        value = cfg.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"evaluators.{name}.{key}", f"must be an integer, got {value!r}")
        if value < minimum:
            raise ConfigError(f"evaluators.{name}.{key}", f"must be at least {minimum}, got {value}")


def build_inloop_evaluator(
    cfg: dict[str, Any], tokenizer_path: str | None
) -> DownstreamEvaluator | PerplexityEvaluator:
    kind = cfg.get("kind")
    name = cfg.get("name")
    if not name and kind != "downstream":  # unnamed downstream metrics are eval/<task>/<metric>
        raise ConfigError("evaluators.name", "each evaluator needs a name")
    label = str(name or kind)  # how error messages name it
    _check_keys(cfg, label, kind)
    if tokenizer_path is None:
        raise ConfigError(f"evaluators.{label}", "in-loop evaluation needs the run's tokenizer path")
    tokenizer = load_eval_tokenizer(None, tokenizer_path, cfg.get("prefix_token_id"))
    if "eos_token_id" in cfg:
        tokenizer.eos_id = int(cfg["eos_token_id"])
    if kind == "downstream":
        return DownstreamEvaluator(cfg, tokenizer)
    return PerplexityEvaluator(cfg, tokenizer)  # _check_keys admitted no other kind
