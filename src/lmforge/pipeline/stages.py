"""The pipeline's stages: each turns the config + the run layout into a :class:`Stage` (inputs, outputs, work).

Every stage calls the library API of its stage module (imported lazily, so a missing optional extra only
breaks the stage that needs it) and returns a small JSON summary for the manifest and the report.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from lmforge.config import to_dict
from lmforge.pipeline.config import PipelineConfig
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.runner import Stage


def input_documents(cfg: PipelineConfig, layout: RunLayout) -> list[str]:
    """The raw documents the run starts from: the built-in corpus's training split, or ``documents``."""
    docs = list(cfg.documents)
    if cfg.corpus.builtin == "stdlib":
        docs.append(os.path.join(layout.corpus, "documents"))
    return docs


def eval_documents(cfg: PipelineConfig, layout: RunLayout) -> dict[str, list[str]]:
    """Held-out documents per source: the built-in corpus's eval split plus ``eval_documents``."""
    out: dict[str, list[str]] = {}
    if cfg.corpus.builtin == "stdlib" and cfg.corpus.eval_fraction > 0:  # 0: nothing is held out
        from lmforge.pipeline.stdlib_corpus import SOURCES

        for source in SOURCES:
            folder = os.path.join(layout.corpus, "eval", source)
            out[source] = [folder]
    for source, paths in cfg.eval_documents.items():
        out.setdefault(source, []).extend(paths)
    return out


def training_documents(cfg: PipelineConfig, layout: RunLayout) -> list[str]:
    """What the tokenizer and the trainer see: the curated documents, or the inputs when curation is off."""
    if cfg.curate.enabled:
        from lmforge.pipeline.curate_stage import curated_documents

        return [curated_documents(layout)]
    return input_documents(cfg, layout)


def tokenizer_file(cfg: PipelineConfig, layout: RunLayout) -> str:
    if cfg.tokenizer.train:
        return layout.tokenizer
    from lmforge.tokenize.tokenizer import resolve_tokenizer_file

    return resolve_tokenizer_file(str(cfg.tokenizer.path))


# ------------------------------------------------------------------------------------------------ stages


def corpus_stage(cfg: PipelineConfig, layout: RunLayout) -> Stage:
    def run() -> dict[str, Any]:
        from lmforge.pipeline.stdlib_corpus import build_corpus

        stats = build_corpus(
            layout.corpus,
            eval_fraction=cfg.corpus.eval_fraction,
            max_mb_per_source=cfg.corpus.max_mb_per_source,
        )
        return {
            "documents": sum(stats.documents.values()),
            "eval_documents": sum(stats.eval_documents.values()),
            "megabytes": round(sum(stats.bytes.values()) / 1e6, 2),
        }

    # The standard library is the input; the Python version stands for it (it only changes with Python).
    config = {**to_dict(cfg.corpus), "python": platform.python_version()}
    return Stage("corpus", config, [], [layout.corpus], run, "build the built-in stdlib corpus")


