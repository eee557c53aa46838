"""Blocks as GitHub-flavoured Markdown (report.md, model cards)."""

from __future__ import annotations

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
    numeric_columns,
)


def _cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> str:
    numeric = numeric_columns(table)
    lines = [f"*{table.caption}*\n"] if table.caption else []
    lines.append("| " + " | ".join(table.headers) + " |")
    lines.append("|" + "|".join("--:" if i in numeric else "---" for i in range(len(table.headers))) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def to_markdown(blocks: list[Block], image_dir: str | None = None) -> str:
    """The blocks separated by blank lines; image paths relative to ``image_dir`` when one is given."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Code):
            out.append(f"```{block.language}\n{block.text.rstrip()}\n```")
        elif isinstance(block, Image):
            out.append(f"![{block.alt}]({image_source(block, image_dir)})")
        elif isinstance(block, Cards):
            out.append(" · ".join(f"**{label}**: {value}" for label, value in block.items))
        elif not isinstance(block, Contents):
            raise TypeError(f"not a document block: {block!r}")
    return "\n\n".join(out) + "\n"
