"""Write an analysis report as ``report.json``, ``report.md`` and ``report.html`` with ``plots/*.png``.

This module decides what a person sees (sections of blocks built from the report dict); :mod:`lmforge.render`
turns the blocks into Markdown and HTML, and :mod:`lmforge.analyze.plots` draws the PNGs.
"""

from __future__ import annotations

from typing import Any

from lmforge.analyze.plots import PLOTS
from lmforge.io import atomic_write, join, write_json, write_text
from lmforge.render import (
    ANALYSIS_CSS,
    Block,
    Cards,
    Contents,
    Heading,
    Image,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:,.2f} MB"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{value:,}"


def _int(value: float | None) -> str:
    """Percentiles are estimates within 0.5 %: decimals would claim more precision than they have."""
    return "–" if value is None else f"{round(value):,}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%" if x < 0.1 and x > 0 else f"{100 * x:.1f}%"


def _overview(report: dict[str, Any]) -> list[Block]:
    totals, read = report["totals"], report["read"]
    cards = [
        ("documents", _num(totals["documents"])),
        ("text", _mb(totals["bytes"])),
        ("words", _num(totals["words"])),
        ("sources", _num(len(report["sources"]))),
    ]
    if totals["tokens"]:
        cards.insert(3, ("tokens", _num(totals["tokens"])))
    if "duplicates" in report:
        cards.append(("duplicate documents", _pct(report["duplicates"]["documents"]["duplicate_rate"])))
        cards.append(("duplicate paragraphs", _pct(report["duplicates"]["paragraphs"]["duplicate_rate"])))
    if totals["languages"]:
        top = totals["languages"][0]
        cards.append(("main language", f"{top['value']} ({_pct(top['share'])})"))
    pii_docs = max((v["documents"] for v in totals["pii"].values()), default=0)
    cards.append(
        ("documents with e-mails", _num(totals["pii"]["email"]["documents"]))
        if pii_docs
        else ("PII", "none found")
    )
    if "contamination" in report:
        sets = report["contamination"]["sets"]
        worst = max(sets, key=lambda s: (sets[s]["share"], s))
        cards.append(("most contaminated set", f"{worst} ({_pct(sets[worst]['share'])})"))
    text = (
        f"{_num(read['files'])} files, {_num(read['lines'])} lines read: {_num(read['documents'])} documents, "
        f"{_num(read['rejected'])} rejected (bad JSON, missing text, truncated files)."
    )
    return [Heading("Overview", 2, "overview"), Cards(cards), Paragraph(text)]


def _sources_section(report: dict[str, Any]) -> list[Block]:
    dups = report.get("duplicates", {})
    headers = [
        "source",
        "documents",
        "text",
        "words",
        "tokens",
        "median words",
        "p90 words",
        "main language",
        "dup docs",
        "dup paragraphs",
    ]
    rows = []
    for name, s in [
        *sorted(report["sources"].items(), key=lambda kv: -kv[1]["bytes"]),
        ("all", report["totals"]),
    ]:
        words = s["lengths"].get("words", {}).get("percentiles", {})
        doc_dup = dups.get("documents", {})
        para_dup = dups.get("paragraphs", {})
        if name == "all":
            doc_rate, para_rate = doc_dup.get("duplicate_rate"), para_dup.get("duplicate_rate")
        else:
            doc_rate = doc_dup.get("per_source", {}).get(name, {}).get("within_rate")
            para_rate = para_dup.get("per_source", {}).get(name, {}).get("within_rate")
        rows.append(
            [
                f"**{name}**" if name == "all" else name,
                _num(s["documents"]),
                _mb(s["bytes"]),
                _num(s["words"]),
                _num(s["tokens"]) if s["tokens"] else "–",
                _int(words.get("p50")),
                _int(words.get("p90")),
                f"{s['languages'][0]['value']} ({_pct(s['languages'][0]['share'])})"
                if s["languages"]
                else "–",
                _pct(doc_rate) if doc_rate is not None else "–",
                _pct(para_rate) if para_rate is not None else "–",
            ]
        )
    return [
        Heading("Sources", 2, "sources"),
        Table(
            headers,
            rows,
            "Duplicate rates here count copies within the source; see Duplicates for copies across sources.",
        ),
        Image("plots/sizes.png", "Sources"),
    ]


def _lengths_section(report: dict[str, Any]) -> list[Block]:
    rows = []
    for metric, summary in report["totals"]["lengths"].items():
        p = summary["percentiles"]
        rows.append(
            [
                metric,
                _num(summary["mean"]),
                _num(summary["min"]),
                *(_int(p[k]) for k in ("p5", "p25", "p50", "p75", "p95", "p99")),
                _num(summary["max"]),
            ]
        )
    table = Table(
        ["per document", "mean", "min", "p5", "p25", "p50", "p75", "p95", "p99", "max"],
        rows,
        "Percentiles within 0.5 % (log-bucketed histogram); min, max and mean are exact.",
    )
    return [Heading("Document lengths", 2, "lengths"), table, Image("plots/lengths.png", "Document lengths")]


