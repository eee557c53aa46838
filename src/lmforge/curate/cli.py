"""``lmforge curate``: run a YAML config, or one step from flags.

    lmforge curate CONFIG.yaml [--execution.processes=4 ...]
    lmforge curate tag --documents GLOB --taggers gopher_v1,c4_v2 [--experiment NAME]
    lmforge curate dedup --documents GLOB [--paragraphs bloom|exact|ngram|none] [--exact-key text] [--minhash]
    lmforge curate mix CONFIG.yaml [--overrides]          (a config with a ``mix:`` section, or a bare one)
    lmforge curate decontaminate --documents GLOB --eval GLOB [--action remove --output DIR]
    lmforge curate taggers [MODULE...]                    (list taggers and their options; docs/taggers.md)

Common flags: --processes N, --executor local|ray, --ray-address ADDR, --on-error fail|skip, --force,
--no-progress, --import MODULE (registers custom taggers).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from lmforge.config import build_config, load_yaml
from lmforge.curate.config import (
    BloomConfig,
    DecontaminateConfig,
    DedupConfig,
    DocumentDedupConfig,
    ExecutionConfig,
    MinHashConfig,
    MixConfig,
    ParagraphDedupConfig,
    TagConfig,
    TaggerSpec,
)

SUBCOMMANDS = ("tag", "dedup", "mix", "decontaminate", "taggers")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--on-error", choices=["fail", "skip"], default="fail")
    parser.add_argument("--force", action="store_true", help="redo shards that have completion markers")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")


def _execution(args: argparse.Namespace) -> ExecutionConfig:
    return build_config(
        ExecutionConfig,
        overrides={
            "processes": args.processes,
            "executor": args.executor,
            "ray_address": args.ray_address,
            "on_error": args.on_error,
            "force": args.force,
            "progress": not args.no_progress,
            "imports": args.imports,
        },
    )


def _attribute_dirs(documents: Sequence[str], names: Sequence[str]) -> list[str]:
    """Where a tag / dedup / decontaminate run wrote its attributes (and stats.json): one folder per name and
    documents root."""
    from lmforge.curate.layout import attribute_dir
    from lmforge.io import expand_paths

    roots = sorted({attribute_dir(path, "") for path in expand_paths(list(documents))})
    return [f"{root}{name}/" for root in roots for name in names]


def _print_written(folders: Sequence[str], stats: str = "stats.json in each") -> None:
    print(f"written: {', '.join(folders)} ({stats})", file=sys.stderr)


def _report(summary: dict[str, Any]) -> int:
    def line(name: str, s: dict[str, Any]) -> None:
        t = s["total"]
        print(
            f"{name}: in {t['documents_in']} docs ({t['bytes_in'] / 1e6:.2f} MB), kept {t['kept']}, "
            f"filtered {t['filtered']}, rejected {t['rejected']}; skipped finished shards: "
            f"{s.get('skipped_shards', 0)}",
            file=sys.stderr,
        )
        for reason, count in sorted(t["filtered_by"].items(), key=lambda kv: -kv[1]):
            print(f"    {count:8d}  {reason}", file=sys.stderr)
        for what, count in sorted(t["modified"].items()):
            print(f"    {count:8d}  {what}", file=sys.stderr)

    for name, s in summary.items():
        if "total" in s:
            line(name, s)
        else:
            for stream, ss in s.items():
                line(f"{name}/{stream}", ss)
    return 0


def _tag(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="lmforge curate tag", description="tag Dolma documents")
    p.add_argument("--documents", nargs="+", required=True, help="paths or globs under <root>/documents/")
    p.add_argument("--taggers", required=True, help="comma-separated tagger names (lmforge curate taggers)")
    p.add_argument("--experiment", default=None)
    p.add_argument(
        "--option", action="append", default=[], metavar="TAGGER.KEY=VALUE", help="tagger option (JSON value)"
    )
    _common(p)
    args = p.parse_args(argv)
    options: dict[str, dict[str, Any]] = {}
    for item in args.option:
        key, _, raw = item.partition("=")
        tagger, _, opt = key.partition(".")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(tagger, {})[opt] = value
    names = [n.strip() for n in args.taggers.split(",") if n.strip()]
    config = TagConfig(
        documents=args.documents,
        taggers=[TaggerSpec(n, options.get(n, {})) for n in names],
        experiment=args.experiment,
    )
    config.validate()
    from lmforge.curate.tag import run_tag

    code = _report({"tag": run_tag(config, _execution(args))})
    _print_written(_attribute_dirs(config.documents, [config.experiment] if config.experiment else names))
    return code


def _dedup(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="lmforge curate dedup", description="deduplicate Dolma documents")
    p.add_argument("--documents", nargs="+", required=True)
    p.add_argument("--name", default="dedupe", help="attribute folder: attributes/<name>/")
    p.add_argument("--paragraphs", choices=["bloom", "exact", "ngram", "none"], default="bloom")
    p.add_argument("--attribute-name", default="bff_duplicate_paragraph_spans")
    p.add_argument("--ngram-size", type=int, default=13)
    p.add_argument("--overlap-threshold", type=float, default=0.5)
    p.add_argument("--span-convention", choices=["exact", "dolma"], default="exact")
    p.add_argument(
        "--exact-key", default=None, help="also dedup whole documents by this key (text, id, metadata.url)"
    )
    p.add_argument("--minhash", action="store_true", help="also flag near-duplicate documents (MinHash LSH)")
    p.add_argument("--minhash-bands", type=int, default=16)
    p.add_argument("--minhash-perm", type=int, default=128)
    p.add_argument("--bloom-file", default=None)
    p.add_argument("--expected-count", type=int, default=10_000_000)
    p.add_argument("--false-positive-rate", type=float, default=1e-6)
    p.add_argument("--allow-stale", action="store_true")
    p.add_argument("--read-only", action="store_true")
    _common(p)
    args = p.parse_args(argv)
    config = DedupConfig(
        documents=args.documents,
        name=args.name,
        paragraphs=None
        if args.paragraphs == "none"
        else ParagraphDedupConfig(
            method=args.paragraphs,
            attribute_name=args.attribute_name,
            ngram_size=args.ngram_size,
            overlap_threshold=args.overlap_threshold,
            span_convention=args.span_convention,
        ),
        exact_documents=DocumentDedupConfig(key=args.exact_key) if args.exact_key else None,
        minhash=MinHashConfig(num_perm=args.minhash_perm, bands=args.minhash_bands) if args.minhash else None,
        bloom=BloomConfig(
            file=args.bloom_file,
            expected_count=args.expected_count,
            false_positive_rate=args.false_positive_rate,
            allow_stale=args.allow_stale,
            read_only=args.read_only,
        ),
    )
    from lmforge.config import validate

    validate(config)
    from lmforge.curate.dedup import run_dedup

    code = _report({"dedup": run_dedup(config, _execution(args))})
    _print_written(_attribute_dirs(config.documents, [config.name]))
    return code


def _mix(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="lmforge curate mix", description="filter and mix tagged documents")
    p.add_argument("config", help="YAML with a `mix:` section (or the mix settings at top level)")
    _common(p)
    args, overrides = p.parse_known_args(argv)
    data = load_yaml(args.config)
    section = data.get("mix", data)
    config = build_config(MixConfig, base=section, overrides=overrides)
    from lmforge.curate.mix import run_mix

    code = _report({"mix": run_mix(config, _execution(args))})
    for stream in config.streams:
        _print_written([f"{stream.output.path.rstrip('/')}/"], f"stats-{stream.name}.json")
    return code


def _decontaminate(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="lmforge curate decontaminate", description="n-gram decontamination")
    p.add_argument("--documents", nargs="+", required=True)
    p.add_argument(
        "--eval", nargs="+", required=True, help="evaluation JSONL files (task data or Dolma docs)"
    )
    p.add_argument("--eval-fields", default=None, help="comma-separated fields holding evaluation text")
    p.add_argument("--name", default="decontam")
    p.add_argument("--ngram-size", type=int, default=13)
    p.add_argument("--paragraph-threshold", type=float, default=0.0)
    p.add_argument("--document-threshold", type=float, default=0.5)
    p.add_argument("--action", choices=["flag", "remove"], default="flag")
    p.add_argument("--output", default=None, help="folder for cleaned documents (action remove)")
    _common(p)
    args = p.parse_args(argv)
    overrides: dict[str, Any] = {
        "documents": args.documents,
        "eval": args.eval,
        "name": args.name,
        "ngram_size": args.ngram_size,
        "paragraph_threshold": args.paragraph_threshold,
        "document_threshold": args.document_threshold,
        "action": args.action,
        "output": args.output,
    }
    if args.eval_fields:
        overrides["eval_fields"] = [f.strip() for f in args.eval_fields.split(",") if f.strip()]
    config = build_config(DecontaminateConfig, overrides=overrides)
    from lmforge.curate.decontaminate import run_decontaminate

    code = _report({"decontaminate": run_decontaminate(config, _execution(args))})
    _print_written(
        _attribute_dirs(config.documents, [config.name]) + ([config.output] if config.output else [])
    )
    return code


def _summary(cls: type) -> str:
    """The first sentence of a tagger's docstring (its module's when the class has none), on one line."""
    doc = cls.__doc__ or sys.modules[cls.__module__].__doc__ or ""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split()).replace("``", "")
    sentence = paragraph.split(". ", 1)[0].rstrip(".") if ". " in paragraph else paragraph.rstrip(".")
    if not sentence:
        return "(no docstring)"
    return sentence if len(sentence) <= 110 else sentence[:109] + "…"


def _taggers(argv: Sequence[str]) -> int:
    from lmforge.curate.taggers import get_tagger_class, tagger_names
    from lmforge.curate.taggers.registry import _option_names

    for module in argv:
        __import__(module)
    for name in tagger_names():
        cls = get_tagger_class(name)
        options = [o for o in _option_names(cls) if o != "predictor"]  # predictor: Python callers only
        print(f"{name:40s} {_summary(cls)}" + (f" [options: {', '.join(options)}]" if options else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = args[0], args[1:]
    if command == "tag":
        return _tag(rest)
    if command == "dedup":
        return _dedup(rest)
    if command == "mix":
        return _mix(rest)
    if command == "decontaminate":
        return _decontaminate(rest)
    if command == "taggers":
        return _taggers(rest)
    if command.startswith("-"):
        print(f"lmforge curate: expected a config file or one of {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    from lmforge.curate.pipeline import load_curate_config, run_curation

    return _report(run_curation(load_curate_config(command, rest)))
