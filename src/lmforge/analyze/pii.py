"""PII counts per document with the curation taggers' :func:`~lmforge.curate.taggers.pii.find_pii`, fast.

``find_pii`` works paragraph by paragraph (a paragraph is a line), and each of its patterns needs a
telltale: an e-mail contains ``@``, a phone number three consecutive decimal digits, an IPv4 address a
``digit . digit`` sequence. Most lines of a corpus have none of these, so we hand ``find_pii`` only the
lines that do, joined by newlines. The result is *identical* to calling ``find_pii`` on the whole text
(tests compare both on the benchmark corpus and on adversarial strings), and about 3x cheaper, because the
regexes (the IPv4 one above all) no longer scan the other lines.

The telltales are found on the UTF-8 bytes with numpy (a UTF-8 multi-byte sequence never contains an
ASCII byte, so byte positions of ``@``, ``.`` and ``0-9`` are exact). Python's ``\\d`` also matches
non-ASCII decimal digits (Arabic-Indic, Devanagari...), which a byte scan cannot see; a document that
contains any of those takes the exact, slower line regex instead.
"""

from __future__ import annotations

import re

import numpy as np

from lmforge.curate.taggers.pii import MAX_QUESTION_MARKS, find_pii

PII_KINDS = ("email", "phone", "ip")
_AT, _DOT, _NEWLINE, _ZERO, _NINE = ord("@"), ord("."), ord("\n"), ord("0"), ord("9")
_CANDIDATE_LINE = re.compile(r"^[^\n@\d]*[@\d][^\n]*", re.MULTILINE)  # exact fallback: '@' or a digit


# A non-ASCII decimal digit (what ``\d`` matches beyond 0-9). ``\d`` first: the category test is cheap,
# and the look-behind then only runs at the (rare) digits.
_NON_ASCII_DIGIT = re.compile(r"\d(?<![0-9])")


def _candidate_line_numbers(encoded: bytes) -> np.ndarray:
    data = np.frombuffer(encoded, dtype=np.uint8)
    digit = (data >= _ZERO) & (data <= _NINE)
    marks = data == _AT
    if len(data) >= 3:
        run3 = digit[:-2] & digit[1:-1] & digit[2:]
        dotted = digit[:-2] & (data[1:-1] == _DOT) & digit[2:]
        marks[:-2] |= run3 | dotted
    positions = np.flatnonzero(marks)
    if positions.size == 0:
        return positions
    newlines = np.flatnonzero(data == _NEWLINE)
    return np.unique(np.searchsorted(newlines, positions))


def count_pii(text: str, encoded: bytes | None = None) -> tuple[int, int, int]:
    """``(emails, phones, ips)`` exactly as ``find_pii(text)`` would count them."""
    if not text or text.count("?") > MAX_QUESTION_MARKS:
        return (0, 0, 0)
    if text.isascii() or _NON_ASCII_DIGIT.search(text) is None:
        if encoded is None:
            encoded = text.encode("utf-8", "surrogatepass")
        numbers = _candidate_line_numbers(encoded)
        if numbers.size == 0:
            return (0, 0, 0)
        lines = text.split("\n")
        candidates = [lines[i] for i in numbers.tolist()]
    else:
        candidates = _CANDIDATE_LINE.findall(text)
        if not candidates:
            return (0, 0, 0)
    emails = phones = ips = 0
    for _, _, kind in find_pii("\n".join(candidates) + "\n"):
        if kind == "email":
            emails += 1
        elif kind == "phone":
            phones += 1
        else:
            ips += 1
    return (emails, phones, ips)
