"""The pipeline config: one section per stage, each pointing at that stage's own settings.

Paths between stages are not configured: the pipeline wires each stage's outputs into the next one's inputs
under ``run_dir`` (see :class:`lmforge.pipeline.layout.RunLayout`). The ``curate`` recipe and the ``train``
section are passed to lmforge.curate and lmforge.train as they are, so their documentation applies unchanged;
the pipeline only fills the fields it owns (``train.data.paths``, ``train.save_folder``, ``train.tokenizer``
and the vocabulary of ``train.model``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from lmforge.config import require


@dataclasses.dataclass
class CorpusConfig:
    """A built-in corpus instead of (or before) ``documents``: ``stdlib`` = Python's standard library."""

    builtin: Literal["none", "stdlib"] = "none"
    max_mb_per_source: float | None = None  # cap the text per source (first files in sorted order)
    eval_fraction: float = 0.05  # documents held out for per-source perplexity, by a hash of their id

    def validate(self) -> None:
        require(0.0 <= self.eval_fraction < 1.0, "eval_fraction", "must be in [0, 1)")
        if self.max_mb_per_source is not None:
            require(self.max_mb_per_source > 0, "max_mb_per_source", "must be positive")


@dataclasses.dataclass
class CurateStageConfig:
    enabled: bool = True
    recipe: dict[str, Any] = dataclasses.field(default_factory=dict)  # lmforge.curate's config, as is


@dataclasses.dataclass
class AnalyzeStageConfig:
    """Corpus statistics of the training documents (lmforge.analyze): sizes, languages, PII, duplicates,
    top n-grams; ``options`` are :class:`lmforge.analyze.options.AnalyzeOptions` fields."""

    enabled: bool = False
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TokenizerStageConfig:
    train: bool = True  # train a byte-level BPE tokenizer on the (curated) training documents
    path: str | None = None  # an existing tokenizer.json / folder / hub name when train is false
    vocab_size: int = 8192
    min_frequency: int = 2
    max_documents: int | None = None

    def validate(self) -> None:
        require(self.train or bool(self.path), "path", "is required when train is false")
        require(self.vocab_size > 0, "vocab_size", "must be positive")


@dataclasses.dataclass
class TokenizeStageConfig:
    processes: int = 1
    dtype: Literal["auto", "uint16", "uint32"] = "auto"
    on_error: Literal["fail", "skip"] = "fail"

    def validate(self) -> None:
        require(self.processes >= 1, "processes", "must be >= 1")


@dataclasses.dataclass
class BudgetConfig:
    """Bound training by wall time: a short throughput probe picks ``train.max_steps`` (saved, so reruns
    and resumes keep the same plan)."""

    train_minutes: float | None = None
    probe_steps: int = 5

    def validate(self) -> None:
        if self.train_minutes is not None:
            require(self.train_minutes > 0, "train_minutes", "must be positive")
        require(self.probe_steps >= 1, "probe_steps", "must be >= 1")


@dataclasses.dataclass
class EvalStageConfig:
    enabled: bool = True
    perplexity: bool = True  # held-out perplexity per source (Paloma-style), next to the unigram entropy
    builtin_tasks: bool = False  # the built-in multiple-choice tasks made from the held-out documents
    tasks: list[str] = dataclasses.field(default_factory=list)  # task names or task YAML files
    # folder of <task>.<split>.jsonl[.gz] files for the named tasks (as `lmforge eval tasks --data-dir`);
    # null: the Hugging Face hub
    data_dir: str | None = None
    num_fewshot: int | None = None  # null: each task's own default
    max_documents_per_source: int | None = 200
    batch_size: int = 8
    # in-loop perplexity on each held-out source every N training steps (curves in the report); null: off
    in_loop_interval: int | None = None
    in_loop_max_batches: int = 4
    limit: int | None = None  # examples per task

    def validate(self) -> None:
        require(self.batch_size > 0, "batch_size", "must be positive")
        if self.num_fewshot is not None:
            require(self.num_fewshot >= 0, "num_fewshot", "must be >= 0")
        if self.limit is not None:
            require(self.limit >= 1, "limit", "must be >= 1")


@dataclasses.dataclass
class ExportStageConfig:
    enabled: bool = True
    prompts: list[str] = dataclasses.field(default_factory=lambda: ["def "])
    max_new_tokens: int = 64
    temperature: float = 0.8
    top_k: int | None = 40
    seed: int = 0

    def validate(self) -> None:
        require(self.max_new_tokens >= 0, "max_new_tokens", "must be >= 0")
        require(self.temperature >= 0, "temperature", "must be >= 0")


@dataclasses.dataclass
class ReportStageConfig:
    enabled: bool = True


@dataclasses.dataclass
class PipelineConfig:
    run_dir: str
    name: str | None = None  # default: the run folder's name
    documents: list[str] = dataclasses.field(default_factory=list)  # Dolma files, folders or globs
    # held-out documents for perplexity: {source name: [files, folders or globs]}
    eval_documents: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    corpus: CorpusConfig = dataclasses.field(default_factory=CorpusConfig)
    curate: CurateStageConfig = dataclasses.field(default_factory=CurateStageConfig)
    analyze: AnalyzeStageConfig = dataclasses.field(default_factory=AnalyzeStageConfig)
    tokenizer: TokenizerStageConfig = dataclasses.field(default_factory=TokenizerStageConfig)
    tokenize: TokenizeStageConfig = dataclasses.field(default_factory=TokenizeStageConfig)
    train: dict[str, Any] = dataclasses.field(default_factory=dict)  # lmforge.train's config, as is
    budget: BudgetConfig = dataclasses.field(default_factory=BudgetConfig)
    eval: EvalStageConfig = dataclasses.field(default_factory=EvalStageConfig)
    export: ExportStageConfig = dataclasses.field(default_factory=ExportStageConfig)
    report: ReportStageConfig = dataclasses.field(default_factory=ReportStageConfig)

    def validate(self) -> None:
        require(
            bool(self.documents) or self.corpus.builtin != "none",
            "documents",
            "list the input documents, or set corpus.builtin: stdlib",
        )
        for owned in ("save_folder",):
            require(owned not in self.train, f"train.{owned}", "is set by the pipeline (run_dir/train)")
