"""One document model for every human-readable report lmforge writes, rendered as Markdown and as HTML.

A report is built once as a list of blocks and written twice, so its Markdown and its HTML page (and a model
card made from the same blocks) can never disagree about a number. ``lmforge analyze`` and ``lmforge report``
both write through here; each chooses only its stylesheet and whether images are embedded or linked.

Text in paragraphs, table cells and captions may use three inline marks, rendered in both forms:
``code``, **bold** and *italic*.
"""

from lmforge.render.blocks import Block, Cards, Code, Contents, Heading, Image, Paragraph, Table, fmt
from lmforge.render.html_page import to_html
from lmforge.render.markdown import to_markdown
from lmforge.render.styles import ANALYSIS_CSS, REPORT_CSS

__all__ = [
    "ANALYSIS_CSS",
    "REPORT_CSS",
    "Block",
    "Cards",
    "Code",
    "Contents",
    "Heading",
    "Image",
    "Paragraph",
    "Table",
    "fmt",
    "to_html",
    "to_markdown",
]
