"""Blocks as one HTML page: CSS inline, images embedded as data URIs or linked by relative path."""

from __future__ import annotations

import base64
import html
import mimetypes
from typing import Any

from lmforge.render.blocks import (
    Block,
    Cards,
    Code,
    Contents,
    Heading,
    Image,
    Paragraph,
    Table,
    fmt,
    image_source,
    is_number,
    numeric_columns,
)
from lmforge.render.styles import REPORT_CSS


def _inline(text: Any) -> str:
    """Escape, then render the inline marks Markdown shows too: ``code``, **bold** and *italic*."""
    parts = html.escape(str(text)).split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
            continue
        while part.count("**") >= 2:
            part = part.replace("**", "<b>", 1).replace("**", "</b>", 1)
        while part.count("*") >= 2:
            part = part.replace("*", "<i>", 1).replace("*", "</i>", 1)
        out.append(part)
    return "".join(out)


def _table(table: Table) -> str:
    numeric = numeric_columns(table)

    def cell(tag: str, column: int, value: Any) -> str:
        # a number is right-aligned even in a column of mixed values (a "value" column of a key/value table)
        right = column in numeric or (column > 0 and tag == "td" and is_number(value))
        css = ' class="num"' if right else ""
        return f"<{tag}{css}>{_inline(fmt(value))}</{tag}>"

    caption = f"<caption>{_inline(table.caption)}</caption>" if table.caption else ""
    head = "".join(cell("th", i, h) for i, h in enumerate(table.headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in table.rows
    )
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(image: Image, image_dir: str | None, embed: bool) -> str:
    if embed:
        kind = mimetypes.guess_type(image.path)[0] or "image/png"
        with open(image.path, "rb") as handle:
            src = f"data:{kind};base64," + base64.b64encode(handle.read()).decode("ascii")
    else:
        src = html.escape(image_source(image, image_dir))
    return f'<img alt="{html.escape(image.alt)}" src="{src}">'


def _cards(cards: Cards) -> str:
    items = "".join(
        f'<div class="card"><div class="l">{html.escape(label)}</div>'
        f'<div class="v" title="{html.escape(str(value))}">{html.escape(str(value))}</div></div>'
        for label, value in cards.items
    )
    return f'<div class="cards">{items}</div>'


def _contents(blocks: list[Block]) -> str:
    links = "".join(
        f'<a href="#{html.escape(b.anchor)}">{html.escape(b.text)}</a>'
        for b in blocks
        if isinstance(b, Heading) and b.anchor
    )
    return f"<nav>{links}</nav>"


def to_html(
    blocks: list[Block],
    title: str,
    css: str = REPORT_CSS,
    embed_images: bool = True,
    image_dir: str | None = None,
) -> str:
    """A single HTML page. With ``embed_images`` it is self-contained (images read from their paths);
    otherwise images are linked, relative to ``image_dir`` when one is given."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{css}</style></head><body><main>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            out.append(f"<h{block.level}{anchor}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            css_class = f' class="{html.escape(block.css_class)}"' if block.css_class else ""
            out.append(f"<p{css_class}>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Code):
            out.append(f"<pre>{html.escape(block.text.rstrip())}</pre>")
        elif isinstance(block, Image):
            out.append(_image(block, image_dir, embed_images))
        elif isinstance(block, Cards):
            out.append(_cards(block))
        elif isinstance(block, Contents):
            out.append(_contents(blocks))
        else:
            raise TypeError(f"not a document block: {block!r}")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
