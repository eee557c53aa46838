"""A mergeable histogram of non-negative integers with bounded size and 0.5 % relative error.

Lengths (bytes, words, tokens per document) can take any value, and a corpus can hold billions of
documents, so exact percentiles would need every value in memory. Instead values below 128 get a bucket of
their own (exact), and larger ones fall in logarithmic buckets ``[128 * g^i, 128 * g^(i+1))`` with
``g = 1.01``; a percentile is reported as the bucket's geometric middle, within 0.5 % of the true value
(the DDSketch idea). The bucket array has a fixed length (values up to 2^48), merges by addition, and is
independent of the number of values, so shard results stay small.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

EXACT_BELOW = 128
GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)
NUM_BUCKETS = EXACT_BELOW + math.ceil(math.log(2**48 / EXACT_BELOW) / _LOG_GROWTH) + 1
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def bucket_of(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    large = np.maximum(values, EXACT_BELOW).astype(np.float64)
    log_index = EXACT_BELOW + np.floor(np.log(large / EXACT_BELOW) / _LOG_GROWTH).astype(np.int64)
    return np.minimum(np.where(values < EXACT_BELOW, values, log_index), NUM_BUCKETS - 1)


def bucket_value(index: int) -> float:
    """Representative value of a bucket: itself if exact, else the geometric middle of its range."""
    if index < EXACT_BELOW:
        return float(index)
    return EXACT_BELOW * GROWTH ** (index - EXACT_BELOW + 0.5)


class LogHistogram:
    """Counts, sum, min and max of integer values, plus percentile estimates; ``merge`` adds another."""

    __slots__ = ("buckets", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.buckets = np.zeros(NUM_BUCKETS, dtype=np.int64)
        self.count = 0
        self.total = 0
        self.minimum: int | None = None
        self.maximum: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        # shard results travel between processes: send the few non-empty buckets, not all ~3000
        nonzero = np.flatnonzero(self.buckets)
        return {
            "index": nonzero,
            "counts": self.buckets[nonzero],
            "count": self.count,
            "total": self.total,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.buckets = np.zeros(NUM_BUCKETS, dtype=np.int64)
        self.buckets[state["index"]] = state["counts"]
        self.count, self.total = state["count"], state["total"]
        self.minimum, self.maximum = state["minimum"], state["maximum"]

    def add_many(self, values: Sequence[int] | Iterable[int] | np.ndarray) -> None:
        array = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.int64)
        if array.size == 0:
            return
        if int(array.min()) < 0:
            raise ValueError("LogHistogram takes non-negative values")
        self.buckets += np.bincount(bucket_of(array), minlength=NUM_BUCKETS)
        self.count += int(array.size)
        self.total += int(array.sum())
        low, high = int(array.min()), int(array.max())
        self.minimum = low if self.minimum is None else min(self.minimum, low)
        self.maximum = high if self.maximum is None else max(self.maximum, high)

    def merge(self, other: LogHistogram) -> None:
        self.buckets += other.buckets
        self.count += other.count
        self.total += other.total
        if other.minimum is not None:
            self.minimum = other.minimum if self.minimum is None else min(self.minimum, other.minimum)
        if other.maximum is not None:
            self.maximum = other.maximum if self.maximum is None else max(self.maximum, other.maximum)

    def percentile(self, q: float) -> float | None:
        """The value below which ``q`` percent of the values lie (nearest rank), within 0.5 %."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        index = int(np.searchsorted(np.cumsum(self.buckets), rank))
        value = bucket_value(index)
        # the true value lies in the bucket and between the observed extremes
        return float(min(max(value, self.minimum or 0), self.maximum or 0))

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def coarse(self, per_octave: int = 4) -> list[tuple[float, float, int]]:
        """``(low, high, count)`` bins, ``per_octave`` per doubling, for plots and the JSON report."""
        if self.count == 0:
            return []
        edges = [0.0, 1.0]
        while edges[-1] <= (self.maximum or 0):
            edges.append(edges[-1] * 2 ** (1 / per_octave) if edges[-1] >= 4 else edges[-1] + 1)
        centres = np.array([bucket_value(i) for i in range(NUM_BUCKETS)])
        nonzero = np.nonzero(self.buckets)[0]
        counts = np.zeros(len(edges) - 1, dtype=np.int64)
        slots = np.clip(np.searchsorted(edges, centres[nonzero], side="right") - 1, 0, len(counts) - 1)
        np.add.at(counts, slots, self.buckets[nonzero])
        return [(edges[i], edges[i + 1], int(c)) for i, c in enumerate(counts) if c]

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total": self.total,
            "mean": self.mean(),
            "min": self.minimum,
            "max": self.maximum,
            "percentiles": {f"p{q}": self.percentile(q) for q in PERCENTILES},
        }