def analyze_stage(cfg: PipelineConfig, layout: RunLayout) -> Stage:
    docs = training_documents(cfg, layout)

    def run() -> dict[str, Any]:
        from lmforge.analyze.corpus import analyze_corpus

        options = {"processes": cfg.tokenize.processes, **cfg.analyze.options}
        report = analyze_corpus(docs, layout.analysis, **options)
        totals = report.get("totals") or {}
        return {k: v for k, v in totals.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    return Stage("analyze", to_dict(cfg.analyze), docs, [layout.analysis], run, "corpus statistics")


def tokenizer_stage(cfg: PipelineConfig, layout: RunLayout) -> Stage:
    docs = training_documents(cfg, layout)

    def run() -> dict[str, Any]:
        from lmforge.tokenize.train import train_tokenizer

        result = train_tokenizer(
            docs,
            cfg.tokenizer.vocab_size,
            layout.tokenizer,
            min_frequency=cfg.tokenizer.min_frequency,
            max_documents=cfg.tokenizer.max_documents,
            show_progress=True,
        )
        return {
            "vocab_size": result.vocab_size,
            "documents": result.documents,
            "megabytes": round(result.bytes / 1e6, 2),
        }

    return Stage(
        "tokenizer", to_dict(cfg.tokenizer), docs, [layout.tokenizer_dir], run, "train a BPE tokenizer"
    )


def tokenize_stage(cfg: PipelineConfig, layout: RunLayout) -> Stage:
    """Training documents -> ``tokens/train``; each held-out source -> ``tokens/eval/<source>`` (for the
    trainer's in-loop perplexity curves)."""
    docs = training_documents(cfg, layout)
    held_out = eval_documents(cfg, layout)
    tokenizer = tokenizer_file(cfg, layout)

    def run() -> dict[str, Any]:
        from lmforge.tokenize.run import tokenize_documents

        def tokenize(inputs: list[str], output: str) -> dict[str, Any]:
            return tokenize_documents(
                inputs,
                tokenizer,
                output,
                processes=cfg.tokenize.processes,
                dtype=cfg.tokenize.dtype,
                on_error=cfg.tokenize.on_error,
            )

        manifest = tokenize(docs, layout.tokens)
        eval_tokens = {
            s: tokenize(paths, layout.eval_tokens(s))["totals"]["tokens"] for s, paths in held_out.items()
        }
        totals = manifest["totals"]
        return {
            "documents": totals["tokenized"],
            "tokens": totals["tokens"],
            "rejected": totals["rejected"],
            "empty": totals["empty"],
            "token_files": totals["token_files"],
            "sources": {s: c["tokens"] for s, c in manifest["sources"].items()},
            "eval_tokens": eval_tokens,
        }

    inputs = [*docs, *[p for paths in held_out.values() for p in paths], tokenizer]
    outputs = [layout.tokens] + ([layout.eval_tokens_root] if held_out else [])
    return Stage("tokenize", to_dict(cfg.tokenize), inputs, outputs, run, "documents -> token files")


def build_stages(cfg: PipelineConfig, layout: RunLayout) -> list[Stage]:
    stages: list[Stage] = []
    if cfg.corpus.builtin == "stdlib":
        stages.append(corpus_stage(cfg, layout))
    if cfg.curate.enabled:
        from lmforge.pipeline.curate_stage import curate_stage

        stages.append(curate_stage(cfg, layout, input_documents(cfg, layout)))
    if cfg.analyze.enabled:
        stages.append(analyze_stage(cfg, layout))
    if cfg.tokenizer.train:
        stages.append(tokenizer_stage(cfg, layout))
    stages.append(tokenize_stage(cfg, layout))
    from lmforge.pipeline.train_stage import train_stage

    stages.append(train_stage(cfg, layout))
    if cfg.eval.enabled:
        from lmforge.pipeline.eval_stage import eval_stage

        stages.append(eval_stage(cfg, layout, eval_documents(cfg, layout)))
    if cfg.export.enabled:
        from lmforge.pipeline.export_stage import export_stage

        stages.append(export_stage(cfg, layout))
    if cfg.report.enabled:
        stages.append(report_stage(cfg, layout))
    return stages


def report_stage(cfg: PipelineConfig, layout: RunLayout) -> Stage:
    def run() -> dict[str, Any]:
        from lmforge.report.build import write_report

        paths = write_report(layout.run_dir, layout.report, model_card=cfg.export.enabled)
        return {"html": paths["html"]}

    inputs = [layout.train] + ([layout.eval] if cfg.eval.enabled else [])
    inputs += [layout.samples, os.path.join(layout.hf, "model.safetensors")] if cfg.export.enabled else []
    return Stage(
        "report", to_dict(cfg.report), inputs, [layout.report], run, "write report.html and report.md"
    )
