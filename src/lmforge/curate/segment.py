"""Text segmentation shared by taggers, dedup and decontamination: paragraphs and words with offsets.

Offsets are Python ``str`` indices (Unicode code points), which is what Dolma attribute spans use.
"""

from __future__ import annotations

import re

# A paragraph is one line *including* its newline (dolma's definition, so span offsets line up with
# dolma-produced attribute files); blank lines are dropped.
_PARAGRAPH = re.compile(r"[^\n]*\n|[^\n]+$")
_NON_SPACE = re.compile(r"\S+")


def split_paragraphs(text: str, keep_empty: bool = False) -> list[tuple[int, int]]:
    """``(start, end)`` of each line (newline included); whitespace-only lines dropped unless asked."""
    spans = [m.span() for m in _PARAGRAPH.finditer(text)]
    if keep_empty:
        return spans
    return [(s, e) for s, e in spans if not text[s:e].isspace()]


def split_words(text: str) -> list[str]:
    """Whitespace-separated words (``str.split()`` semantics)."""
    return text.split()


def word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _NON_SPACE.finditer(text)]
