"""``lmforge tokenizer train`` and ``lmforge tokenize``: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def tokenizer_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lmforge tokenizer", description="Tokenizer tools.")
    sub = parser.add_subparsers(dest="action", required=True)
    train = sub.add_parser("train", help="train a byte-level BPE tokenizer on Dolma documents")
    train.add_argument("--input", required=True, nargs="+", help="document files, folders or globs")
    train.add_argument("--vocab-size", type=int, required=True, help="total ids, bytes and specials included")
    train.add_argument("--output", required=True, help="where to write tokenizer.json")
    train.add_argument("--min-frequency", type=int, default=2, help="minimum count of a merged pair")
    train.add_argument("--max-documents", type=int, default=None, help="train on the first N documents only")
    train.add_argument("--on-error", choices=("fail", "skip"), default="fail", help="bad input lines")
    args = parser.parse_args(list(argv))

    from lmforge.tokenize.train import train_tokenizer

    result = train_tokenizer(
        args.input,
        args.vocab_size,
        args.output,
        min_frequency=args.min_frequency,
        on_error=args.on_error,
        max_documents=args.max_documents,
        # the Rust trainer draws its bars on stdout, and off a terminal leaves only blank lines before the JSON
        show_progress=sys.stdout.isatty(),
    )
    print(json.dumps(result.to_dict()))
    if result.vocab_size < args.vocab_size:
        # BPE stops when no pair is left that occurs --min-frequency times: say so, it is easy to miss
        print(
            f"lmforge tokenizer: note: {result.vocab_size} ids, not the {args.vocab_size} asked for: BPE ran "
            f"out of pairs to merge (whole words already merged, or pairs seen fewer than --min-frequency="
            f"{args.min_frequency} times); train on more text for a larger vocabulary",
            file=sys.stderr,
        )
    return 0


def tokenize_main(argv: Sequence[str]) -> int:
    from lmforge.tokenize.run import DEFAULT_MAX_TOKENS_PER_FILE

    parser = argparse.ArgumentParser(
        prog="lmforge tokenize",
        description="Turn Dolma documents into OLMo token files (raw memmaps + per-document metadata).",
    )
    parser.add_argument("--input", required=True, nargs="+", help="document files, folders or globs")
    parser.add_argument(
        "--tokenizer", required=True, help="tokenizer.json, a folder holding one, or a hub name"
    )
    parser.add_argument("--output", required=True, help="output folder (local or fsspec URL)")
    parser.add_argument(
        "--processes", type=int, default=1, help="encoding processes (output does not change)"
    )
    parser.add_argument("--dtype", choices=("auto", "uint16", "uint32"), default="auto")
    parser.add_argument("--max-tokens-per-file", type=int, default=DEFAULT_MAX_TOKENS_PER_FILE)
    parser.add_argument(
        "--eos-id", type=int, default=None, help="id after each document (default: the EOS token)"
    )
    parser.add_argument("--on-error", choices=("fail", "skip"), default="fail", help="bad input lines")
    parser.add_argument(
        "--strip-whitespace",
        action="store_true",
        help="tokenize text.strip(), as dolma's tokens command does",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(list(argv))
    try:
        manifest = _tokenize(args)
    except ValueError as err:  # bad options (dtype too small, EOS outside the vocabulary) or bad input
        print(f"lmforge tokenize: error: {err}", file=sys.stderr)
        return 2
    totals = manifest["totals"]
    print(
        f"{totals['tokenized']} documents -> {totals['tokens']} tokens ({manifest['dtype']}, eos "
        f"{manifest['eos_token_id']}) in {totals['token_files']} files under {args.output}; "
        f"in {totals['documents_in']} = tokenized {totals['tokenized']} + empty {totals['empty']} "
        f"+ rejected {totals['rejected']}"
    )
    return 0


def _tokenize(args: argparse.Namespace) -> dict:
    from lmforge.tokenize.run import tokenize_documents

    if args.processes < 1:
        from lmforge.config import ConfigError

        raise ConfigError("processes", f"must be at least 1, got {args.processes}")

    return tokenize_documents(
        args.input,
        args.tokenizer,
        args.output,
        processes=args.processes,
        dtype=args.dtype,
        max_tokens_per_file=args.max_tokens_per_file,
        eos_id=args.eos_id,
        on_error=args.on_error,
        strip_whitespace=args.strip_whitespace,
        progress=not args.no_progress,
    )
