"""Per-step, per-source counts that reconcile: documents in = kept + filtered + rejected.

``filtered`` documents were dropped by a rule (``filtered_by`` names the rule); ``rejected`` lines were bad
input (malformed JSON, invalid UTF-8, missing text...), listed with file and line in ``rejections``.
Steps that change documents without dropping them count that under ``modified`` (e.g. ``spans_removed``).
Written as ``stats.json`` beside each step's outputs, deterministically (no timings inside).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from lmforge.documents import ReadStats


@dataclasses.dataclass
class Counts:
    documents_in: int = 0
    bytes_in: int = 0
    kept: int = 0
    kept_bytes: int = 0
    filtered: int = 0
    filtered_bytes: int = 0
    rejected: int = 0
    filtered_by: Counter = dataclasses.field(default_factory=Counter)
    modified: Counter = dataclasses.field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        for f in ("documents_in", "bytes_in", "kept", "kept_bytes", "filtered", "filtered_bytes", "rejected"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.filtered_by.update(other.filtered_by)
        self.modified.update(other.modified)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["filtered_by"] = dict(sorted(self.filtered_by.items()))
        out["modified"] = dict(sorted(self.modified.items()))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counts:
        data = dict(data)
        data["filtered_by"] = Counter(data.get("filtered_by", {}))
        data["modified"] = Counter(data.get("modified", {}))
        return cls(**data)

    def reconciles(self) -> bool:
        return self.documents_in == self.kept + self.filtered + self.rejected


class StepStats:
    """Counts by source for one shard or a whole step, plus the located rejections."""

    def __init__(self) -> None:
        self.by_source: dict[str, Counts] = {}
        self.rejections: list[dict[str, Any]] = []

    def source(self, name: str) -> Counts:
        counts = self.by_source.get(name)
        if counts is None:
            counts = self.by_source[name] = Counts()
        return counts

    def keep(self, source: str, nbytes: int) -> None:
        c = self.source(source)
        c.documents_in += 1
        c.bytes_in += nbytes
        c.kept += 1
        c.kept_bytes += nbytes

    def drop(self, source: str, nbytes: int, reason: str) -> None:
        c = self.source(source)
        c.documents_in += 1
        c.bytes_in += nbytes
        c.filtered += 1
        c.filtered_bytes += nbytes
        c.filtered_by[reason] += 1

    def add_read_stats(self, source: str, read: ReadStats) -> None:
        """Count the reader's rejected lines (they never reach keep/drop)."""
        if read.rejected:
            c = self.source(source)
            c.documents_in += read.rejected
            c.rejected += read.rejected
            self.rejections.extend(r.to_dict() for r in read.rejections)

    def merge(self, other: StepStats) -> None:
        for name, counts in other.by_source.items():
            self.source(name).add(counts)
        self.rejections.extend(other.rejections)

    def total(self) -> Counts:
        total = Counts()
        for counts in self.by_source.values():
            total.add(counts)
        return total

    def to_dict(self, step: str, **extra: Any) -> dict[str, Any]:
        total = self.total()
        return {
            "step": step,
            **extra,
            "total": total.to_dict(),
            "reconciles": total.reconciles() and all(c.reconciles() for c in self.by_source.values()),
            "by_source": {k: v.to_dict() for k, v in sorted(self.by_source.items())},
            "rejections": self.rejections[:1000],
            "rejections_listed": min(len(self.rejections), 1000),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "by_source": {k: v.to_dict() for k, v in self.by_source.items()},
            "rejections": self.rejections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepStats:
        stats = cls()
        for name, counts in data.get("by_source", {}).items():
            stats.by_source[name] = Counts.from_dict(counts)
        stats.rejections = list(data.get("rejections", []))
        return stats
