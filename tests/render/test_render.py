"""lmforge.render: one block list, written as Markdown and as HTML that say the same thing."""

from __future__ import annotations

import base64
import re

import pytest

from lmforge.render import (
    ANALYSIS_CSS,
    Cards,
    Code,
    Contents,
    Heading,
    Image,
    Paragraph,
    Table,
    fmt,
    to_html,
    to_markdown,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def test_html_escapes_text_and_renders_the_inline_marks_everywhere_markdown_does():
    blocks = [
        Heading("Title <script>"),
        Paragraph("a **bold** word, `<b>code</b>` and *slanted* text"),
        Table(["`key`", "value"], [["**a** <i>", "x"]], caption="see *note*"),
        Code("<b>not bold</b>"),
    ]
    page = to_html(blocks, "t")
    assert "<h2>Title &lt;script&gt;</h2>" in page and "<script" not in page
    assert (
        "<b>bold</b>" in page and "<code>&lt;b&gt;code&lt;/b&gt;</code>" in page and "<i>slanted</i>" in page
    )
    assert "<th><code>key</code></th>" in page and "<td><b>a</b> &lt;i&gt;</td>" in page
    assert "<caption>see <i>note</i></caption>" in page
    assert "<pre>&lt;b&gt;not bold&lt;/b&gt;</pre>" in page
    md = to_markdown(blocks)
    assert "a **bold** word, `<b>code</b>` and *slanted* text" in md and "*see *note**" in md


def test_markdown_tables_escape_pipes_and_newlines_and_format_numbers():
    md = to_markdown([Table(["k", "v"], [["a|b", 1234567], ["two\nlines", 0.000012], ["none", None]])])
    assert "| a\\|b | 1,234,567 |" in md and "| two lines | 1.2e-05 |" in md and "| none | - |" in md
    assert fmt(None) == "-" and fmt(True) == "yes" and fmt(2.5) == "2.5" and fmt(3000.0) == "3,000"


def test_number_columns_are_right_aligned_in_both_forms():
    table = Table(
        ["name", "count", "share", "size", "mixed", "note"],
        [
            ["a", 1, "12.5%", "0.10 MB", 7, "x"],
            ["b", None, "–", "1,024.00 MB", "cpu", "3 (2 docs)"],
            ["3", 2.5, "100.0%", "2 MB", 1.5, "y"],
        ],
    )
    md = to_markdown([table])
    # the first column labels rows; "mixed" and "note" hold text as well as numbers
    assert "|---|--:|--:|--:|---|---|" in md
    page = to_html([table], "t")
    header = re.search(r"<thead>(.*?)</thead>", page).group(1)
    assert header == (
        '<tr><th>name</th><th class="num">count</th><th class="num">share</th><th class="num">size</th>'
        "<th>mixed</th><th>note</th></tr>"
    )
    # a number is right-aligned even among text; number-like text only in a column of numbers
    assert '<tr><td>b</td><td class="num">-</td><td class="num">–</td>' in page
    assert '<td class="num">7</td><td>x</td>' in page and "<td>cpu</td><td>3 (2 docs)</td>" in page


def test_images_are_embedded_or_linked_and_markdown_paths_are_relative(tmp_path):
    (tmp_path / "plots").mkdir()
    png = tmp_path / "plots" / "loss.png"
    png.write_bytes(PNG)
    blocks = [Image(str(png), 'loss "curve"')]
    embedded = to_html(blocks, "t")
    data = re.search(r'<img alt="loss &quot;curve&quot;" src="data:image/png;base64,([^"]+)">', embedded)
    assert data and base64.b64decode(data.group(1)) == PNG
    linked = to_html(blocks, "t", embed_images=False, image_dir=str(tmp_path))
    assert '<img alt="loss &quot;curve&quot;" src="plots/loss.png">' in linked
    assert to_markdown(blocks, image_dir=str(tmp_path)) == '![loss "curve"](plots/loss.png)\n'
    relative = [Image("plots/sizes.png", "Sources")]
    assert 'src="plots/sizes.png"' in to_html(relative, "t", embed_images=False)
    assert to_markdown(relative) == "![Sources](plots/sizes.png)\n"


def test_analysis_page_parts_contents_cards_and_classed_paragraphs():
    blocks = [
        Heading("Corpus analysis", 1),
        Paragraph("`docs/*.jsonl.gz`", "sub"),
        Contents(),
        Heading("Overview", 2, "overview"),
        Cards([("documents", "1,000"), ("main <lang>", "en (90.0%)")]),
        Heading("Unlisted", 3),
        Heading("Sources", 2, "sources"),
        Paragraph("took 1 s", "foot"),
    ]
    page = to_html(blocks, "Corpus analysis", css=ANALYSIS_CSS, embed_images=False)
    assert '<nav><a href="#overview">Overview</a><a href="#sources">Sources</a></nav>' in page
    assert '<h2 id="overview">Overview</h2>' in page and "<h3>Unlisted</h3>" in page
    assert '<div class="l">main &lt;lang&gt;</div><div class="v" title="en (90.0%)">en (90.0%)</div>' in page
    assert (
        '<p class="sub"><code>docs/*.jsonl.gz</code></p>' in page and '<p class="foot">took 1 s</p>' in page
    )
    assert ANALYSIS_CSS in page
    md = to_markdown(blocks)
    assert md == (
        "# Corpus analysis\n\n`docs/*.jsonl.gz`\n\n## Overview\n\n"
        "**documents**: 1,000 · **main <lang>**: en (90.0%)\n\n### Unlisted\n\n## Sources\n\ntook 1 s\n"
    )


def test_a_page_is_one_self_contained_document():
    page = to_html([Paragraph("x")], "a <title>")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</main></body></html>\n")
    assert "<title>a &lt;title&gt;</title>" in page and "<link" not in page and "<script" not in page


def test_something_that_is_not_a_block_is_an_error():
    with pytest.raises(TypeError, match="not a document block"):
        to_markdown(["a bare string"])
    with pytest.raises(TypeError, match="not a document block"):
        to_html([("image", "x.png")], "t")
