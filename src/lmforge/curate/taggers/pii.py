"""PII regexes (e-mail, phone number, IPv4 address) as character spans, and the PII taggers.

The patterns follow the ones Dolma's ``pii_regex`` taggers use, so masks line up with dolma-tagged corpora.
:func:`find_pii` has two span conventions:

* ``dolma_spans=False`` (default, for analysis and counting): the span is the PII itself, e-mails at the
  very end of a text are found, and digits glued to a phone number or IP (``1234.5.6.78``) are not matches.
* ``dolma_spans=True`` (what the ``pii_regex_*`` taggers write): exactly dolma's regex match spans, which
  include the surrounding whitespace/punctuation the patterns consume. The mixer replaces such a span with
  `` |||EMAIL_ADDRESS||| `` (note the spaces), which is why dolma's spans swallow the separators.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from lmforge.curate.segment import split_paragraphs
from lmforge.curate.taggers.registry import Attributes, Tagger, register_tagger

PiiKind = Literal["email", "phone", "ip"]
# Names the mixer's replacement tokens use (`` |||EMAIL_ADDRESS||| ``) and dolma's span types.
DOLMA_TYPE: dict[str, str] = {"email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER", "ip": "IP_ADDRESS"}

_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"

# dolma-compatible patterns
_EMAIL_DOLMA = re.compile(r"[.\s@,?!;:)(]*([^\s@]+@[^\s@,?!;:)(]+?)[.\s@,?!;:)(]?[\s\n\r]")
_PHONE_DOLMA = re.compile(r"\s+\(?(\d{3})\)?[-\. ]*(\d{3})[-. ]?(\d{4})")
_IP_DOLMA = re.compile(rf"(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}")

# tight patterns: start only at a token boundary (linear time on long tokens), allow end of text, refuse
# digits glued on either side
_EMAIL_TIGHT = re.compile(
    r"(?<![^\s@.,?!;:)(])([^\s@.,?!;:)(][^\s@]*@[^\s@,?!;:)(]+?)(?=[.,?!;:)(]?(?:\s|$))"
)
_PHONE_TIGHT = re.compile(r"(?<=\s)\(?\d{3}\)?[-. ]*\d{3}[-. ]?\d{4}(?!\d)")
_IP_TIGHT = re.compile(rf"(?<![\d.])(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}(?![\d]|\.\d)")

_URL = re.compile(
    r"(?i)\b((?:https?://|www\d{0,3}[.]|[a-z0-9.\-]+[.][a-z]{2,4}/)(?:[^\s()<>]+|\(([^\s()<>]+|"
    r"(\([^\s()<>]+\)))*\))+(?:\(([^\s()<>]+|(\([^\s()<>]+\)))*\)|[^\s`!()\[\]{};:'\".,<>?«»“”‘’]))"
)
# A cheap prefilter: the phone patterns need a decimal digit, and a compiled search beats a Python loop.
_DIGIT = re.compile(r"\d")
# dolma skips PII detection for texts with more than this many '?' (pathological regex backtracking)
MAX_QUESTION_MARKS = 10_000


def _valid_email(address: str) -> bool:
    # dolma's post-filter: the local part cannot be just "(" and the domain needs a dot
    local, _, domain = address.partition("@")
    return local.strip() != "(" and "." in domain


def _find_in_paragraph(
    text: str, start: int, end: int, dolma_spans: bool, out: list[tuple[int, int, str]]
) -> None:
    para = text[start:end]
    if "@" in para:
        for m in (_EMAIL_DOLMA if dolma_spans else _EMAIL_TIGHT).finditer(para):
            if _valid_email(m.group(1)):
                s, e = m.span() if dolma_spans else m.span(1)
                out.append((start + s, start + e, "email"))
    if _DIGIT.search(para):
        for m in (_PHONE_DOLMA if dolma_spans else _PHONE_TIGHT).finditer(para):
            out.append((start + m.start(), start + m.end(), "phone"))
    if "." in para:
        for m in (_IP_DOLMA if dolma_spans else _IP_TIGHT).finditer(para):
            if _URL.search(m.group(0)) is None:
                out.append((start + m.start(), start + m.end(), "ip"))


def find_pii(text: str, *, dolma_spans: bool = False) -> list[tuple[int, int, str]]:
    """PII in ``text`` as ``(start, end, kind)`` character spans, kind in ``{"email", "phone", "ip"}``.

    Searched paragraph by paragraph (lines), like dolma; sorted by ``(start, end)``. Never raises on odd
    input (control characters, lone surrogates): it is all plain ``str`` matching.
    """
    if not text or text.count("?") > MAX_QUESTION_MARKS:
        return []
    out: list[tuple[int, int, str]] = []
    for start, end in split_paragraphs(text):
        _find_in_paragraph(text, start, end, dolma_spans, out)
    out.sort()
    return out


def count_pii(text: str) -> dict[str, int]:
    counts = {"email": 0, "phone": 0, "ip": 0}
    for _, _, kind in find_pii(text):
        counts[kind] += 1
    return counts


def _typed_spans(text: str, spans: list[tuple[int, int, str]]) -> Attributes:
    attrs: Attributes = {}
    for s, e, kind in spans:
        attrs.setdefault(DOLMA_TYPE[kind], []).append([s, e, 1.0])
    return attrs


@register_tagger("pii_regex_v1")
class PiiRegexV1(Tagger):
    """PII spans (dolma span convention) and ``doc``: PII spans per whitespace word."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        spans = find_pii(text, dolma_spans=True)
        attrs = _typed_spans(text, spans)
        words = len(text.split())
        attrs["doc"] = [[0, len(text), len(spans) / words if words else -1.0]]
        return attrs


@register_tagger("pii_regex_with_counts_fast_v2")
class PiiRegexWithCounts(Tagger):
    """PII spans (dolma span convention), ``doc_count`` (number of spans) and ``doc_frac``, the attributes
    dolma's tagger of this name writes. Dolma computes ``doc_frac`` after appending the whole-document
    ``doc_count`` span to the list it sums, so its value is ``1 + fraction of characters in PII spans``;
    we reproduce that (so thresholds written for dolma keep their meaning) and document it. -1 when empty."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        spans = find_pii(text, dolma_spans=True)
        attrs = _typed_spans(text, spans)
        covered = sum(e - s for s, e, _ in spans)
        attrs["doc_count"] = [[0, len(text), float(len(spans))]]
        attrs["doc_frac"] = [[0, len(text), (covered + len(text)) / len(text) if text else -1.0]]
        return attrs


@register_tagger("pii_tight_v1")
class PiiTight(Tagger):
    """PII spans covering only the PII itself (lmforge convention), plus per-kind document counts."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        spans = find_pii(text)
        attrs = _typed_spans(text, spans)
        for kind, name in DOLMA_TYPE.items():
            attrs[f"{name}_count"] = [[0, len(text), float(sum(1 for *_, k in spans if k == kind))]]
        return attrs
