"""The YAML config of ``lmforge curate CONFIG.yaml``: which steps run, in this order, with what settings.

Example (every key is documented in docs/curation.md)::

    steps: [tag, dedup, mix]
    execution: {processes: 4, executor: local, on_error: fail}
    tag:
      documents: ["data/documents/*/*.jsonl.gz"]
      taggers: [gopher_v1, c4_v2, {name: pii_regex_with_counts_fast_v2}]
    dedup:
      documents: ["data/documents/*/*.jsonl.gz"]
      paragraphs: {method: bloom}
      bloom: {file: data/bloom/para.bin, expected_count: 10000000, false_positive_rate: 1.0e-6}
    mix:
      streams:
        - name: web
          documents: ["data/documents/web/*.jsonl.gz"]
          attributes: [gopher_v1, dedupe]
          output: {path: data/mixed/web, max_size_in_bytes: 100000000}
          filter: {exclude: ["gopher_v1__gopher_v1__word_count < 50"]}
          span_replacement: [{span: dedupe__bff__duplicate_paragraph, replacement: ""}]
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from lmforge.config import ConfigError, require

StepName = Literal["tag", "dedup", "mix", "decontaminate"]


@dataclasses.dataclass
class ExecutionConfig:
    processes: int = 1
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    on_error: Literal["fail", "skip"] = "fail"
    progress: bool = True
    force: bool = False  # redo shards that have completion markers
    imports: list[str] = dataclasses.field(default_factory=list)  # modules registering custom taggers

    def validate(self) -> None:
        require(self.processes >= 1, "processes", "must be >= 1")


@dataclasses.dataclass
class TaggerSpec:
    name: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TagConfig:
    documents: list[str] = dataclasses.field(default_factory=list)
    taggers: list[TaggerSpec | str] = dataclasses.field(default_factory=list)
    experiment: str | None = None  # None: each tagger writes attributes/<tagger>/ with <tagger>__<tagger>__
    score_precision: int | None = 5  # decimals kept in written scores (dolma: 5); None keeps full floats

    def specs(self) -> list[TaggerSpec]:
        return [TaggerSpec(t) if isinstance(t, str) else t for t in self.taggers]

    def validate(self) -> None:
        require(bool(self.documents), "documents", "needs at least one path or glob")
        require(bool(self.taggers), "taggers", "needs at least one tagger")


@dataclasses.dataclass
class BloomConfig:
    file: str | None = None  # saved after the run, loaded by the next one (incremental dedup)
    expected_count: int = 10_000_000  # paragraphs (or documents) the filter will hold
    false_positive_rate: float = 1e-6
    allow_stale: bool = False  # load a filter built with other settings or that already saw these inputs
    read_only: bool = False  # check against the filter but do not add to it or save it

    def validate(self) -> None:
        require(self.expected_count > 0, "expected_count", "must be > 0")
        require(0 < self.false_positive_rate < 1, "false_positive_rate", "must be in (0, 1)")


@dataclasses.dataclass
class ParagraphDedupConfig:
    method: Literal["bloom", "exact", "ngram"] = "bloom"
    attribute_name: str = "bff_duplicate_paragraph_spans"
    skip_empty: bool = True
    min_words: int = 0  # paragraphs with fewer words are never marked
    ngram_size: int = 13  # method ngram: words per n-gram
    overlap_threshold: float = 0.5  # method ngram: fraction of a paragraph's n-grams seen before
    # "exact": a span is the line plus its newline; "dolma": dolma 1.2.1's span ends (see docs/curation.md)
    span_convention: Literal["exact", "dolma"] = "exact"


@dataclasses.dataclass
class DocumentDedupConfig:
    key: str = "text"  # "text" (hash of the text) or a field path: "id", "metadata.url"
    attribute_name: str = "exact_duplicate"


@dataclasses.dataclass
class MinHashConfig:
    num_perm: int = 128
    bands: int = 16  # rows per band = num_perm / bands; threshold ~ (1/bands)^(1/rows)
    ngram_size: int = 5  # word shingles
    attribute_name: str = "minhash_duplicate"
    seed: int = 1

    def validate(self) -> None:
        require(self.num_perm % self.bands == 0, "num_perm", "must be a multiple of bands")


@dataclasses.dataclass
class DedupConfig:
    documents: list[str] = dataclasses.field(default_factory=list)
    name: str = "dedupe"  # attributes/<name>/
    paragraphs: ParagraphDedupConfig | None = dataclasses.field(default_factory=ParagraphDedupConfig)
    exact_documents: DocumentDedupConfig | None = None
    minhash: MinHashConfig | None = None
    bloom: BloomConfig = dataclasses.field(default_factory=BloomConfig)

    def validate(self) -> None:
        require(bool(self.documents), "documents", "needs at least one path or glob")
        require(
            any(x is not None for x in (self.paragraphs, self.exact_documents, self.minhash)),
            "paragraphs",
            "enable at least one of paragraphs, exact_documents, minhash",
        )


@dataclasses.dataclass
class OutputConfig:
    path: str = ""
    max_size_in_bytes: int = 100_000_000  # uncompressed JSONL bytes per output shard
    discard_fields: list[str] = dataclasses.field(default_factory=list)
    compression: Literal["gz", "zst", "none"] = "gz"

    def validate(self) -> None:
        require(bool(self.path), "path", "is required")
        require(self.max_size_in_bytes > 0, "max_size_in_bytes", "must be > 0")


@dataclasses.dataclass
class FilterConfig:
    include: list[str] = dataclasses.field(default_factory=list)  # keep only if ALL hold (when any given)
    exclude: list[str] = dataclasses.field(default_factory=list)  # drop if ANY holds (named in stats)


@dataclasses.dataclass
class SpanReplacement:
    span: str  # attribute key, e.g. pii__pii_regex_v1__EMAIL_ADDRESS
    min_score: float = 0.5
    replacement: str = ""


@dataclasses.dataclass
class StreamConfig:
    name: str
    documents: list[str]
    output: OutputConfig
    attributes: list[str] = dataclasses.field(default_factory=list)
    filter: FilterConfig = dataclasses.field(default_factory=FilterConfig)
    span_replacement: list[SpanReplacement] = dataclasses.field(default_factory=list)
    sampling_rate: float = 1.0  # < 1 keeps a seeded random fraction; > 1 repeats documents (upsampling)
    # per-source rates overriding sampling_rate, by the document's source (its `source` field, else its
    # folder under documents/), e.g. {wiki: 2.0, web: 0.5}
    source_sampling_rates: dict[str, float] = dataclasses.field(default_factory=dict)
    provenance: bool = True  # add metadata.provenance = {"file", "line"}
    drop_empty: bool = True  # drop documents whose text is empty after span removal

    def validate(self) -> None:
        require(self.sampling_rate >= 0, "sampling_rate", "must be >= 0")
        for source, rate in self.source_sampling_rates.items():
            require(rate >= 0, f"source_sampling_rates.{source}", "must be >= 0")


@dataclasses.dataclass
class MixConfig:
    streams: list[StreamConfig] = dataclasses.field(default_factory=list)
    seed: int = 0

    def validate(self) -> None:
        require(bool(self.streams), "streams", "needs at least one stream")
        names = [s.name for s in self.streams]
        require(len(names) == len(set(names)), "streams", "stream names must be unique")


@dataclasses.dataclass
class DecontaminateConfig:
    documents: list[str] = dataclasses.field(default_factory=list)
    eval: list[str] = dataclasses.field(default_factory=list)  # jsonl(.gz) task files or Dolma documents
    # fields whose strings (also inside lists and dicts, e.g. choices.text) are evaluation text
    eval_fields: list[str] = dataclasses.field(
        default_factory=lambda: [
            "text", "question", "question_stem", "query", "goal", "ctx", "context", "passage", "sentence",
            "sentence1", "sentence2", "premise", "hypothesis", "article", "story", "support", "choices",
            "endings", "sol1", "sol2", "option1", "option2", "choice1", "choice2", "answerA", "answerB",
            "answerC", "correct_answer",
        ]
    )  # fmt: skip
    name: str = "decontam"  # attributes/<name>/
    ngram_size: int = 13
    min_eval_words: int = 8  # an eval text shorter than ngram_size counts whole if it has >= this many words
    paragraph_threshold: float = 0.0  # a paragraph is contaminated if > this fraction of n-grams match
    document_threshold: float = 0.5  # a document is contaminated if > this share of its characters are
    # in contaminated paragraphs
    action: Literal["flag", "remove"] = "flag"
    output: str | None = None  # action remove: cleaned documents go to <output>/<relative path>

    def validate(self) -> None:
        require(bool(self.documents), "documents", "needs at least one path or glob")
        require(bool(self.eval), "eval", "needs at least one evaluation file or glob")
        require(self.ngram_size >= 1, "ngram_size", "must be >= 1")
        if self.action == "remove" and not self.output:
            raise ConfigError("output", "is required when action is 'remove'")


@dataclasses.dataclass
class CurateConfig:
    steps: list[StepName] = dataclasses.field(default_factory=list)
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)
    tag: TagConfig | None = None
    dedup: DedupConfig | None = None
    mix: MixConfig | None = None
    decontaminate: DecontaminateConfig | None = None

    def validate(self) -> None:
        require(bool(self.steps), "steps", "list the steps to run, e.g. [tag, dedup, mix]")
        for step in self.steps:
            require(getattr(self, step) is not None, step, f"step {step!r} is listed but not configured")
