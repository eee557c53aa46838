"""Render report sections (paragraphs, key figures, tables, images) as Markdown and as one HTML page.

Both forms come from the same :class:`Section` list, so they always say the same thing. Text uses three
inline marks, rendered in both: ``code``, **bold** and *italic*.
"""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Any


@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclasses.dataclass
class Section:
    title: str
    blocks: list[Any]  # str (a paragraph), Table, ("image", path), ("cards", [(label, value)])
    anchor: str = ""


# ------------------------------------------------------------------------------------------------ markdown


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, subtitle: str, sections: list[Section], images: set[str], footer: str) -> str:
    """Sections as GitHub-flavoured Markdown; images only if they were written (``images``)."""
    lines = [f"# {title}", "", subtitle, ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, Table):
                if block.caption:
                    lines += [f"*{block.caption}*", ""]
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append(
                    "|"
                    + "|".join(
                        "--:" if i and _is_numeric_column(block.rows, i) else "---"
                        for i in range(len(block.headers))
                    )
                    + "|"
                )
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                lines.append("")
            elif block[0] == "image" and block[1] in images:
                lines += [f"![{section.title}]({block[1]})", ""]
            elif block[0] == "cards":
                lines += [" · ".join(f"**{label}**: {value}" for label, value in block[1]), ""]
    lines += [footer, ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ html

_CSS = """
body{font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;
 background:#f6f8fa;margin:0}
main{max-width:1100px;margin:0 auto;padding:24px 32px 48px;background:#fff;box-shadow:0 0 0 1px #e5e7eb}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:19px;margin:36px 0 10px;padding-bottom:6px;border-bottom:1px solid #e5e7eb}
.sub{color:#59636e;margin:0 0 12px}nav{margin:10px 0 4px;font-size:13px}nav a{margin-right:14px;color:#0969da;text-decoration:none}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:12px 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px;background:#fbfcfd}
.card .v{font-size:17px;font-weight:600;overflow-wrap:anywhere}
.card .l{color:#59636e;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px;width:100%}
caption{text-align:left;color:#59636e;font-style:italic;padding:4px 0}
th{background:#f3f4f6;text-align:right;font-weight:600;padding:6px 10px;border-bottom:1px solid #d0d7de;white-space:nowrap}
td{padding:5px 10px;border-bottom:1px solid #eef0f2;text-align:right;vertical-align:top}
th.text,td.text{text-align:left}td.text{max-width:520px}
tr:hover td{background:#f8fafc}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f3f4f6;
 padding:1px 4px;border-radius:4px}img{max-width:100%;margin:6px 0 10px}.foot{color:#59636e;font-size:12px;margin-top:32px}
"""


def _inline(text: str) -> str:
    """Escape, then render the inline marks the sections use: ``code``, **bold** and *italic*."""
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


_NUMERIC = re.compile(r"[–\d.,%×]+( MB)?|[\d,]+ \(.*\)")


def _is_numeric_column(rows: list[list[Any]], column: int) -> bool:
    return all(_NUMERIC.fullmatch(str(r[column]).strip()) for r in rows if column < len(r))


def render_html(title: str, subtitle: str, sections: list[Section], images: set[str], footer: str) -> str:
    """Sections as one HTML page (inline CSS; images referenced by their relative paths)."""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='sub'>{_inline(subtitle)}</p>",
        "<nav>"
        + "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections if s.anchor)
        + "</nav>",
    ]
    for section in sections:
        body.append(f"<h2 id='{section.anchor}'>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, str):
                body.append(f"<p>{_inline(block)}</p>")
            elif isinstance(block, Table):
                left = {
                    c for c in range(len(block.headers)) if not c or not _is_numeric_column(block.rows, c)
                }
                body.append("<table>")
                if block.caption:
                    body.append(f"<caption>{_inline(block.caption)}</caption>")
                body.append(
                    "<tr>"
                    + "".join(
                        f"<th class='text'>{_inline(h)}</th>" if i in left else f"<th>{_inline(h)}</th>"
                        for i, h in enumerate(block.headers)
                    )
                    + "</tr>"
                )
                for row in block.rows:
                    cells = "".join(
                        f"<td class='text'>{_inline(c)}</td>" if i in left else f"<td>{_inline(c)}</td>"
                        for i, c in enumerate(row)
                    )
                    body.append(f"<tr>{cells}</tr>")
                body.append("</table>")
            elif block[0] == "image" and block[1] in images:
                body.append(f"<img src='{html.escape(block[1])}' alt='{html.escape(section.title)}'>")
            elif block[0] == "cards":
                cards = "".join(
                    f"<div class='card'><div class='l'>{html.escape(label)}</div><div class='v' title='{html.escape(str(value))}'>{html.escape(str(value))}</div></div>"
                    for label, value in block[1]
                )
                body.append(f"<div class='cards'>{cards}</div>")
    body.append(f"<p class='foot'>{_inline(footer)}</p>")
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
