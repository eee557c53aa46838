"""A tiny document model (headings, paragraphs, tables, code, images) rendered to Markdown and to HTML.

The report is built once as blocks and written twice, so report.md, report.html and the model card can never
disagree about a number.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
from typing import Any


@dataclasses.dataclass
class Heading:
    text: str
    level: int = 2


@dataclasses.dataclass
class Paragraph:
    text: str  # plain text; **bold** is kept in Markdown and turned into <b> in HTML


@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclasses.dataclass
class Code:
    text: str
    language: str = ""


@dataclasses.dataclass
class Image:
    path: str  # absolute path of a PNG
    alt: str


Block = Heading | Paragraph | Table | Code | Image


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


def _md_cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], image_dir: str | None = None) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Table):
            if block.caption:
                out.append(f"*{block.caption}*\n")
            lines = ["| " + " | ".join(block.headers) + " |", "|" + "---|" * len(block.headers)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        elif isinstance(block, Code):
            out.append(f"```{block.language}\n{block.text.rstrip()}\n```")
        elif isinstance(block, Image):
            where = os.path.relpath(block.path, image_dir) if image_dir else block.path
            out.append(f"![{block.alt}]({where})")
    return "\n\n".join(out) + "\n"


_CSS = """
body{font:15px/1.5 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d2329;margin:0;background:#f4f6f8}
main{max-width:1040px;margin:0 auto;padding:28px 36px 60px;background:#fff;box-shadow:0 0 12px #0001}
h1{font-size:26px;margin:0 0 6px;color:#123}
h2{font-size:19px;margin:30px 0 10px;padding-bottom:4px;border-bottom:2px solid #e2e8ee;color:#1f4f7a}
h3{font-size:16px;margin:18px 0 8px;color:#334}
p{margin:8px 0}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13.5px;min-width:50%}
th,td{border:1px solid #dde3e9;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#eef3f8;font-weight:600}
tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;color:#567;font-size:12.5px;padding-bottom:3px}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:5px;padding:10px 12px;overflow-x:auto;font-size:12.5px;
white-space:pre-wrap;word-break:break-word}
img{max-width:100%;border:1px solid #e5e8eb;border-radius:4px;margin:6px 0}
"""


def _inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts)).replace("`", "")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def to_html(blocks: list[Block], title: str) -> str:
    """A single self-contained HTML file: CSS inline, images embedded as data URIs."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            cap = f"<caption>{html.escape(block.caption)}</caption>" if block.caption else ""
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td class="num">{html.escape(fmt(c))}</td>'
                    if _is_number(c)
                    else f"<td>{html.escape(fmt(c))}</td>"
                    for c in row
                )
                + "</tr>"
                for row in block.rows
            )
            out.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Code):
            out.append(f"<pre>{html.escape(block.text.rstrip())}</pre>")
        elif isinstance(block, Image):
            with open(block.path, "rb") as handle:
                data = base64.b64encode(handle.read()).decode("ascii")
            out.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
