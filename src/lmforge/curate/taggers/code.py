"""Code heuristics (as in The Stack / StarCoder filtering): line lengths and alphanumeric fraction."""

from __future__ import annotations

from typing import Any

from lmforge.curate.taggers.registry import Attributes, Tagger, doc_span, register_tagger


@register_tagger("code_v1")
class CodeHeuristics(Tagger):
    """Document-level values: ``max_line_length``, ``mean_line_length`` (characters, newline excluded,
    over ``text.split("\\n")``), ``alphanumeric_fraction`` (alphanumeric characters / characters),
    ``alpha_fraction``, ``whitespace_fraction`` (all 0 for an empty text) and ``line_count``."""

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        lines = text.split("\n")
        lengths = [len(line) for line in lines]
        n = len(text)
        alnum = sum(1 for c in text if c.isalnum())
        alpha = sum(1 for c in text if c.isalpha())
        space = sum(1 for c in text if c.isspace())
        return {
            "max_line_length": doc_span(text, float(max(lengths))),
            "mean_line_length": doc_span(text, sum(lengths) / len(lines)),
            "alphanumeric_fraction": doc_span(text, alnum / n if n else 0.0),
            "alpha_fraction": doc_span(text, alpha / n if n else 0.0),
            "whitespace_fraction": doc_span(text, space / n if n else 0.0),
            "line_count": doc_span(text, float(len(lines))),
        }
