"""``lmforge pipeline CONFIG.yaml [--dotted.overrides]``: curate -> tokenizer -> tokenize -> train -> eval ->
export -> report, skipping stages whose inputs, config and outputs are unchanged since they finished."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from lmforge.config import ConfigError, build_config, save_config
from lmforge.pipeline.config import PipelineConfig
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.runner import StageOutcome, run_stages


def load_pipeline_config(
    yaml_path: str | None, overrides: Sequence[str] | dict[str, Any] = (), base: dict[str, Any] | None = None
) -> PipelineConfig:
    return build_config(PipelineConfig, yaml_path, overrides, base=base)


def check_train_section(cfg: PipelineConfig, layout: RunLayout) -> None:
    """Fail before any stage runs on a bad ``train`` section (a typo would otherwise surface only after
    curation and tokenization); the vocabulary and paths filled in later cannot make a valid section invalid."""
    from lmforge.config import merge
    from lmforge.pipeline.train_stage import build_train_config

    build_train_config(merge(cfg.train, {"data": {"paths": [layout.tokens]}, "save_folder": layout.train}))


def run_pipeline(
    cfg: PipelineConfig, *, force: Sequence[str] = (), until: str | None = None
) -> list[StageOutcome]:
    """Run (or resume) the pipeline described by ``cfg`` in ``cfg.run_dir``; returns what each stage did."""
    from lmforge.pipeline.stages import build_stages

    layout = RunLayout(cfg.run_dir)
    check_train_section(cfg, layout)
    os.makedirs(cfg.run_dir, exist_ok=True)
    save_config(cfg, layout.config)
    stages = build_stages(cfg, layout)
    names = [s.name for s in stages]
    for name in [*force, *([until] if until else [])]:
        if name not in names:
            raise ConfigError("", f"unknown stage {name!r}; this pipeline has {names}")
    if until:
        stages = stages[: names.index(until) + 1]
    return run_stages(stages, cfg.run_dir, force=force)


def print_summary(outcomes: list[StageOutcome], run_dir: str, started: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pipeline finished in {time.time() - started:.0f}s: {run_dir}", title_justify="left")
    for column in ("stage", "result", "seconds", "summary"):
        table.add_column(column)
    for o in outcomes:
        brief = ", ".join(
            f"{k}={v}" for k, v in list(o.summary.items())[:4] if not isinstance(v, (dict, list))
        )
        table.add_row(o.name, "skipped" if o.skipped else "ran", f"{o.seconds:.1f}", brief)
    Console(stderr=True).print(table)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lmforge pipeline",
        description=__doc__,
        epilog="Any other --dotted.key=value argument overrides the config (e.g. --train.max_steps=50).",
    )
    parser.add_argument("config", help="pipeline YAML (see docs/pipeline.md and configs/pipeline-*.yaml)")
    parser.add_argument("--force", action="append", default=[], help="rerun this stage (repeatable)")
    parser.add_argument("--until", default=None, help="stop after this stage")
    args, overrides = parser.parse_known_args(list(argv))
    cfg = load_pipeline_config(args.config, overrides)
    started = time.time()
    outcomes = run_pipeline(cfg, force=args.force, until=args.until)
    print_summary(outcomes, cfg.run_dir, started)
    return 0
