"""Gopher quality statistics (Rae et al. 2021), with the attribute names and definitions of dolma's
``gopher_v1`` / ``gopher_v2`` taggers, so that dolma mixing rules apply unchanged.

Words are ``str.split()`` tokens; "characters" in the n-gram and duplicate-line fractions are the
characters of words (whitespace excluded). Attributes are document-level ``[0, len(text), value]``:

- ``character_count``, ``word_count``, ``median_word_length``, ``symbol_to_word_ratio`` (words containing
  ``#`` or ``…``), ``fraction_of_words_with_alpha_character``, ``required_word_count`` (the, be, to, of,
  and, that, have, with), ``fraction_of_lines_starting_with_bullet_point`` (``*`` or ``-``),
  ``fraction_of_lines_ending_with_ellipsis`` (``…``), ``fraction_of_duplicate_lines``,
  ``fraction_of_characters_in_duplicate_lines``;
- ``fraction_of_characters_in_most_common_{2,3,4}grams`` and
  ``fraction_of_characters_in_duplicate_{5..10}grams``, present only when the text has at least n words.

The n-gram counts are exact: n-grams get dense integer ids one length at a time (``id(n) = unique(id(n-1)
* V + word)``) with numpy instead of hashing Python tuples of strings, which is where dolma spends its time.
"""

from __future__ import annotations

import re
from collections import Counter
from statistics import median
from typing import Any

import numpy as np

from lmforge.curate.taggers.registry import Attributes, Tagger, register_tagger

REQUIRED_ENGLISH_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
MOST_COMMON_NGRAMS = (2, 3, 4)
DUPLICATE_NGRAMS = (5, 6, 7, 8, 9, 10)


def _ngram_fractions(words: list[str], word_chars: int) -> list[tuple[str, float]]:
    n_words = len(words)
    if n_words < 2:
        return []
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in words), dtype=np.int64, count=n_words)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=n_words)
    cum = np.concatenate(([0], np.cumsum(lengths)))
    n_vocab = max(len(vocab), 1)  # keys gram * V + word are unique because every word id < V
    out: list[tuple[str, float]] = []
    gram_ids = ids  # ids of the (n-1)-grams starting at each position
    for n in range(2, 11):
        positions = n_words - n + 1
        if positions <= 0:
            break
        keys = gram_ids[:positions] * n_vocab + ids[n - 1 :]
        _, first, inverse, counts = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True
        )
        gram_ids = inverse.astype(np.int64).reshape(-1)
        chars = cum[n : n + positions] - cum[:positions]  # characters of the n-gram at each position
        if n in MOST_COMMON_NGRAMS:
            # Counter.most_common(1) breaks ties by first occurrence: the tied n-gram seen first wins
            best = int(counts.max())
            tied = np.flatnonzero(counts == best)
            winner_pos = int(first[tied].min())
            value = best * int(chars[winner_pos]) / max(word_chars, 1)
            out.append((f"fraction_of_characters_in_most_common_{n}grams", value))
        else:
            total = int(chars.sum())
            duplicated = int(chars[counts[inverse] > 1].sum())
            out.append((f"fraction_of_characters_in_duplicate_{n}grams", duplicated / max(total, 1)))
    # dolma lists the most-common fractions before the duplicate ones
    return out


def gopher_statistics(text: str, ignore_empty_lines: bool = False) -> dict[str, float]:
    """All Gopher statistics of ``text`` as ``{attribute: value}`` (see the module docstring)."""
    stats: dict[str, float] = {}
    if not text:
        return {
            "character_count": 0,
            "word_count": 0,
            "median_word_length": 0.0,
            "symbol_to_word_ratio": 0.0,
            "fraction_of_words_with_alpha_character": 0.0,
            "required_word_count": 0,
            "fraction_of_lines_starting_with_bullet_point": 0.0,
            "fraction_of_lines_ending_with_ellipsis": 0.0,
            "fraction_of_duplicate_lines": 0.0,
            "fraction_of_characters_in_duplicate_lines": 0.0,
        }
    words = text.split()
    word_count = len(words)
    word_lengths = list(map(len, words))
    word_chars = sum(word_lengths)
    stats.update(_ngram_fractions(words, word_chars))
    stats["character_count"] = len(text)
    stats["word_count"] = word_count
    stats["median_word_length"] = float(median(word_lengths)) if words else 0.0
    stats["symbol_to_word_ratio"] = sum(1 for w in words if "#" in w or "\u2026" in w) / max(word_count, 1)
    stats["fraction_of_words_with_alpha_character"] = sum(
        1 for w in words if w.isalpha() or any(map(str.isalpha, w))
    ) / max(word_count, 1)
    stats["required_word_count"] = sum(1 for w in words if w in REQUIRED_ENGLISH_WORDS)
    lines = re.split(r"\n+", text) if ignore_empty_lines else text.split("\n")
    n_lines = len(lines)
    bullets = sum(1 for line in lines if line.startswith(("*", "-")))
    ellipsis = sum(1 for line in lines if line.endswith("\u2026"))
    stats["fraction_of_lines_starting_with_bullet_point"] = bullets / max(n_lines, 1)
    stats["fraction_of_lines_ending_with_ellipsis"] = ellipsis / max(n_lines, 1)
    line_counts = Counter(lines)
    stats["fraction_of_duplicate_lines"] = sum(c for c in line_counts.values() if c > 1) / max(n_lines, 1)
    stats["fraction_of_characters_in_duplicate_lines"] = sum(
        len(line) * c for line, c in line_counts.items() if c > 1
    ) / max(word_chars, 1)
    return stats


def _as_attributes(text: str, stats: dict[str, float]) -> Attributes:
    # dolma's spans end at character_count == len(text); scores are floats in its output
    return {name: [[0, len(text), float(value)]] for name, value in stats.items()}


@register_tagger("gopher_v1")
class GopherV1(Tagger):
    """Gopher statistics; lines are ``text.split("\\n")`` (empty lines count)."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        return _as_attributes(doc["text"], gopher_statistics(doc["text"]))


@register_tagger("gopher_v2")
class GopherV2(Tagger):
    """Gopher statistics; lines split on runs of newlines (empty lines ignored)."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        return _as_attributes(doc["text"], gopher_statistics(doc["text"], ignore_empty_lines=True))
