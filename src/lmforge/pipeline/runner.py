"""Run a list of stages in order, skipping the ones whose inputs, config and outputs are unchanged.

A stage is data (:class:`Stage`): a name, the config section it depends on, the paths it reads and writes,
and a function that does the work and returns a small JSON summary. The runner owns the bookkeeping:
banners, the manifest, stale-output clean-up; the stage function owns the work (and its own resume).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from lmforge.pipeline.manifest import Manifest, config_hash, fingerprint


@dataclasses.dataclass
class Stage:
    name: str
    # JSON-serialisable: the part of the config this stage's result depends on; a callable is evaluated
    # when the stage's turn comes, for configs that depend on earlier stages' outputs (e.g. the vocabulary)
    config: Any
    inputs: list[str]
    outputs: list[str]
    run: Callable[[], dict[str, Any]]
    description: str = ""


@dataclasses.dataclass
class StageOutcome:
    name: str
    skipped: bool
    reason: str
    seconds: float
    summary: dict[str, Any]


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _remove_outputs(paths: Sequence[str], run_dir: str) -> None:
    """Delete a stale attempt's outputs - only inside the run folder, never a user's input elsewhere."""
    root = os.path.realpath(run_dir)
    for path in paths:
        if "://" in path:
            continue
        real = os.path.realpath(path)
        if not real.startswith(root + os.sep):
            continue
        if os.path.isdir(real):
            shutil.rmtree(real)
        elif os.path.exists(real):
            os.remove(real)


def run_stages(stages: Sequence[Stage], run_dir: str, *, force: Sequence[str] = ()) -> list[StageOutcome]:
    """Run ``stages`` in order under ``run_dir``'s manifest; ``force`` names stages to run regardless."""
    console = _console()
    manifest = Manifest.load(run_dir)
    outcomes: list[StageOutcome] = []
    total = len(stages)
    pipeline_start = time.time()
    for index, stage in enumerate(stages, 1):
        cfg_hash = config_hash(stage.config() if callable(stage.config) else stage.config, root=run_dir)
        input_fp = fingerprint(stage.inputs, root=run_dir)
        if input_fp["missing"]:
            raise FileNotFoundError(f"stage {stage.name}: input(s) missing: {', '.join(input_fp['missing'])}")
        up_to_date, reason = manifest.is_up_to_date(stage.name, cfg_hash, input_fp["sha256"], stage.outputs)
        if stage.name in force:
            up_to_date, reason = False, "forced"
        title = f"[{index}/{total}] {stage.name}"
        if up_to_date:
            console.rule(f"[bold]{title}[/bold] - [green]skipped[/green] ({reason})", align="left")
            record = manifest.stages[stage.name]
            outcomes.append(StageOutcome(stage.name, True, reason, 0.0, record.summary))
            continue
        console.rule(
            f"[bold cyan]{title}[/bold cyan] - {stage.description or 'running'} ({reason})", align="left"
        )
        if manifest.is_stale(stage.name, cfg_hash, input_fp["sha256"]) or stage.name in force:
            _remove_outputs(stage.outputs, run_dir)
        manifest.mark_running(stage.name, cfg_hash, input_fp["sha256"], stage.inputs, stage.outputs)
        start = time.time()
        try:
            summary = stage.run() or {}
        except BaseException as err:
            manifest.mark_failed(stage.name, "".join(traceback.format_exception_only(type(err), err)).strip())
            console.print(
                f"[bold red]stage {stage.name} failed[/bold red] after {time.time() - start:.1f}s: {err}"
            )
            raise
        manifest.mark_done(stage.name, summary)
        seconds = time.time() - start
        elapsed = time.time() - pipeline_start
        console.print(f"[green]done[/green] {stage.name} in {seconds:.1f}s (pipeline {elapsed:.0f}s so far)")
        outcomes.append(StageOutcome(stage.name, False, reason, seconds, summary))
    return outcomes
