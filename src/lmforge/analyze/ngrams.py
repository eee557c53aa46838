"""Top-k word n-grams in bounded memory: a count-min sketch and candidate lists, then an exact recount.

Pass 1 (per shard): every n-gram hash goes into a count-min sketch (``depth`` rows of ``2^width_log2``
uint32 counters, a fixed 32 MiB by default); after each batch the shard keeps the ``capacity`` hashes with
the largest sketch estimates as its candidates. The sketch never underestimates, so an n-gram making up more
than ``1/capacity`` of a shard's n-grams can only be pushed out by ``capacity`` others with estimates at
least as large, which only overestimates (rare in a wide sketch) can produce; and an n-gram making up more
than ``1/capacity`` of the corpus does so in at least one shard.

The parent unions the shards' candidates (ranked by summed estimates, capped at ``pool`` per size), and
pass 2 counts exactly those hashes (a sorted-array membership test per batch) and recovers their text. The
reported counts are therefore exact; only the choice of candidates is approximate.
"""

from __future__ import annotations

import numpy as np

_ROW_SEEDS = (
    0x9E3779B97F4A7C15,
    0xC2B2AE3D27D4EB4F,
    0x165667B19E3779F9,
    0x27D4EB2F165667C5,
    0x85EBCA77C2B2AE63,
    0xFF51AFD7ED558CCD,
    0xC4CEB9FE1A85EC53,
    0x94D049BB133111EB,
)


class CountMinSketch:
    """``estimate(h) >= true count of h`` always; the excess is at most ``e * N / width`` w.h.p."""

    def __init__(self, depth: int = 4, width_log2: int = 21) -> None:
        if not 1 <= depth <= len(_ROW_SEEDS):
            raise ValueError(f"sketch depth must be in 1..{len(_ROW_SEEDS)}")
        self.width_log2 = width_log2
        self.table = np.zeros((depth, 1 << width_log2), dtype=np.uint32)
        self._seeds = [np.uint64(s) for s in _ROW_SEEDS[:depth]]
        self._shift = np.uint64(64 - width_log2)

    def _rows(self, hashes: np.ndarray) -> list[np.ndarray]:
        # multiply-shift hashing: a different odd multiplier per row, the top bits index the row
        with np.errstate(over="ignore"):
            return [((hashes * seed) >> self._shift).astype(np.int64) for seed in self._seeds]

    def add(self, hashes: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Count each hash once (or ``counts[i]`` times; hashes should then be distinct)."""
        if hashes.size == 0:
            return
        if counts is None:
            hashes, counts = np.unique(hashes, return_counts=True)
        counts = counts.astype(np.uint32)
        for row, index in enumerate(self._rows(hashes)):
            np.add.at(self.table[row], index, counts)  # distinct hashes can share a counter: add.at, not +=

    def estimate(self, hashes: np.ndarray) -> np.ndarray:
        if hashes.size == 0:
            return np.empty(0, dtype=np.int64)
        rows = self._rows(hashes)
        estimate = self.table[0][rows[0]].astype(np.int64)
        for row in range(1, len(rows)):
            np.minimum(estimate, self.table[row][rows[row]], out=estimate)
        return estimate


class HeavyHitters:
    """The ``capacity`` hashes with the largest sketch estimates seen so far (for one n-gram size)."""

    def __init__(self, sketch: CountMinSketch, capacity: int) -> None:
        self.sketch = sketch
        self.capacity = capacity
        self.hashes = np.empty(0, dtype=np.uint64)
        self.estimates = np.empty(0, dtype=np.int64)

    def update(self, batch: np.ndarray) -> None:
        """Add a batch of n-gram hashes to the sketch and refresh the candidates."""
        if batch.size == 0:
            return
        distinct, counts = np.unique(batch, return_counts=True)
        self.sketch.add(distinct, counts)
        estimates = self.sketch.estimate(distinct)
        if len(self.hashes) >= self.capacity:
            # only hashes that could displace the weakest candidate need a closer look
            keep = estimates > int(self.estimates.min())
            distinct, estimates = distinct[keep], estimates[keep]
        if len(distinct) > self.capacity:
            # the union's top `capacity` lies within the old candidates and the batch's own top `capacity`
            top = np.argpartition(-estimates, self.capacity - 1)[: self.capacity]
            distinct = distinct[top]
        merged = np.union1d(self.hashes, distinct)
        estimates = self.sketch.estimate(merged)
        if len(merged) > self.capacity:
            keep = np.argpartition(-estimates, self.capacity - 1)[: self.capacity]
            keep.sort()
            merged, estimates = merged[keep], estimates[keep]
        self.hashes, self.estimates = merged, estimates


def merge_candidates(
    pool: dict[int, int] | None, hashes: np.ndarray, estimates: np.ndarray, limit: int
) -> dict[int, int]:
    """Add one shard's candidates to the parent's pool (hash -> summed estimate), keeping the top ``limit``."""
    pool = {} if pool is None else pool
    for h, e in zip(hashes.tolist(), estimates.tolist()):
        pool[h] = pool.get(h, 0) + e
    if len(pool) > 2 * limit:  # prune rarely: amortised O(1) per insert
        pool = dict(sorted(pool.items(), key=lambda item: (-item[1], item[0]))[:limit])
    return pool


def final_candidates(pool: dict[int, int], limit: int) -> np.ndarray:
    """The pool's top ``limit`` hashes as a sorted uint64 array (what pass 2 counts exactly)."""
    top = sorted(pool.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return np.array(sorted(h for h, _ in top), dtype=np.uint64)


class ExactCounter:
    """Pass 2: exact counts of a fixed, sorted set of candidate hashes, and the text of each."""

    def __init__(self, candidates: np.ndarray) -> None:
        self.candidates = candidates
        self.counts = np.zeros(len(candidates), dtype=np.int64)
        self.texts: dict[int, str] = {}

    def update(self, batch: np.ndarray, starts: np.ndarray, words: list[bytes], n: int) -> None:
        if batch.size == 0 or self.candidates.size == 0:
            return
        slot = np.searchsorted(self.candidates, batch)
        slot[slot == len(self.candidates)] = 0
        hit = self.candidates[slot] == batch
        if not hit.any():
            return
        self.counts += np.bincount(slot[hit], minlength=len(self.candidates))
        slots, first = np.unique(slot[hit], return_index=True)
        hit_starts = starts[hit]
        for i, j in zip(slots.tolist(), first.tolist()):
            key = int(self.candidates[i])
            if key not in self.texts:
                start = int(hit_starts[j])
                self.texts[key] = b" ".join(words[start : start + n]).decode("utf-8", "surrogatepass")
