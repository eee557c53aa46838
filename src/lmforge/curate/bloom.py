"""A Bloom filter sized from the expected item count and a target false-positive rate, saved and reloaded
for incremental dedup, with batched numpy queries.

Items are 128-bit hashes given as two uint64 arrays (``h1``, ``h2``); the k bit positions are
``h1 + i * h2 (mod m)`` (Kirsch-Mitzenmacher double hashing), with m a power of two.

File format: ``LMFBLOOM`` + uint32 header length + JSON header (m, k, expected count, target rate,
settings fingerprint, inputs already added) + the bit array (little-endian uint64 words).

A filter is *stale* for a run when it was built with other settings (hash, paragraph rules) or already
contains one of the run's input files (adding a file twice would flag every paragraph of it as a
duplicate of itself). :func:`BloomFilter.load` refuses a stale filter unless ``allow_stale``.
"""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import numpy as np

from lmforge.config import ConfigError
from lmforge.io import InputError, atomic_write, open_file

MAGIC = b"LMFBLOOM"


class StaleFilterError(ConfigError):
    """A saved filter that must not be used for this run (a ConfigError: the CLI prints it, exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__("dedup.bloom.file", message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.rule,))


def optimal_size(expected_count: int, false_positive_rate: float) -> tuple[int, int]:
    """``(m bits, k hashes)``: m rounded up to a power of two (>= 64), k optimal for that m."""
    bits = -expected_count * math.log(false_positive_rate) / (math.log(2) ** 2)
    m = 1 << max(6, math.ceil(math.log2(max(bits, 64))))
    k = max(1, round(m / expected_count * math.log(2)))
    return m, min(k, 32)


class BloomFilter:
    def __init__(self, m: int, k: int, meta: dict[str, Any] | None = None) -> None:
        if m & (m - 1) or m < 64:
            raise ValueError(f"m must be a power of two >= 64, got {m}")
        self.m = m
        self.k = k
        self.words = np.zeros(m // 64, dtype=np.uint64)
        self.meta: dict[str, Any] = dict(meta or {})
        self.meta.setdefault("inputs", [])
        self._steps = np.arange(k, dtype=np.uint64)

    @classmethod
    def for_capacity(cls, expected_count: int, false_positive_rate: float, **meta: Any) -> BloomFilter:
        m, k = optimal_size(expected_count, false_positive_rate)
        return cls(
            m, k, {"expected_count": expected_count, "false_positive_rate": false_positive_rate, **meta}
        )

    def expected_false_positive_rate(self, count: int) -> float:
        return (1 - math.exp(-self.k * count / self.m)) ** self.k

    def _positions(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        h2 = h2 | np.uint64(1)  # an odd step visits k distinct positions modulo a power of two
        with np.errstate(over="ignore"):
            pos = h1[:, None] + self._steps[None, :] * h2[:, None]
        return pos & np.uint64(self.m - 1)

    def contains(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        pos = self._positions(h1, h2)
        bits = (self.words[pos >> np.uint64(6)] >> (pos & np.uint64(63))) & np.uint64(1)
        return bits.all(axis=1)

    def add(self, h1: np.ndarray, h2: np.ndarray) -> None:
        pos = self._positions(h1, h2).ravel()
        np.bitwise_or.at(self.words, pos >> np.uint64(6), np.uint64(1) << (pos & np.uint64(63)))

    def check_and_add(self, h1: np.ndarray, h2: np.ndarray, read_only: bool = False) -> np.ndarray:
        """Seen-before flags with sequential semantics: an item is seen if the filter had it before this
        batch or an identical hash occurs earlier in the batch; then the batch is added."""
        if len(h1) == 0:
            return np.zeros(0, dtype=bool)
        seen = self.contains(h1, h2)
        keys = np.stack([h1, h2], axis=1).view(np.dtype((np.void, 16))).ravel()
        _, first = np.unique(keys, return_index=True)
        earlier = np.ones(len(h1), dtype=bool)
        earlier[first] = False
        if not read_only:
            self.add(h1, h2)
        return seen | earlier

    def save(self, path: str) -> None:
        header = json.dumps({"m": self.m, "k": self.k, **self.meta}, sort_keys=True).encode()
        with atomic_write(path, "wb", compression=False) as f:
            f.write(MAGIC + struct.pack("<I", len(header)) + header)
            f.write(self.words.astype("<u8").tobytes())

    @classmethod
    def load(cls, path: str) -> BloomFilter:
        with open_file(path, "rb", compression=False) as f:
            raw = f.read()
        if raw[:8] != MAGIC:
            raise InputError(path, None, "not an lmforge Bloom filter (bad magic)")
        try:
            (length,) = struct.unpack("<I", raw[8:12])
            header = json.loads(raw[12 : 12 + length])
            bloom = cls(header.pop("m"), header.pop("k"), header)
        except (struct.error, ValueError, KeyError, TypeError) as err:
            raise InputError(path, None, f"corrupt Bloom filter header ({err})") from None
        body = raw[12 + length :]
        words = np.frombuffer(io.BytesIO(body[: len(body) // 8 * 8]).getbuffer(), dtype="<u8")
        if len(body) % 8 or len(words) != bloom.m // 64:
            raise InputError(path, None, f"truncated Bloom filter ({len(words)} of {bloom.m // 64} words)")
        bloom.words = words.astype(np.uint64).copy()
        return bloom

    @staticmethod
    def read_meta(path: str) -> dict[str, Any]:
        """The JSON header of a saved filter (m, k and the meta) without reading its bit array."""
        with open_file(path, "rb", compression=False) as f:
            start = f.read(12)
            if start[:8] != MAGIC or len(start) < 12:
                raise InputError(path, None, "not an lmforge Bloom filter (bad magic)")
            (length,) = struct.unpack("<I", start[8:12])
            try:
                return json.loads(f.read(length))
            except ValueError as err:
                raise InputError(path, None, f"corrupt Bloom filter header ({err})") from None

    def check_fresh(self, settings: str, inputs: list[str], allow_stale: bool, path: str) -> None:
        """Refuse (``StaleFilterError``) a filter built with other settings or holding these inputs."""
        if allow_stale:
            return
        if self.meta.get("settings") != settings:
            raise StaleFilterError(
                f"{path}: Bloom filter was built with other dedup settings; delete it, or pass "
                "--allow-stale (YAML: dedup.bloom.allow_stale: true) to use it anyway"
            )
        already = sorted(set(self.meta.get("inputs", [])) & set(inputs))
        if already:
            raise StaleFilterError(
                f"{path}: Bloom filter already contains {len(already)} of these inputs (e.g. {already[0]}); "
                "every paragraph of them would be flagged as a duplicate. Delete the filter, or pass "
                "--allow-stale (YAML: dedup.bloom.allow_stale: true)"
            )
