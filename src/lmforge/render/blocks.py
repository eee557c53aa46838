"""The blocks a report is made of, how their values are shown, and which table columns hold numbers."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any


@dataclasses.dataclass
class Heading:
    text: str
    level: int = 2
    anchor: str = ""  # an id to link to; headings with one are listed by Contents


@dataclasses.dataclass
class Paragraph:
    text: str  # may use the inline marks ``code``, **bold**, *italic*
    css_class: str = ""  # HTML only, e.g. "sub" (a subtitle) or "foot" (a footer)


@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]  # numbers, None (shown as "-") or text; shown through fmt
    caption: str = ""


@dataclasses.dataclass
class Code:
    text: str
    language: str = ""


@dataclasses.dataclass
class Image:
    path: str  # absolute, or relative to the folder the report is written to
    alt: str


@dataclasses.dataclass
class Cards:
    """Key figures, shown as a grid of cards in HTML and one line of **label**: value in Markdown."""

    items: list[tuple[str, str]]


@dataclasses.dataclass
class Contents:
    """A bar of links to the anchored headings (HTML only: Markdown viewers make their own outline)."""


Block = Heading | Paragraph | Table | Code | Image | Cards | Contents


def fmt(value: Any) -> str:
    """Numbers as people read them: 3 significant decimals for floats, thousands separators for ints."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1000:
            return f"{int(value):,}"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4g}" if abs(value) < 10 else f"{value:,.2f}"
    return str(value)


# text a caller already formatted as a number: "1,234", "12.5%", "0.00 MB", "–" / "-" (none), "3 (2 docs)"
_NUMBER_TEXT = re.compile(r"[-–\d.,%×]+( MB)?|[\d,]+ \(.*\)")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _looks_numeric(value: Any) -> bool:
    if value is None or is_number(value):
        return True
    return not isinstance(value, bool) and bool(_NUMBER_TEXT.fullmatch(str(value).strip()))


def numeric_columns(table: Table) -> set[int]:
    """Columns to right-align: every cell a number. The first column labels the rows and never counts."""
    return {
        column
        for column in range(1, len(table.headers))
        if all(_looks_numeric(row[column]) for row in table.rows if column < len(row))
    }


def image_source(image: Image, image_dir: str | None) -> str:
    """The path a report in ``image_dir`` uses for the image (relative when a folder is given)."""
    return os.path.relpath(image.path, image_dir) if image_dir else image.path
