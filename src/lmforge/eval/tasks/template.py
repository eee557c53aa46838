"""A small, safe template language for task prompts: ``{field.path|filter|filter}``.

Templates are data from YAML files, so they are parsed, never evaluated. A placeholder is a dotted field path
(``question``, ``choices.text``, ``choices.text[0]``) followed by optional filters. ``{{`` and ``}}`` are
literal braces. A template that is a single placeholder returns the value itself (a list of choices, an
integer label), not its string form.

Filters: strip, lstrip, rstrip, lower, upper, capitalize, int, str, spaces (``_`` -> space).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")
_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")

FILTERS: dict[str, Callable[[Any], Any]] = {
    "strip": lambda v: str(v).strip(),
    "lstrip": lambda v: str(v).lstrip(),
    "rstrip": lambda v: str(v).rstrip(),
    "lower": lambda v: str(v).lower(),
    "upper": lambda v: str(v).upper(),
    "capitalize": lambda v: str(v).capitalize(),
    "int": lambda v: int(v),
    "str": lambda v: str(v),
    "spaces": lambda v: str(v).replace("_", " "),
}


class TemplateError(ValueError):
    """A template that cannot be rendered against an example; ``location`` is the example's ``path:line``
    when it was read from a file."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.reason = message
        self.location = location


def resolve_path(doc: Any, path: str) -> Any:
    """``choices.text[0]`` -> doc["choices"]["text"][0]; a clear error names the missing part."""
    value = doc
    for segment in path.strip().split("."):
        for match in _PATH_PART.finditer(segment):
            name, index = match.groups()
            try:
                value = value[name] if name is not None else value[int(index)]
            except (KeyError, IndexError, TypeError):
                raise TemplateError(f"field {path!r}: no {name or index!r} in {str(value)[:80]!r}") from None
        if not segment:
            raise TemplateError(f"bad field path {path!r}")
    return value


def _evaluate(expr: str, doc: Any) -> Any:
    path, *filters = [p.strip() for p in expr.split("|")]
    value = resolve_path(doc, path)
    for name in filters:
        if name not in FILTERS:
            raise TemplateError(f"unknown filter {name!r} in {{{expr}}}; known: {sorted(FILTERS)}")
        value = FILTERS[name](value)
    return value


def render(template: Any, doc: Any) -> Any:
    """Render ``template`` against ``doc``. Non-string templates (ints, lists of templates) pass through."""
    if isinstance(template, list):
        return [render(t, doc) for t in template]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole and whole.group(1) is not None:
        return _evaluate(whole.group(1), doc)

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "{{":
            return "{"
        if match.group(0) == "}}":
            return "}"
        return str(_evaluate(match.group(1), doc))

    return _PLACEHOLDER.sub(substitute, template)
