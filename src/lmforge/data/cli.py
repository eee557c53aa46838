"""``lmforge data trace``: which documents make up global batch K."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

from lmforge.config import ConfigError, from_dict, load_yaml, validate
from lmforge.data.config import DataConfig


def warmup_batch_sizes(config: dict[str, Any], seq_len: int, batches: int) -> list[int]:
    """Sizes of the first ``batches`` global batches of a run with batch-size warm-up: as the trainer does,
    start at ``start_batch_size`` and double every ``double_every_tokens`` tokens up to ``global_batch_size``."""
    warm = config["batch_size_warmup"]
    final = int(config.get("global_batch_size", 8))
    sizes, tokens_seen = [], 0
    for _ in range(batches):
        doublings = tokens_seen // int(warm["double_every_tokens"])
        size = min(final, int(warm["start_batch_size"]) * 2 ** min(doublings, 62))
        sizes.append(size)
        tokens_seen += size * seq_len
    return sizes


def _from_run_dir(run_dir: str, seed: int | None) -> tuple[DataConfig, int, dict[str, Any]]:
    config = load_yaml(os.path.join(run_dir, "config.yaml"))
    if "data" not in config:
        raise ConfigError("data", f"{run_dir}/config.yaml has no data section")
    data = from_dict(DataConfig, config["data"], _prefix="data")
    return data, int(config.get("seed", 0)) if seed is None else seed, config


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
    for name in ("batch", "seed"):  # numpy's permutation would otherwise fail with a bare ValueError
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise ConfigError(name, f"must be >= 0, got {getattr(args, name)}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError("batch_size", f"must be positive, got {args.batch_size}")

    from lmforge.data.loader import DataLoader
    from lmforge.data.trace import trace_batch, trace_instances

    run: dict[str, Any] = {}
    work_dir = None
    if os.path.isdir(args.source) and os.path.exists(os.path.join(args.source, "config.yaml")):
        data, seed, run = _from_run_dir(args.source, args.seed)
        work_dir = args.source  # the order the run saved is the one it used
    else:
        data, seed = DataConfig(paths=[args.source]), args.seed or 0
    if args.seq_len is not None:
        data.seq_len = args.seq_len
    validate(data)
    batch_size = args.batch_size or run.get("global_batch_size")
    if not batch_size:
        raise ConfigError("batch_size", "pass --batch-size (the global batch size in instances)")
    loader = DataLoader(data, seed=seed, work_dir=work_dir)
    if (run.get("batch_size_warmup") or {}).get("start_batch_size") and not args.batch_size:
        # the batch size changed during warm-up: replay the sizes to find where batch K starts
        *before, batch_size = warmup_batch_sizes(run, data.seq_len, args.batch + 1)
        for size in before:
            loader.advance(size)
        pieces = trace_instances(loader, loader.advance(batch_size))
    else:
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
        where = f"file[{p.file_span[0]}:{p.file_span[1]}]  {p.input}:{p.line}"
        print(f"  {p.id or '?'}  {p.source or '-'}  {span}  {where}")
    return 0
