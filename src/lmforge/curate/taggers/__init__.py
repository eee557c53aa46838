"""Taggers: one module per family; see :mod:`lmforge.curate.taggers.registry` and docs/taggers.md."""

from lmforge.curate.taggers.registry import (
    Attributes,
    Span,
    Tagger,
    get_tagger_class,
    make_tagger,
    register_tagger,
    tagger_names,
)

__all__ = [
    "Attributes",
    "Span",
    "Tagger",
    "get_tagger_class",
    "make_tagger",
    "register_tagger",
    "tagger_names",
]
