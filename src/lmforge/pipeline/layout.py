"""Where each stage of a pipeline run puts its files: one place, shared by the pipeline and the report."""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class RunLayout:
    run_dir: str

    def _p(self, *parts: str) -> str:
        return os.path.join(self.run_dir, *parts)

    @property
    def config(self) -> str:  # the resolved pipeline config, saved at the start of every run
        return self._p("pipeline_config.yaml")

    @property
    def manifest(self) -> str:
        return self._p("pipeline_manifest.json")

    @property
    def corpus(self) -> str:  # the built-in corpus (documents/<source>/, eval/<source>/, stats.json)
        return self._p("corpus")

    @property
    def curated(self) -> str:  # curation work folder (attributes, mixed documents, stats.json)
        return self._p("curated")

    @property
    def analysis(self) -> str:  # lmforge.analyze's report of the training documents
        return self._p("analysis")

    @property
    def tokenizer_dir(self) -> str:
        return self._p("tokenizer")

    @property
    def tokenizer(self) -> str:
        return self._p("tokenizer", "tokenizer.json")

    @property
    def tokens(self) -> str:  # training token files
        return self._p("tokens", "train")

    def eval_tokens(self, source: str) -> str:  # held-out token files, one folder per source
        return self._p("tokens", "eval", source)

    @property
    def eval_tokens_root(self) -> str:
        return self._p("tokens", "eval")

    @property
    def train(self) -> str:  # the trainer's save folder: checkpoints, metrics.jsonl, config.yaml
        return self._p("train")

    @property
    def eval(self) -> str:
        return self._p("eval")

    @property
    def eval_results(self) -> str:
        return self._p("eval", "results.json")

    @property
    def eval_examples(self) -> str:  # per-example task scores, one JSON line each
        return self._p("eval", "examples.jsonl")

    @property
    def model(self) -> str:  # the final lmforge model folder (unsharded)
        return self._p("model")

    @property
    def hf(self) -> str:  # the exported Hugging Face folder
        return self._p("hf")

    @property
    def samples(self) -> str:
        return self._p("samples.json")

    @property
    def report(self) -> str:
        return self._p("report")
