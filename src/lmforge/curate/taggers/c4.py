"""C4 rules (Raffel et al. 2020) as attributes, with the names and definitions of dolma's ``c4_v1`` and
``c4_v2`` taggers: line spans ``lines_with_no_ending_punctuation`` and ``lines_with_too_few_words`` (fewer
than 3 words), document flags ``has_naughty_word``, ``has_javascript``, ``has_lorem_ipsum``,
``has_curly_brace`` (present with score 1.0 only when true) and ``line_count``.

Lines are ``text.split("\\n")``; a line span includes its newline. The bad-words list is
``lmforge/curate/data/bad_words_en.txt`` unless the ``bad_words_file`` option names another (one word or
phrase a line; ``#`` comments); entries with a space are matched as substrings, the others as words.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from lmforge.curate.taggers.registry import Attributes, Tagger, register_tagger
from lmforge.io import InputError, open_file

MIN_WORDS_PER_LINE = 3
END_PUNCTUATION = (".", "?", "!", '"')


@functools.lru_cache(maxsize=8)
def load_bad_words(path: str | None = None) -> tuple[frozenset[str], tuple[str, ...]]:
    """``(single words, phrases)`` of a bad-words list file (the shipped one when ``path`` is None)."""
    if path is None:
        raw = resources.files("lmforge.curate").joinpath("data/bad_words_en.txt").read_text("utf-8")
    else:
        with open_file(path, "rb") as f:
            data = f.read()
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(path, None, f"invalid UTF-8 at byte {err.start}") from None
    entries = [line.strip() for line in raw.splitlines()]
    entries = [e for e in entries if e and not e.startswith("#")]
    return frozenset(e for e in entries if " " not in e), tuple(sorted({e for e in entries if " " in e}))


class _C4Base(Tagger):
    def __init__(self, bad_words_file: str | None = None) -> None:
        self.bad_words, self.bad_phrases = load_bad_words(bad_words_file)

    def _has_bad_words(self, words: list[str], text: str) -> bool:
        bad = self.bad_words
        return any(w in bad for w in words) or any(p in text for p in self.bad_phrases)


@register_tagger("c4_v2")
class C4V2(_C4Base):
    """The fast variant: document flags tested on the whole lower-cased text (``javascript`` as a
    substring), line rules on each stripped line."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        original = doc["text"]
        text = original.lower()
        n = len(original)
        attrs: Attributes = {}
        if "{" in text:
            attrs["has_curly_brace"] = [[0, n, 1.0]]
        if "lorem ipsum" in text:
            attrs["has_lorem_ipsum"] = [[0, n, 1.0]]
        if "javascript" in text:
            attrs["has_javascript"] = [[0, n, 1.0]]
        if self._has_bad_words(text.split(), text):
            attrs["has_naughty_word"] = [[0, n, 1.0]]
        no_punct: list[list[Any]] = []
        few_words: list[list[Any]] = []
        start = count = 0
        # Offsets come from the original text: dolma takes them from the lower-cased copy, which drifts
        # after characters whose lower case is longer ("İ" -> "i̇"). Deliberate difference, see docs.
        for line in original.split("\n"):
            end = start + len(line)
            if end != n:  # the newline belongs to the line
                end += 1
            stripped = line.lower().strip()
            if not stripped.endswith(END_PUNCTUATION):
                no_punct.append([start, end, 1.0])
            if len(stripped.split()) < MIN_WORDS_PER_LINE:
                few_words.append([start, end, 1.0])
            count += 1
            start = end
        if no_punct:
            attrs["lines_with_no_ending_punctuation"] = no_punct
        if few_words:
            attrs["lines_with_too_few_words"] = few_words
        attrs["line_count"] = [[0, n, float(count)]]
        return attrs


@register_tagger("c4_v1")
class C4V1(_C4Base):
    """The original variant: every rule tested line by line (``javascript`` as a whole word)."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        lines = text.split("\n")
        no_punct: list[list[Any]] = []
        few_words: list[list[Any]] = []
        flags = {"has_naughty_word": False, "has_javascript": False, "has_lorem_ipsum": False}
        flags["has_curly_brace"] = False
        offset = 0
        for i, original_line in enumerate(lines):
            end = offset + len(original_line) + (1 if i < len(lines) - 1 else 0)
            line = original_line.lower().strip()
            if not line.endswith(END_PUNCTUATION):
                no_punct.append([offset, end, 1.0])
            words = line.split()
            if len(words) < MIN_WORDS_PER_LINE:
                few_words.append([offset, end, 1.0])
            if not flags["has_naughty_word"] and self._has_bad_words(words, line):
                flags["has_naughty_word"] = True
            if "javascript" in words:
                flags["has_javascript"] = True
            if "lorem ipsum" in line:
                flags["has_lorem_ipsum"] = True
            if "{" in line:
                flags["has_curly_brace"] = True
            offset = end
        attrs: Attributes = {}
        if no_punct:
            attrs["lines_with_no_ending_punctuation"] = no_punct
        if few_words:
            attrs["lines_with_too_few_words"] = few_words
        for name, value in flags.items():
            if value:
                attrs[name] = [[0, len(text), 1.0]]
        attrs["line_count"] = [[0, len(text), float(len(lines))]]
        return attrs
