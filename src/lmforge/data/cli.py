"""``lmforge data trace``: which documents make up global batch K."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from lmforge.config import ConfigError, from_dict, load_yaml, validate
from lmforge.data.config import DataConfig


def _from_run_dir(run_dir: str, args: argparse.Namespace) -> tuple[DataConfig, int, int | None, str]:
    config = load_yaml(os.path.join(run_dir, "config.yaml"))
    if "data" not in config:
        raise ConfigError("data", f"{run_dir}/config.yaml has no data section")
    data = from_dict(DataConfig, config["data"], _prefix="data")
    seed = int(config.get("seed", 0)) if args.seed is None else args.seed
    batch_size = args.batch_size or config.get("global_batch_size")
    warmup = config.get("batch_size_warmup") or {}
    if warmup.get("start_batch_size") and not args.batch_size:
        print(
            "note: this run warms up its batch size; batch K is traced as if every batch had "
            f"{batch_size} instances (pass --batch-size to choose)",
            file=sys.stderr,
        )
    return data, seed, batch_size, run_dir


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lmforge data", description="Inspect training data.")
    sub = parser.add_subparsers(dest="action", required=True)
    trace = sub.add_parser("trace", help="print the documents (id, source, token span) of global batch K")
    trace.add_argument("source", help="a run folder (with config.yaml) or token files / folder / glob")
    trace.add_argument("--batch", type=int, required=True, help="global batch index K (0-based)")
    trace.add_argument("--batch-size", type=int, default=None, help="instances per global batch")
    trace.add_argument("--seq-len", type=int, default=None, help="tokens per instance (data dirs: 2048)")
    trace.add_argument("--seed", type=int, default=None, help="data seed (data dirs: 0)")
    trace.add_argument("--json", action="store_true", help="one JSON object per document piece")
    args = parser.parse_args(list(argv))

    from lmforge.data.loader import DataLoader
    from lmforge.data.trace import trace_batch

    if os.path.isdir(args.source) and os.path.exists(os.path.join(args.source, "config.yaml")):
        data, seed, batch_size, work_dir = _from_run_dir(args.source, args)
    else:
        data, seed, batch_size, work_dir = (
            DataConfig(paths=[args.source]),
            args.seed or 0,
            args.batch_size,
            None,
        )
    if args.seq_len is not None:
        data.seq_len = args.seq_len
    validate(data)
    if not batch_size:
        raise ConfigError("batch_size", "pass --batch-size (the global batch size in instances)")
    loader = DataLoader(data, seed=seed, work_dir=work_dir)
    pieces = trace_batch(loader, args.batch, int(batch_size))
    if args.json:
        for piece in pieces:
            print(json.dumps(piece.to_dict(), ensure_ascii=False))
        return 0
    print(f"global batch {args.batch}: {batch_size} instances of {data.seq_len} tokens, seed {loader.seed}")
    last = None
    for p in pieces:
        if p.instance != last:
            print(f"instance {p.instance}  {p.token_file}")
            last = p.instance
        span = f"tokens {p.document_span[0]}:{p.document_span[1]} of {p.document_tokens}"
        print(
            f"  {p.id or '?'}  {p.source or '-'}  {span}  file[{p.file_span[0]}:{p.file_span[1]}]  {p.input}:{p.line}"
        )
    return 0
