"""Language identification with CLD2 (pycld2 ships its model: no download), per document and paragraph.

CLD2 rejects some valid Python strings (lone surrogates, C0/C1 control characters); we retry on a copy
without them, so a stray ``\\x00`` never costs a document its language. Offsets of paragraph scores refer
to the original text.
"""

from __future__ import annotations

import re
from typing import Any

from lmforge.curate.segment import split_paragraphs
from lmforge.curate.taggers.registry import Attributes, Tagger, register_tagger

UNKNOWN = "un"
# C0/C1 controls except tab/newline/carriage return, lone surrogates, and non-characters CLD2 refuses
_CLD2_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]+")


def _cld2_detect(text: str) -> tuple[bool, tuple[tuple[str, str, int, float], ...]]:
    import pycld2  # optional extra: lmforge[curate]

    try:
        reliable, _, details = pycld2.detect(text)
    except (pycld2.error, UnicodeEncodeError, ValueError):
        try:
            reliable, _, details = pycld2.detect(_CLD2_UNSAFE.sub(" ", text))
        except (pycld2.error, UnicodeEncodeError, ValueError):
            return False, ()
    return reliable, details


def language_scores(text: str) -> list[tuple[str, float]]:
    """Up to three ``(ISO 639-1 code, share of text in [0, 1])`` CLD2 found; empty if unreliable."""
    reliable, details = _cld2_detect(text)
    if not reliable:
        return []
    return [(code, percent / 100.0) for _, code, percent, _ in details if code != UNKNOWN and percent > 0]


def detect_language(text: str) -> tuple[str, float]:
    """The main language of ``text`` and CLD2's confidence: ``("en", 0.98)``; ``("un", 0.0)`` if unknown.

    The confidence is the share of the text CLD2 attributes to that language, or 0 when CLD2 says its
    guess is unreliable (too short, mixed); the code is CLD2's (ISO 639-1, a few like ``zh-Hant``).
    """
    scores = language_scores(text)
    return scores[0] if scores else (UNKNOWN, 0.0)


def paragraph_languages(text: str) -> list[tuple[int, int, str, float]]:
    """``(start, end, code, confidence)`` per non-blank paragraph (line, newline included)."""
    out = []
    for start, end in split_paragraphs(text):
        code, score = detect_language(text[start:end])
        out.append((start, end, code, score))
    return out


@register_tagger("cld2_doc_v1")
class Cld2Document(Tagger):
    """``<code>``: share of the document in each language CLD2 reliably finds (up to three)."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        return {code: [[0, len(text), score]] for code, score in language_scores(text)}


@register_tagger("cld2_paragraph_v1")
class Cld2Paragraph(Tagger):
    """``<code>`` spans per paragraph (top language, if reliable) and ``doc_<code>``: the character-weighted
    share of the document per language (the document-level view of the paragraph scores)."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        attrs: Attributes = {}
        weighted: dict[str, float] = {}
        for start, end, code, score in paragraph_languages(text):
            if code == UNKNOWN:
                continue
            attrs.setdefault(code, []).append([start, end, score])
            weighted[code] = weighted.get(code, 0.0) + (end - start) * score
        for code, total in sorted(weighted.items()):
            attrs[f"doc_{code}"] = [[0, len(text), total / len(text)]]
        return attrs


@register_tagger("cld2_en_paragraph_with_doc_score_v2")
class Cld2EnglishParagraphWithDocScore(Tagger):
    """Dolma's tagger of the same name: per paragraph ``en`` (English share, 0 if not English or
    unreliable) and ``not_en`` (1 - en), then ``doc_en`` = character-weighted mean of ``en`` and
    ``doc_not_en`` = 1 - doc_en (both 0 for an empty text)."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        en: list[list[Any]] = []
        for start, end in split_paragraphs(text):
            share = dict(language_scores(text[start:end])).get("en", 0.0)
            en.append([start, end, share])
        attrs: Attributes = {"en": en, "not_en": [[s, e, 1.0 - v] for s, e, v in en]}
        if text:
            doc_en = sum((e - s) * v for s, e, v in en) / len(text)
            attrs["doc_en"] = [[0, len(text), doc_en]]
            attrs["doc_not_en"] = [[0, len(text), 1.0 - doc_en]]
        else:
            attrs["doc_en"] = [[0, 0, 0.0]]
            attrs["doc_not_en"] = [[0, 0, 0.0]]
        return attrs