def _languages_section(report: dict[str, Any]) -> list[Block]:
    rows = [
        [i["value"], _num(i["count"]), _pct(i["share"]), _mb(i["bytes"])]
        for i in report["totals"]["languages"][:15]
    ]
    return [
        Heading("Languages", 2, "languages"),
        Paragraph(
            "Main language of each document, by CLD2 (the curation taggers' `detect_language`); `un` = unreliable or unknown."
        ),
        Table(["language", "documents", "share", "text"], rows),
        Image("plots/languages.png", "Languages"),
    ]


def _urls_section(report: dict[str, Any]) -> list[Block]:
    urls = report["totals"]["urls"]
    total = report["totals"]["documents"]
    blocks: list[Block] = [
        Heading("URLs", 2, "urls"),
        Paragraph(
            f"{_num(urls['documents_with_url'])} of {_num(total)} documents have `metadata.url` "
            f"({_num(urls['distinct_domains'])} distinct hosts, {_num(urls['invalid'])} unparseable)."
        ),
    ]
    if urls["documents_with_url"]:
        blocks.append(
            Table(
                ["scheme", "documents", "share"],
                [[i["value"], _num(i["count"]), _pct(i["share"])] for i in urls["schemes"][:10]],
            )
        )
        blocks.append(
            Table(
                ["domain", "documents", "share"],
                [[i["value"], _num(i["count"]), _pct(i["share"])] for i in urls["domains"][:15]],
            )
        )
        blocks.append(
            Table(
                ["top-level domain", "documents", "share"],
                [[i["value"], _num(i["count"]), _pct(i["share"])] for i in urls["tlds"][:10]],
            )
        )
        blocks.append(Image("plots/domains.png", "URLs"))
    return blocks


def _duplicates_section(report: dict[str, Any]) -> list[Block]:
    dups = report["duplicates"]
    overall = [
        [
            kind,
            _num(d["items"]),
            _num(d["distinct"]),
            _num(d["duplicates"]),
            _pct(d["duplicate_rate"]),
            _pct(d["duplicate_bytes_rate"]),
        ]
        for kind, d in dups.items()
    ]
    per_source = []
    for name in sorted(report["sources"]):
        doc, para = dups["documents"]["per_source"][name], dups["paragraphs"]["per_source"][name]
        per_source.append(
            [
                name,
                _num(doc["items"]),
                _pct(doc["within_rate"]),
                _pct(doc["cross_share"]),
                _num(para["items"]),
                _pct(para["within_rate"]),
                _pct(para["cross_share"]),
            ]
        )
    blocks: list[Block] = [
        Heading("Duplicates", 2, "duplicates"),
        Paragraph(
            "Exact duplicates by xxh3-64 of the text (documents) and of each non-blank line (paragraphs). "
            "*Rate* = share of items that are a further copy of one seen before; *in other sources* = share of "
            "a source's items whose text also occurs in another source."
        ),
        Table(["", "items", "distinct", "extra copies", "rate", "bytes in extra copies"], overall),
        Table(
            [
                "source",
                "documents",
                "copies within",
                "in other sources",
                "paragraphs",
                "copies within",
                "in other sources",
            ],
            per_source,
        ),
        Image("plots/duplicates.png", "Duplicates"),
    ]
    for kind in ("documents", "paragraphs"):
        top = dups[kind]["top"]
        if top:
            rows = [
                [
                    _num(g["copies"]),
                    ", ".join(f"{s}×{c}" for s, c in g["sources"].items()),
                    f"`{g.get('id', '')}`",
                    g.get("text", ""),
                ]
                for g in top
            ]
            blocks.append(Table(["copies", "sources", "first id", "text"], rows, f"Most duplicated {kind}"))
    return blocks


