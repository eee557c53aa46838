"""The tagger interface and registry: ``@register_tagger("name")`` makes a tagger usable by name.

A tagger maps one document to attributes: ``{attribute_name: [[start, end, score], ...]}`` with character
offsets; document-level values are one span ``[0, len(text), value]``. The tag step prefixes each
attribute with ``<experiment>__<tagger>__`` when it writes Dolma attribute files.

Users register their own taggers from any module they import before running (``--import MODULE`` on the
command line or ``imports:`` in the YAML config)::

    from lmforge.curate.taggers import Tagger, register_tagger

    @register_tagger("shouting_v1")
    class Shouting(Tagger):
        def tag(self, doc):
            text = doc["text"]
            upper = sum(c.isupper() for c in text)
            return {"upper_fraction": [[0, len(text), upper / max(len(text), 1)]]}
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

Span = list[Any]  # [start: int, end: int, score: float | int | str]
Attributes = dict[str, list[Span]]

_REGISTRY: dict[str, type[Tagger]] = {}
# Built-in tagger modules register themselves on import; importing them lazily keeps `lmforge curate mix`
# from paying for pycld2 or fasttext when no tagger runs.
_BUILTIN_MODULES = (
    "lengths",
    "gopher",
    "c4",
    "pii",
    "repetition",
    "code",
    "language",
    "fasttext",
)
_builtins_loaded = False


class Tagger:
    """Base class: implement :meth:`tag`. Options from the config arrive as keyword arguments."""

    name: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"tagger {self.name!r} takes no options, got {sorted(options)}")

    def tag(self, doc: dict[str, Any]) -> Attributes:
        raise NotImplementedError


T = TypeVar("T", bound=type[Tagger])


def register_tagger(name: str, *, replace: bool = False) -> Callable[[T], T]:
    """Class decorator adding a :class:`Tagger` subclass to the registry under ``name``."""
    if "__" in name or not name:
        raise ValueError(f"tagger name {name!r} must be non-empty and must not contain '__'")

    def decorate(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, Tagger)):
            raise TypeError(f"@register_tagger({name!r}) needs a Tagger subclass, got {cls!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls and not replace:
            raise ValueError(f"tagger {name!r} is already registered ({_REGISTRY[name].__qualname__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"lmforge.curate.taggers.{module}")
    _builtins_loaded = True


def tagger_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_tagger_class(name: str) -> type[Tagger]:
    _load_builtins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown tagger {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def make_tagger(name: str, **options: Any) -> Tagger:
    cls = get_tagger_class(name)
    unknown = _unknown_options(cls, options)
    if unknown:  # said in the user's terms, not as "__init__() got an unexpected keyword argument"
        raise TypeError(f"tagger {name!r} has no option {unknown[0]!r}; options: {_option_names(cls)}")
    return cls(**options)


def _option_names(cls: type[Tagger]) -> list[str]:
    import inspect

    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind in kinds]


def _unknown_options(cls: type[Tagger], options: dict[str, Any]) -> list[str]:
    import inspect

    if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
        return []  # the tagger checks its own options (the base class: "takes no options")
    return sorted(set(options) - set(_option_names(cls)))


def doc_span(text: str, value: Any) -> list[Span]:
    """A document-level attribute value as dolma writes it: one span covering the whole text."""
    return [[0, len(text), value]]
