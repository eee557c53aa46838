"""Repetition statistics: how much of a document repeats itself (lines, paragraphs, words, characters)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from lmforge.curate.segment import split_paragraphs
from lmforge.curate.taggers.registry import Attributes, Tagger, doc_span, register_tagger

_CHAR_RUN = re.compile(r"(.)\1{9,}", re.DOTALL)  # a character repeated 10 times or more


@register_tagger("repetition_v1")
class Repetition(Tagger):
    """Repetition statistics: repeated lines, word diversity and character runs.

    Document-level values:

    - ``duplicate_paragraph_fraction``: share of non-blank lines whose stripped text occurs earlier;
    - ``duplicate_paragraph_char_fraction``: share of characters in such repeated lines;
    - ``top_word_fraction``: share of words that are the most frequent word;
    - ``unique_word_ratio``: distinct words / words (1 when there are no words);
    - ``longest_char_run``: longest run of one repeated character (0 when under 10);
    - ``repeated_paragraph``: spans of the repeated (not first) copies of lines, score 1.
    """

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        seen: set[str] = set()
        repeated: list[list[Any]] = []
        paragraphs = split_paragraphs(text)
        for s, e in paragraphs:
            key = text[s:e].strip()
            if key in seen:
                repeated.append([s, e, 1.0])
            else:
                seen.add(key)
        words = text.split()
        counts = Counter(words)
        runs = [m.end() - m.start() for m in _CHAR_RUN.finditer(text)]
        total_chars = sum(e - s for s, e in paragraphs)
        return {
            "duplicate_paragraph_fraction": doc_span(text, len(repeated) / max(len(paragraphs), 1)),
            "duplicate_paragraph_char_fraction": doc_span(
                text, sum(e - s for s, e, _ in repeated) / max(total_chars, 1)
            ),
            "top_word_fraction": doc_span(text, counts.most_common(1)[0][1] / len(words) if words else 0.0),
            "unique_word_ratio": doc_span(text, len(counts) / len(words) if words else 1.0),
            "longest_char_run": doc_span(text, float(max(runs, default=0))),
            "repeated_paragraph": repeated,
        }
