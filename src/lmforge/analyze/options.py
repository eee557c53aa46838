"""What one analysis run computes, and how (the typed options behind ``lmforge analyze``)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from lmforge.config import ConfigError


@dataclasses.dataclass
class AnalyzeOptions:
    # --- what to compute
    tokenizer: str | None = None  # tokenizer.json / folder / hub name: adds token counts
    eval_data: list[str] | None = None  # folders or globs of evaluation sets: adds contamination
    eval_fields: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # task -> text fields
    ngram_sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 3])
    top_k: int = 25  # reported n-grams per size; 0 turns the n-gram pass off
    languages: bool = True
    language_max_chars: int | None = (
        None  # identify on a prefix only (None: the whole text, like the taggers)
    )
    pii: bool = True
    duplicates: bool = True
    # --- bounded-memory knobs
    sketch_width_log2: int = 21  # count-min sketch: 4 rows of 2^21 uint32 = 32 MiB per worker
    sketch_depth: int = 4
    ngram_candidates: int = 2000  # candidates kept per shard and n-gram size
    ngram_pool: int = 20000  # candidates recounted exactly per size
    dedup_partitions: int = 64  # hash partitions the parent merges one at a time (power of two)
    top_duplicates: int = 10
    # --- contamination
    contamination_n: int = 13
    contamination_short_n: int = 8
    contamination_min_share: float = 0.0  # contaminated if >= 1 matched n-gram and at least this share
    contamination_max_docs: int = 3  # documents listed per contaminated example
    contamination_max_examples: int = 20  # contaminated examples listed per set
    # --- input and execution
    source_field: str = "source"  # documents without it take their folder's name
    on_error: Literal["fail", "skip"] = "fail"
    processes: int = 1
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    batch_words: int = 1 << 20  # words per vectorised n-gram batch (memory ~ 40 B per word)
    plots: bool = True
    progress: bool = True

    def validate(self) -> None:
        if self.top_k < 0:
            raise ConfigError("top_k", "must be >= 0")
        if any(n < 1 or n > 32 for n in self.ngram_sizes):
            raise ConfigError("ngram_sizes", "each n must be in 1..32")
        if self.dedup_partitions < 1 or self.dedup_partitions & (self.dedup_partitions - 1):
            raise ConfigError("dedup_partitions", "must be a power of two")
        if not 10 <= self.sketch_width_log2 <= 30:
            raise ConfigError("sketch_width_log2", "must be in 10..30")
        if not 1 <= self.contamination_short_n <= self.contamination_n:
            raise ConfigError("contamination_short_n", "must be in 1..contamination_n")
        if not 0.0 <= self.contamination_min_share <= 1.0:
            raise ConfigError("contamination_min_share", "must be in [0, 1]")
        if self.processes < 1:
            raise ConfigError("processes", "must be >= 1")
        if self.ngram_candidates < self.top_k or self.ngram_pool < self.top_k:
            raise ConfigError("ngram_candidates", "ngram_candidates and ngram_pool must be >= top_k")
        if self.on_error not in ("fail", "skip"):
            raise ConfigError("on_error", "must be 'fail' or 'skip'")
        if self.executor not in ("local", "ray"):
            raise ConfigError("executor", "must be 'local' or 'ray'")

    @property
    def wants_words(self) -> bool:
        """Whether documents need the normalised word pass (n-grams or contamination)."""
        return bool(self.top_k and self.ngram_sizes) or bool(self.eval_data)
