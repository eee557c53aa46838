"""PII counts per document with the curation taggers' :func:`~lmforge.curate.taggers.pii.find_pii`, fast.

``find_pii`` works paragraph by paragraph (a paragraph is a line), and each of its patterns needs a
telltale inside one line: an e-mail contains ``@``; a phone number ends in four consecutive decimal digits
(``\\d{3}[-. ]?\\d{4}``); an IPv4 address contains ``digit . digit`` followed, 1 to 3 characters later, by
another ``. digit``. Most lines of a corpus have none of these, so we hand ``find_pii`` only the lines that
do, joined by newlines. The result is *identical* to calling ``find_pii`` on the whole text (tests compare
both on adversarial and random strings), and several times cheaper, because the regexes (the IPv4 one
above all) no longer scan the other lines.

Telltales are found with numpy on the UTF-8 bytes of a whole batch of documents at once (a UTF-8
multi-byte sequence never contains an ASCII byte, so the byte positions of ``@``, ``.``, ``0-9`` and
newlines are exact). Python's ``\\d`` also matches non-ASCII decimal digits (Arabic-Indic, Devanagari...),
which a byte scan cannot see; a document containing any of those takes the exact, slower line regex.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from lmforge.curate.taggers.pii import MAX_QUESTION_MARKS, find_pii

PII_KINDS = ("email", "phone", "ip")
NO_PII = (0, 0, 0)
_AT, _DOT, _NEWLINE, _ZERO, _NINE = ord("@"), ord("."), ord("\n"), ord("0"), ord("9")
_CANDIDATE_LINE = re.compile(r"^[^\n@\d]*[@\d][^\n]*", re.MULTILINE)  # exact fallback: '@' or a digit
# A non-ASCII decimal digit (what ``\d`` matches beyond 0-9). ``\d`` first: the category test is cheap,
# and the look-behind then only runs at the (rare) digits.
_NON_ASCII_DIGIT = re.compile(r"\d(?<![0-9])")


def _telltale_lines(data: np.ndarray) -> np.ndarray:
    """Sorted distinct line numbers (0-based, counted by newlines) of lines holding a PII telltale."""
    size = len(data)
    digit = (data >= _ZERO) & (data <= _NINE)
    dot = data == _DOT
    marks = data == _AT
    if size >= 4:
        # four consecutive digits: the end of every phone number
        marks[:-3] |= digit[:-3] & digit[1:-2] & digit[2:-1] & digit[3:]
    if size >= 5:
        # "d.d" then ".d" starting 1-3 bytes later: the first two dots of every IPv4 address
        dot_digit = np.zeros(size, dtype=bool)
        dot_digit[:-1] = dot[:-1] & digit[1:]
        chained = np.zeros(size, dtype=bool)
        for gap in (3, 4, 5):
            chained[:-gap] |= dot_digit[gap:]
        marks[:-2] |= digit[:-2] & dot_digit[1:-1] & chained[:-2]
    positions = np.flatnonzero(marks)
    if positions.size == 0:
        return positions
    return np.unique(np.searchsorted(np.flatnonzero(data == _NEWLINE), positions))


def _count_in(lines: list[str]) -> tuple[int, int, int]:
    emails = phones = ips = 0
    for _, _, kind in find_pii("\n".join(lines) + "\n"):
        if kind == "email":
            emails += 1
        elif kind == "phone":
            phones += 1
        else:
            ips += 1
    return (emails, phones, ips)


def _needs_regex_path(text: str) -> bool:
    return not text.isascii() and _NON_ASCII_DIGIT.search(text) is not None


def _regex_path(text: str) -> tuple[int, int, int]:
    candidates = _CANDIDATE_LINE.findall(text)
    return _count_in(candidates) if candidates else NO_PII


def count_pii(text: str, encoded: bytes | None = None) -> tuple[int, int, int]:
    """``(emails, phones, ips)`` exactly as ``find_pii(text)`` would count them."""
    if encoded is None:
        encoded = text.encode("utf-8", "surrogatepass")
    return count_pii_batch([text], [encoded])[0]


def count_pii_batch(texts: Sequence[str], encoded: Sequence[bytes]) -> list[tuple[int, int, int]]:
    """:func:`count_pii` for many documents, with one vectorised telltale scan over all of them."""
    results = [NO_PII] * len(texts)
    if not texts:
        return results
    data = np.frombuffer(b"\n".join(encoded), dtype=np.uint8)
    lines_per_doc = np.array([e.count(b"\n") + 1 for e in encoded], dtype=np.int64)
    first_line = np.concatenate([[0], np.cumsum(lines_per_doc)])
    lines = _telltale_lines(data)
    docs = np.searchsorted(first_line, lines, side="right") - 1
    bounds = np.searchsorted(docs, np.arange(len(texts) + 1))
    # documents with non-ASCII digits (rare) take the exact regex path whatever the byte scan found
    regex_docs = {i for i, text in enumerate(texts) if _needs_regex_path(text)}
    for i in np.unique(docs).tolist():
        text = texts[i]
        if i in regex_docs or text.count("?") > MAX_QUESTION_MARKS:
            continue
        split = text.split("\n")
        results[i] = _count_in(
            [split[j] for j in (lines[bounds[i] : bounds[i + 1]] - first_line[i]).tolist()]
        )
    for i in regex_docs:
        if texts[i].count("?") <= MAX_QUESTION_MARKS:
            results[i] = _regex_path(texts[i])
    return results
