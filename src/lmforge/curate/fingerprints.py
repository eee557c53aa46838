"""Hashes of documents, paragraphs, word n-grams and MinHash signatures, for dedup and decontamination.

128-bit xxh3 hashes are returned as two uint64 arrays (``h1``, ``h2``) so numpy can do the set work.
Text is hashed as UTF-8 with ``surrogatepass`` so a lone surrogate never crashes a worker.
"""

from __future__ import annotations

import numpy as np
import xxhash

_MASK64 = (1 << 64) - 1


def hash128(text: str) -> tuple[int, int]:
    value = xxhash.xxh3_128_intdigest(text.encode("utf-8", "surrogatepass"))
    return value >> 64, value & _MASK64


def hash64(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


def split_hashes(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        empty = np.zeros(0, dtype=np.uint64)
        return empty, empty.copy()
    arr = np.array(pairs, dtype=np.uint64)
    return arr[:, 0].copy(), arr[:, 1].copy()


def dedup_paragraphs(
    text: str, skip_empty: bool = True, min_words: int = 0, dolma_spans: bool = False
) -> list[tuple[int, int, str]]:
    """Paragraphs for dedup as ``(start, end, key)``: the lines of ``text.split("\\n")``; the key is the
    line without its newline, the span includes the newline.

    ``dolma_spans=True`` reproduces dolma 1.2.1's span ends: it adds the newline only while the end is
    below the UTF-8 *byte* length of the text minus one, so a final line ending in a newline loses it and,
    after non-ASCII text, a final line without one ends past the end of the text.
    """
    out = []
    start = 0
    n = len(text)
    limit = len(text.encode("utf-8", "surrogatepass")) - 1 if dolma_spans else n
    for line in text.split("\n"):
        end = start + len(line)
        span_end = end + 1 if end < limit else end
        if not (skip_empty and not line.strip()) and (min_words <= 0 or len(line.split()) >= min_words):
            out.append((start, span_end, line))
        start = end + 1
    return out


def word_ngram_hashes(words: list[str], n: int) -> np.ndarray:
    """uint64 hashes of the word n-grams of ``words`` (one for the whole list if shorter than n)."""
    if not words:
        return np.zeros(0, dtype=np.uint64)
    word_hashes = np.fromiter((hash64(w) for w in words), dtype=np.uint64, count=len(words))
    if len(words) < n:
        n = len(words)
    # polynomial combination over uint64 (wrapping), one multiply-add per position and offset
    count = len(words) - n + 1
    acc = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            acc = acc * np.uint64(0x100000001B3) + word_hashes[j : j + count]
        return _mix(acc)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised): a well-spread permutation of uint64."""
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def minhash_signature(shingles: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature (uint64[num_perm]) of a set of uint64 shingle hashes; all-ones when empty."""
    sig = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    if len(shingles) == 0:
        return sig
    salts = _mix(np.arange(1, num_perm + 1, dtype=np.uint64) * np.uint64(seed * 2 + 1))
    shingles = np.unique(shingles)
    for start in range(0, len(shingles), 4096):  # bounded memory on huge documents
        block = _mix(shingles[start : start + 4096, None] ^ salts[None, :])
        np.minimum(sig, block.min(axis=0), out=sig)
    return sig


def band_hashes(signature: np.ndarray, bands: int) -> list[int]:
    rows = len(signature) // bands
    return [
        xxhash.xxh3_64_intdigest(signature[b * rows : (b + 1) * rows].tobytes()) ^ b for b in range(bands)
    ]
