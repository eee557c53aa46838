"""``lmforge quickstart [--output DIR] [--minutes M]``: the whole pipeline on Python's own text, on a CPU.

Builds a corpus from the standard library (code, docstrings/comments, documentation topics), curates it,
trains a BPE tokenizer, tokenizes, trains the tiny OLMo preset for ``M`` minutes, evaluates held-out
perplexity per source (next to the unigram entropy) and two built-in multiple-choice tasks, generates
samples, exports a Hugging Face folder with a model card, and writes the run report. Rerunning the same
command resumes (or skips) whatever is already done.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

from lmforge.config import load_yaml
from lmforge.io import read_json
from lmforge.pipeline.cli import load_pipeline_config, print_summary, run_pipeline
from lmforge.pipeline.layout import RunLayout


def quickstart_recipe() -> str:
    return str(resources.files("lmforge.pipeline").joinpath("recipes", "quickstart.yaml"))


def print_results(run_dir: str, started: float) -> None:
    layout = RunLayout(run_dir)
    lines = ["", f"quickstart finished in {(time.time() - started) / 60:.1f} min: {os.path.abspath(run_dir)}"]
    if os.path.isfile(layout.eval_results):
        results: dict[str, Any] = read_json(layout.eval_results)
        ppl, entropy = results.get("perplexity") or {}, results.get("unigram_entropy") or {}
        lines.append("held-out loss (nats/token) vs the unigram entropy of the same tokens:")
        for source in sorted(ppl, key=lambda s: (s == "all", s)):
            loss, h = ppl[source]["loss"], entropy.get(source, float("nan"))
            lines.append(
                f"  {source:<14} loss {loss:6.3f} (ppl {math.exp(loss):8.1f})   unigram entropy {h:6.3f}   "
                f"gap {h - loss:+.3f}"
            )
        for task, metrics in sorted((results.get("tasks") or {}).items()):
            lines.append(
                f"  task {task:<18} acc {metrics.get('acc', float('nan')):.3f}   acc_norm "
                f"{metrics.get('acc_norm', float('nan')):.3f}   (chance 0.250, n={metrics.get('num_examples')})"
            )
    if os.path.isfile(layout.samples):
        for sample in read_json(layout.samples)[:1]:
            lines += ["sample:", "  " + (sample["prompt"] + sample["completion"]).replace("\n", "\n  ")]
    lines += [
        f"report:      {os.path.join(layout.report, 'report.html')}",
        f"HF folder:   {layout.hf}  (transformers.AutoModelForCausalLM.from_pretrained)",
        f"manifest:    {layout.manifest}",
    ]
    print("\n".join(lines))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lmforge quickstart",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Other --dotted.key=value arguments override the recipe (lmforge/pipeline/recipes/quickstart.yaml).",
    )
    parser.add_argument("--output", default="runs/quickstart", help="run folder (default: runs/quickstart)")
    parser.add_argument("--minutes", type=float, default=None, help="training time budget (default: 5)")
    parser.add_argument("--force", action="append", default=[], help="rerun this stage (repeatable)")
    args, overrides = parser.parse_known_args(list(argv))
    base = load_yaml(quickstart_recipe())
    base["run_dir"] = args.output
    if args.minutes is not None:
        base.setdefault("budget", {})["train_minutes"] = args.minutes
    processes = max(1, min(4, os.cpu_count() or 1))
    base.setdefault("tokenize", {})["processes"] = processes
    base["curate"]["recipe"].setdefault("execution", {})["processes"] = processes
    cfg = load_pipeline_config(None, overrides, base=base)
    started = time.time()
    outcomes = run_pipeline(cfg, force=args.force)
    print_summary(outcomes, cfg.run_dir, started)
    print_results(cfg.run_dir, started)
    return 0
