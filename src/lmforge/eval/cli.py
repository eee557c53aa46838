"""``lmforge eval ppl`` and ``lmforge eval tasks``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch

from lmforge.io import atomic_write, write_json

log = logging.getLogger(__name__)


def _dtype(name: str | None) -> torch.dtype | None:
    if name in (None, "auto"):
        return None
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ValueError(f"--dtype must be one of auto, {', '.join(table)}; got {name!r}")
    return table[name]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="lmforge model folder / checkpoint, or a Hugging Face OLMo folder")
    parser.add_argument("--tokenizer", default=None, help="tokenizer.json (default: the model folder's)")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="auto (as stored), float32, bfloat16, float16",
    )
    parser.add_argument("--max-seq-len", type=int, default=None, help="default: the model's context length")
    parser.add_argument("--prefix-token-id", type=int, default=None, help="override the BOS/EOS prefix token")
    parser.add_argument(
        "--output", required=True, help="results.json (a folder, or a path ending in '/': results.json in it)"
    )
    parser.add_argument("--no-progress", action="store_true")


def _check_counts(args: argparse.Namespace, minimums: dict[str, int]) -> None:
    """Reject impossible counts before the model is loaded (one line, not a traceback later)."""
    from lmforge.config import ConfigError

    for name, minimum in minimums.items():
        value = getattr(args, name)
        if value is not None and value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, got {value}")


def _load(args: argparse.Namespace) -> tuple[Any, Any, int]:
    import lmforge
    from lmforge.eval.downstream import model_max_length
    from lmforge.eval.tokenizer import load_eval_tokenizer

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        from lmforge.config import ConfigError

        raise ConfigError("device", f"{device} requested but no CUDA device is available")
    model = lmforge.load_model(args.model, device=device, dtype=_dtype(args.dtype)).eval()
    tokenizer = load_eval_tokenizer(args.model, args.tokenizer, args.prefix_token_id)
    from lmforge.models.loading import check_tokenizer_fits

    check_tokenizer_fits(
        model, tokenizer.tokenizer.get_vocab_size(with_added_tokens=True), args.tokenizer or args.model
    )
    rows = int(model.embeddings.weight.shape[0])
    if args.prefix_token_id is not None and not 0 <= args.prefix_token_id < rows:
        from lmforge.config import ConfigError

        raise ConfigError(
            "prefix_token_id",
            f"must be in [0, {rows}) (the model's embedding rows), got {args.prefix_token_id}",
        )
    return model, tokenizer, args.max_seq_len or model_max_length(model)


def _write_jsonl(path: str, records: list[dict[str, Any]]) -> None:
    with atomic_write(path, "wt") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _results_path(output: str) -> str:
    """``--output`` names the results file; a folder (existing, or written with a trailing slash, as lm-eval's
    ``--output_path`` takes one) gets ``results.json`` inside it. Decided before any scoring: otherwise the
    run computed everything and then failed to replace a directory with a file."""
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        return output.rstrip("/" + os.sep) + "/results.json"
    return output


def _beside(output: str, suffix: str) -> str:
    stem = output[: -len(".json")] if output.endswith(".json") else output
    return f"{stem}.{suffix}"


def ppl_main(argv: Sequence[str]) -> int:
    from lmforge.eval.perplexity import DocumentWindows, aggregate, read_eval_documents

    parser = argparse.ArgumentParser(
        prog="lmforge eval ppl", description="Paloma-style perplexity per domain."
    )
    _common(parser)
    parser.add_argument("--data", required=True, nargs="+", help="Dolma files / folders / globs ('**' works)")
    parser.add_argument(
        "--stride", type=int, default=None, help="tokens scored per window (default max-seq-len)"
    )
    parser.add_argument("--domain-field", default="source", help="document field naming the domain (dotted)")
    args = parser.parse_args(list(argv))
    _check_counts(args, {"batch_size": 1, "max_seq_len": 1, "stride": 1})
    args.output = _results_path(args.output)
    model, tokenizer, max_len = _load(args)
    if args.stride is not None and args.stride > max_len:
        from lmforge.config import ConfigError

        raise ConfigError("stride", f"must be at most max_seq_len ({args.stride} > {max_len})")
    counts: dict[str, int] = {}
    docs = read_eval_documents(args.data, args.domain_field, counts)
    started = time.perf_counter()
    windows = DocumentWindows(docs, tokenizer, max_len, args.stride)
    scores = windows.score(model, args.batch_size, progress=not args.no_progress)
    if not scores:  # every document was empty: no perplexity to report (and none to divide by)
        from lmforge.io import InputError

        raise InputError(
            " ".join(args.data), None, f"no non-empty documents to score ({counts['read']} read)"
        )
    results = {
        "model": args.model, "max_seq_len": max_len, "stride": args.stride or max_len,
        "domain_field": args.domain_field, "prefix_token_id": tokenizer.prefix_id,
        "documents_read": counts["read"], "documents_empty": counts["empty"],
        "seconds": round(time.perf_counter() - started, 3), **aggregate(scores),
    }  # fmt: skip
    # the per-document file first: results.json, what readers look for, then means both are complete
    _write_jsonl(_beside(args.output, "documents.jsonl"), [s.__dict__ for s in scores])
    write_json(args.output, results)
    micro = results["overall"]["micro"]
    print(
        f"{len(scores)} documents, {micro['tokens']} tokens: token ppl {micro['token_perplexity']:.4g}, "
        f"bits/byte {micro['bits_per_byte']:.4f}, macro ppl {results['overall']['macro']['token_perplexity']:.4g}"
        f" -> {args.output}"
    )
    return 0


def tasks_main(argv: Sequence[str]) -> int:
    from lmforge.eval.downstream import count_truncated, prepare_tasks, score_prepared
    from lmforge.eval.tasks.template import TemplateError

    parser = argparse.ArgumentParser(
        prog="lmforge eval tasks", description="Downstream multiple-choice tasks."
    )
    _common(parser)
    parser.add_argument("--tasks", required=True, help="comma-separated: names, name:variant, or YAML files")
    parser.add_argument(
        "--data-dir", default=None, help="folder of <task>.<split>.jsonl.gz (default: the hub)"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N examples of each task")
    parser.add_argument("--num-fewshot", type=int, default=None, help="default: each task's own")
    args = parser.parse_args(list(argv))
    _check_counts(args, {"batch_size": 1, "max_seq_len": 1, "limit": 1, "num_fewshot": 0})
    args.output = _results_path(args.output)
    model, tokenizer, max_len = _load(args)
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    if not names:
        from lmforge.config import ConfigError

        raise ConfigError("tasks", f"no task names in {args.tasks!r}")
    try:
        prepared = prepare_tasks(names, tokenizer, args.data_dir, args.limit, args.num_fewshot)
    except TemplateError as err:  # a row without the fields its task reads: bad data, not a bug
        from lmforge.io import InputError

        raise InputError(err.location or args.data_dir or "tasks", None, err.reason) from None
    for task in prepared:
        if cut := count_truncated(task, max_len):
            log.warning(
                "%s: %d of %d requests exceed the %d-token context and lose the start of their context "
                "(k-shot prompts: fewer shots, or a larger --max-seq-len if the model allows)",
                task.spec.name, cut, len(task.requests), max_len,
            )  # fmt: skip
    started = time.perf_counter()
    results, records = score_prepared(model, prepared, max_len, args.batch_size, not args.no_progress)
    seconds = time.perf_counter() - started
    _write_jsonl(_beside(args.output, "examples.jsonl"), records)  # before results.json, as in ppl
    write_json(args.output, results)
    width = max(len(t) for t in results)
    for task, metrics in results.items():
        shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k.startswith("acc"))
        print(f"{task:<{width}}  n={metrics['num_examples']:<6} {shown}")
    print(
        f"{len(records)} examples in {seconds:.1f}s ({len(records) / max(seconds, 1e-9):.1f}/s) -> {args.output}"
    )
    return 0


def lm_eval_main(argv: Sequence[str]) -> int:
    """lm-evaluation-harness's own command line with the ``lmforge`` model registered: lm-eval 0.4 discovers
    no plugins, so a bare ``lm_eval --model lmforge`` cannot find the adapter; this command (like
    ``python -m lmforge.eval.lm_eval_adapter``) imports it first, then hands every argument to lm-eval."""
    try:
        from lmforge.eval import lm_eval_adapter
    except ImportError as err:
        print(f"lmforge eval lm-eval: needs lm-eval ({err}); pip install 'lmforge[eval]'", file=sys.stderr)
        return 2
    lm_eval_adapter.main(list(argv))
    return 0


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    commands = {"ppl": ppl_main, "tasks": tasks_main, "lm-eval": lm_eval_main}
    if not argv or argv[0] not in commands:
        print(
            "usage: lmforge eval {ppl,tasks} MODEL ... (see --help of each)\n"
            "       lmforge eval lm-eval --model lmforge --model_args path=MODEL --tasks ... (lm-eval's own CLI)",
            file=sys.stderr,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return commands[argv[0]](argv[1:])
