"""Length taggers: characters, bytes, words and paragraphs (dolma-compatible names where dolma has one)."""

from __future__ import annotations

from typing import Any

import regex

from lmforge.curate.segment import split_paragraphs
from lmforge.curate.taggers.registry import Attributes, Tagger, doc_span, register_tagger

# dolma's "whitespace tokenizer": runs of word characters or of punctuation (Unicode-aware `regex` \w)
_TOKEN = regex.compile(r"\w+|[^\w\s]+")


@register_tagger("char_length_v1")
class CharLength(Tagger):
    """``length``: characters (code points) in the text."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        return {"length": doc_span(text, float(len(text)))}


@register_tagger("bytes_length_v1")
class BytesLength(Tagger):
    """``bytes``: UTF-8 bytes of the text."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        return {"bytes": doc_span(text, float(len(text.encode("utf-8", "surrogatepass"))))}


@register_tagger("char_length_with_paragraphs_v1")
class CharLengthWithParagraphs(Tagger):
    """``paragraph``: characters per non-blank line; ``document``: characters in the text."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        return {
            "paragraph": [[s, e, float(e - s)] for s, e in split_paragraphs(text)],
            "document": doc_span(text, float(len(text))),
        }


@register_tagger("whitespace_tokenizer_with_paragraphs_v1")
class WhitespaceTokensWithParagraphs(Tagger):
    """``paragraph`` / ``document``: dolma's whitespace-tokenizer length, which is the number of pieces
    *between* word/punctuation tokens, i.e. tokens + 1 per paragraph (a dolma quirk kept for
    compatibility); the document value is the sum over paragraphs. Use ``word_length_v1`` for counts."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        paragraphs = [[s, e, float(len(_TOKEN.split(text[s:e])))] for s, e in split_paragraphs(text)]
        return {"paragraph": paragraphs, "document": doc_span(text, float(sum(p[2] for p in paragraphs)))}


@register_tagger("word_length_v1")
class WordLength(Tagger):
    """``words``: whitespace-separated words; ``paragraphs``: non-blank lines; ``paragraph_words``: words
    per non-blank line (span per line)."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        paragraphs = split_paragraphs(text)
        return {
            "words": doc_span(text, float(len(text.split()))),
            "paragraphs": doc_span(text, float(len(paragraphs))),
            "paragraph_words": [[s, e, float(len(text[s:e].split()))] for s, e in paragraphs],
        }
