"""``lmforge analyze DOCS... --output DIR`` and ``lmforge analyze search PATTERN DOCS...``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from lmforge.analyze.search import DEFAULT_REGEX_TIMEOUT
from lmforge.config import ConfigError


def _executor_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument("--processes", type=int, default=1, help="local worker processes (default 1)")
    group.add_argument("--executor", choices=("local", "ray"), default="local")
    group.add_argument(
        "--ray-address", default=None, help="Ray cluster address (default: start/attach locally)"
    )
    group.add_argument(
        "--on-error", choices=("fail", "skip"), default="fail", help="bad lines: stop, or count and skip"
    )
    group.add_argument(
        "--source-field", default="source", help="document field naming its source (default: source)"
    )
    group.add_argument("--quiet", action="store_true", help="no progress bars")


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _field_map(items: Sequence[str]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for item in items:
        task, sep, names = item.partition("=")
        if not sep or not task or not names:
            raise ConfigError("eval_fields", f"expected TASK=FIELD[,FIELD...], got {item!r}")
        fields[task] = [n for n in names.split(",") if n]
    return fields


def analyze_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmforge analyze",
        description="Corpus statistics, n-grams, duplicates, PII and contamination in one parallel pass; "
        "writes report.json, report.md, report.html and plots/. "
        "See also: lmforge analyze search PATTERN DOCS...",
    )
    parser.add_argument("documents", nargs="+", help="Dolma files, folders or globs ('docs/**/*.jsonl.gz')")
    parser.add_argument("--output", "-o", required=True, help="report folder (local or fsspec URL)")
    parser.add_argument(
        "--tokenizer", help="tokenizer.json, a folder with one, or a hub name: adds token counts"
    )
    parser.add_argument("--eval-data", action="append", help="evaluation sets (folder or glob); repeatable")
    parser.add_argument(
        "--eval-fields",
        action="append",
        default=[],
        metavar="TASK=FIELD,...",
        help="text fields of a task (dotted paths)",
    )
    parser.add_argument(
        "--ngram-n", type=_int_list, default=[1, 2, 3], help="n-gram sizes, e.g. 2,3 (default 1,2,3)"
    )
    parser.add_argument("--top-k", type=int, default=25, help="n-grams reported per size; 0 skips n-grams")
    parser.add_argument("--contamination-n", type=int, default=13, help="n-gram size for contamination (13)")
    parser.add_argument(
        "--contamination-short-n",
        type=int,
        default=8,
        help="n for text fields shorter than --contamination-n (8)",
    )
    parser.add_argument(
        "--contamination-min-share",
        type=float,
        default=0.0,
        help="also require this share of an example's n-grams to be found (default: any one)",
    )
    parser.add_argument(
        "--language-max-chars", type=int, default=None, help="identify language on a prefix only"
    )
    parser.add_argument("--no-languages", action="store_true", help="skip CLD2 language identification")
    parser.add_argument("--no-pii", action="store_true", help="skip PII counts")
    parser.add_argument("--no-duplicates", action="store_true", help="skip exact duplicate statistics")
    parser.add_argument("--no-plots", action="store_true", help="no PNG plots in the report")
    _executor_arguments(parser)
    return parser


def search_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmforge analyze search",
        description="Count and list the documents containing a phrase or regex.",
    )
    parser.add_argument("pattern", help="exact phrase (or a regular expression with --regex)")
    parser.add_argument("documents", nargs="+", help="Dolma files, folders or globs")
    parser.add_argument("--regex", action="store_true", help="PATTERN is a Python regular expression")
    parser.add_argument("--ignore-case", "-i", action="store_true")
    parser.add_argument(
        "--limit", type=int, default=20, help="documents listed (all are counted); default 20"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--regex-timeout",
        type=float,
        default=DEFAULT_REGEX_TIMEOUT,
        metavar="SECONDS",
        help="stop when the regex runs longer than this on one document (catastrophic backtracking); "
        f"default {DEFAULT_REGEX_TIMEOUT:g}",
    )
    _executor_arguments(parser)
    return parser


def search_main(argv: Sequence[str]) -> int:
    args = search_parser().parse_args(argv)
    from lmforge.analyze.search import search_corpus

    if args.processes < 1:  # as `lmforge analyze` says; the pool would otherwise quietly use one
        from lmforge.config import ConfigError

        raise ConfigError("processes", "must be >= 1")

    try:
        result = search_corpus(
            args.pattern,
            args.documents,
            regex=args.regex,
            ignore_case=args.ignore_case,
            limit=args.limit,
            processes=args.processes,
            executor=args.executor,
            ray_address=args.ray_address,
            on_error=args.on_error,
            source_field=args.source_field,
            progress=not args.quiet,
            regex_timeout=args.regex_timeout,
        )
    except ValueError as err:
        if type(err) is not ValueError:
            raise
        print(f"lmforge analyze search: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    for hit in result.hits:
        print(f"{hit.path}:{hit.line}\t{hit.id}\t{hit.source}\t×{hit.occurrences}\t{hit.snippet}")
    by_source = ", ".join(f"{s}: {c}" for s, c in result.matched_by_source.items())
    print(
        f"{result.documents_matched} of {result.documents_scanned} documents match ({result.occurrences} occurrences"
        + (f"; {by_source}" if by_source else "")
        + ")"
        + (f"; {result.rejected} bad lines skipped" if result.rejected else ""),
        file=sys.stderr if result.hits else sys.stdout,
    )
    return 0


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if argv and argv[0] == "search":
        return search_main(argv[1:])
    args = analyze_parser().parse_args(argv)
    from lmforge.analyze.corpus import analyze_corpus
    from lmforge.analyze.options import AnalyzeOptions

    options = AnalyzeOptions(
        tokenizer=args.tokenizer,
        eval_data=args.eval_data,
        eval_fields=_field_map(args.eval_fields),
        ngram_sizes=args.ngram_n,
        top_k=args.top_k,
        languages=not args.no_languages,
        language_max_chars=args.language_max_chars,
        pii=not args.no_pii,
        duplicates=not args.no_duplicates,
        contamination_n=args.contamination_n,
        contamination_short_n=args.contamination_short_n,
        contamination_min_share=args.contamination_min_share,
        source_field=args.source_field,
        on_error=args.on_error,
        processes=args.processes,
        executor=args.executor,
        ray_address=args.ray_address,
        plots=not args.no_plots,
        progress=not args.quiet,
    )
    report = analyze_corpus(args.documents, args.output, options)
    totals, read = report["totals"], report["read"]
    print(
        f"{read['documents']:,} documents ({totals['bytes'] / 1e6:,.1f} MB) from {read['files']} files, "
        f"{read['rejected']:,} rejected; {len(report['sources'])} sources"
    )
    if "duplicates" in report:
        d = report["duplicates"]
        print(
            f"duplicates: {100 * d['documents']['duplicate_rate']:.2f}% of documents, "
            f"{100 * d['paragraphs']['duplicate_rate']:.2f}% of paragraphs"
        )
    if "contamination" in report:
        for name, s in report["contamination"]["sets"].items():
            print(f"contamination {name}: {s['contaminated']}/{s['examples']} ({100 * s['share']:.2f}%)")
    print(f"report: {args.output.rstrip('/')}/report.html (also report.md, report.json)")
    return 0
