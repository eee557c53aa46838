"""Deterministic 64-bit hashes of texts, words and word n-grams (numpy-vectorised).

Every process (local pool worker or Ray actor on another machine) must compute the same hash for the same
text, so Python's salted ``hash()`` is out: texts and words go through xxh3-64, and n-grams are combined from
their word hashes with a polynomial over uint64 (wrapping arithmetic) and a splitmix64 finaliser. A
collision between two distinct n-grams has probability about 2^-64 per pair, negligible for any corpus whose
n-gram count is far below 2^32.

N-gram hashes are computed over a *batch* of documents at once: the words of many documents are
concatenated and n-grams that would straddle two documents are masked out, which keeps the per-document
Python work to a regex and one C-level ``map``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import xxhash

# Words for n-grams and contamination: lower-cased runs of Unicode word characters. Punctuation and
# whitespace differences then do not hide an overlap (the GPT-3 / OLMo decontamination convention).
_WORD = re.compile(r"\w+")
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier: the combination is a bijection per step
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))

text_hash = xxhash.xxh3_64_intdigest  # bytes -> int; for documents and paragraphs


# bytes.translate table for ASCII texts: every byte outside [0-9A-Za-z_] becomes a space, so
# ``lower().translate(...).split()`` gives exactly the ``\w+`` runs of an ASCII text, 3x faster than a regex
_ASCII_NON_WORD_TO_SPACE = bytes(
    c if chr(c).isalnum() or c == ord("_") else ord(" ") for c in range(128)
) + bytes(range(128, 256))


def normalized_words(text: str) -> list[str]:
    """Lower-cased ``\\w+`` runs: the word sequence n-grams and contamination are computed over."""
    return _WORD.findall(text.lower())


def normalized_word_bytes(text: str, encoded: bytes | None = None) -> list[bytes]:
    """:func:`normalized_words` as UTF-8 bytes (what gets hashed), with a fast path for ASCII texts."""
    if text.isascii():
        return (
            (encoded if encoded is not None else text.encode())
            .lower()
            .translate(_ASCII_NON_WORD_TO_SPACE)
            .split()
        )
    return list(map(str.encode, _WORD.findall(text.lower())))


def word_hashes(words: Sequence[str] | Sequence[bytes]) -> np.ndarray:
    """xxh3-64 of each word's UTF-8 bytes, as a uint64 array (one C-level pass, no Python loop)."""
    if words and isinstance(words[0], str):
        words = list(map(str.encode, words))  # type: ignore[arg-type]
    return np.fromiter(map(text_hash, words), dtype=np.uint64, count=len(words))


def _finalise(x: np.ndarray) -> np.ndarray:
    # splitmix64: spreads the polynomial's weak low bits over the whole word (sketch rows index by high bits)
    x = x ^ (x >> _SHIFTS[0])
    x = x * _MIX1
    x = x ^ (x >> _SHIFTS[1])
    x = x * _MIX2
    return x ^ (x >> _SHIFTS[2])


def ngram_hashes(
    hashes: np.ndarray, n: int, doc_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every word n-gram and their start positions.

    ``hashes`` are word hashes of one or more concatenated documents; ``doc_ids`` (same length, sorted) says
    which document each word belongs to, and n-grams spanning two documents are dropped. The size ``n`` is
    mixed into the hash so that a 2-gram and a 3-gram never share a value.
    """
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    with np.errstate(over="ignore"):
        combined = hashes[:count].copy()
        for offset in range(1, n):
            combined *= _POLY
            combined += hashes[offset : offset + count]
        combined ^= np.uint64(n) * np.uint64(0xD6E8FEB86659FD93)
        out = _finalise(combined)
    starts = np.arange(count, dtype=np.int64)
    if doc_ids is not None and n > 1:
        same_doc = doc_ids[:count] == doc_ids[n - 1 :]
        out, starts = out[same_doc], starts[same_doc]
    return out, starts


def text_ngram_hashes(text: str, n: int) -> np.ndarray:
    """Hashes of the word n-grams of one text (used for evaluation examples and in tests)."""
    return ngram_hashes(word_hashes(normalized_words(text)), n)[0]