def _ngrams_section(report: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [
        Heading("Most common n-grams", 2, "ngrams"),
        Paragraph(
            "Word n-grams over lower-cased `\\w+` words. Candidates come from a count-min sketch per shard; the counts shown are exact (second pass)."
        ),
    ]
    sizes = list(report["ngrams"])
    headers = ["#"]
    for n in sizes:
        headers += [f"{n}-gram", "count"]
    rows = []
    for i in range(max((len(d["top"]) for d in report["ngrams"].values()), default=0)):
        row: list[Any] = [i + 1]
        for n in sizes:
            top = report["ngrams"][n]["top"]
            row += [f"`{top[i]['ngram']}`", _num(top[i]["count"])] if i < len(top) else ["", ""]
        rows.append(row)
    totals = ", ".join(f"{_num(report['ngrams'][n]['total'])} {n}-grams" for n in sizes)
    blocks.append(Table(headers, rows, f"Of {totals} in all; shares are in report.json."))
    return blocks


def _pii_section(report: dict[str, Any]) -> list[Block]:
    rows = []
    for name, s in [*sorted(report["sources"].items()), ("all", report["totals"])]:
        pii = s["pii"]
        rows.append(
            [
                f"**{name}**" if name == "all" else name,
                _num(s["documents"]),
                *(_pii_cell(pii[k]) for k in ("email", "phone", "ip")),
            ]
        )
    return [
        Heading("Personal information", 2, "pii"),
        Paragraph(
            "Matches of the curation PII regexes (`find_pii`), and (in brackets) the documents containing them."
        ),
        Table(["source", "documents", "e-mails", "phone numbers", "IPv4 addresses"], rows),
    ]


def _pii_cell(counts: dict[str, int]) -> str:
    if not counts["matches"]:
        return "–"
    return f"{_num(counts['matches'])} ({_num(counts['documents'])} docs)"


def _contamination_section(report: dict[str, Any]) -> list[Block]:
    con = report["contamination"]
    rows = [
        [
            name,
            _num(s["examples"]),
            _num(s["checkable"]),
            _num(s["contaminated"]),
            _pct(s["share"]),
            _pct(s["mean_matched_share"]),
        ]
        for name, s in sorted(con["sets"].items(), key=lambda kv: (-kv[1]["share"], kv[0]))
    ]
    blocks: list[Block] = [
        Heading("Contamination", 2, "contamination"),
        Paragraph(
            f"An example counts as contaminated when one of its {con['n']}-grams ({con['short_n']}-grams for text "
            f"fields shorter than {con['n']} words) occurs in a corpus document (words lower-cased, punctuation "
            f"ignored). {_num(con['corpus_documents_with_overlap'])} corpus documents contain at least one "
            "evaluation n-gram."
        ),
        Table(
            ["evaluation set", "examples", "checkable", "contaminated", "share", "mean n-gram overlap"], rows
        ),
        Image("plots/contamination.png", "Contamination"),
    ]
    listed = []
    for name, s in sorted(con["sets"].items()):
        for ex in s["examples_listed"][:5]:
            docs = "; ".join(
                f"{d['id']} ({d['source']}, {d['path'].rsplit('/', 1)[-1]}:{d['line']})"
                for d in ex["documents"]
            )
            listed.append([name, f"`{ex['example']}`", ex["text"], _pct(ex["share"]), docs])
    if listed:
        blocks.append(
            Table(
                ["set", "example", "text", "n-grams found", "documents"],
                listed,
                "Contaminated examples (first 5 per set; all in report.json)",
            )
        )
    return blocks


def _problems_section(report: dict[str, Any]) -> list[Block]:
    rejections = report["read"]["rejections"]
    if not rejections:
        return []
    rows = [[f"{r['path']}:{r['line']}", r["reason"]] for r in rejections[:50]]
    return [
        Heading("Input problems", 2, "problems"),
        Paragraph(f"{_num(report['read']['rejected'])} lines rejected (first 50 shown)."),
        Table(["where", "why"], rows),
    ]


def build_sections(report: dict[str, Any]) -> list[Block]:
    """The report's sections, each a heading with an anchor followed by its blocks."""
    blocks = [*_overview(report), *_sources_section(report), *_lengths_section(report)]
    if report["totals"]["languages"]:
        blocks += _languages_section(report)
    blocks += _urls_section(report)
    if "duplicates" in report:
        blocks += _duplicates_section(report)
    if "ngrams" in report:
        blocks += _ngrams_section(report)
    blocks += _pii_section(report)
    if "contamination" in report:
        blocks += _contamination_section(report)
    return blocks + _problems_section(report)


def _timing(report: dict[str, Any]) -> str:
    t = report["timing"]
    rate = t["megabytes_per_cpu_second"]
    return (
        f"lmforge {report['lmforge_version']} · {t['processes']} process(es), {t['executor']} executor · "
        f"{t['wall_seconds']:.1f} s wall, {t['cpu_seconds_workers']:.1f} CPU-s in workers"
        + (f" ({rate:.1f} MB of text per CPU-s)" if rate else "")
    )


def write_report(report: dict[str, Any], output: str, plots: bool = True) -> list[str]:
    """Write report.json, plots/*.png, report.md and report.html under ``output``; return the paths."""
    written = [join(output, "report.json")]
    write_json(written[0], report)
    images: set[str] = set()
    if plots:

        def write_png(path: str, data: bytes) -> None:
            with atomic_write(join(output, path), "wb", compression=False) as f:
                f.write(data)

        for name, (plot, _) in PLOTS.items():
            relative = f"plots/{name}.png"
            if plot(report, relative, write_png):
                images.add(relative)
                written.append(join(output, relative))
    title = "Corpus analysis"
    blocks = [
        Heading(title, 1),
        Paragraph(", ".join(f"`{p}`" for p in report["inputs"]["patterns"]), "sub"),
        Contents(),
        *(b for b in build_sections(report) if not isinstance(b, Image) or b.path in images),
        Paragraph(_timing(report), "foot"),
    ]
    write_text(join(output, "report.md"), to_markdown(blocks))
    # the plots stay files beside the page (linked, not embedded), as they are for report.md
    write_text(join(output, "report.html"), to_html(blocks, title, css=ANALYSIS_CSS, embed_images=False))
    return [*written, join(output, "report.md"), join(output, "report.html")]
