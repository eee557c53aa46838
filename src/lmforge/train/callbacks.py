"""Trainer callbacks: what happens around each step, kept out of the loop itself (OLMo-core's shape).

Each step the trainer builds a metrics dict and hands it to every callback in order; callbacks may add keys
(speed, eval) before the loggers write them. All file output is on rank 0.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
from typing import TYPE_CHECKING, Any

import torch

from lmforge.io import InputError, atomic_write

if TYPE_CHECKING:
    from lmforge.train.trainer import Trainer

METRICS_FILE = "metrics.jsonl"


class Callback:
    def on_train_start(self, trainer: Trainer) -> None:
        """After the model, optimizer and loader are ready and any checkpoint is restored."""

    def on_step_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        """After the optimizer step of ``trainer.step``."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last step (or the step that stopped the run)."""


def peak_memory_mb(device: torch.device) -> float:
    """Peak accelerator memory allocated by torch, or on a CPU the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if device.type == "mps":
        return torch.mps.driver_allocated_memory() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # macOS reports bytes, Linux KiB


class SpeedCallback(Callback):
    """Adds tokens_per_s (per device), mfu and peak_memory_mb to every step that gets a metrics row (log
    steps, and eval or flagged steps between them), averaged over the steps since the previous row.

    The first step after a (re)start pays for allocation and compilation; it is reported alone when it
    gets a row and otherwise left out, so it never drags down a later window."""

    def on_train_start(self, trainer: Trainer) -> None:
        self.first = True
        self.warned_over_peak = False

    def on_step_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        tokens, seconds = metrics.pop("_tokens_this_rank"), metrics.pop("_step_seconds")
        first, self.first = self.first, False
        row = trainer.is_metrics_row(trainer.step, metrics)
        if first and not row:
            return
        trainer.speed.record(tokens, seconds)
        if row:
            metrics.update(trainer.speed.report())
            metrics["peak_memory_mb"] = peak_memory_mb(trainer.device)
            if metrics.get("mfu", 0.0) > 1.0 and not self.warned_over_peak and trainer.dist.is_main:
                # A CPU peak measured while other programs held the cores is too low; a silent 117% MFU
                # reads as a bug in the FLOP count.
                self.warned_over_peak = True
                print(
                    f"lmforge train: warning: MFU {metrics['mfu']:.0%} is above 100%: the peak "
                    f"{trainer.speed.peak_flops:.3g} FLOP/s ({trainer.peak_source}) is below what this run "
                    "reaches (a busy machine when it was measured?); peak_flops=... sets the device's peak",
                    file=sys.stderr,
                    flush=True,
                )


class EvalCallback(Callback):
    def on_step_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if trainer.is_eval_step(trainer.step):
            metrics.update(trainer.evaluate())


class CheckpointCallback(Callback):
    def on_step_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        interval = trainer.config.save_interval
        if trainer.consecutive_bad_steps > 0:
            return  # never checkpoint in the middle of a NaN streak: the last good checkpoint must stay good
        due = interval is not None and (
            trainer.step % interval == 0 or trainer.step == trainer.config.max_steps
        )
        if due or trainer.time_limit_hit:  # a run stopped by its time limit must be resumable from here
            trainer.save_checkpoint()


def _format(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


class MetricsLogger(Callback):
    """``metrics.jsonl`` (one JSON object per logged step) and a console line per log interval.

    On resume, lines for steps after the restored checkpoint (written before a crash) are dropped, so the
    file always describes the one trajectory that the checkpoints continue.
    """

    def __init__(self, save_folder: str, is_main: bool) -> None:
        self.path = os.path.join(save_folder, METRICS_FILE)
        self.is_main = is_main

    def on_train_start(self, trainer: Trainer) -> None:
        if not self.is_main or not os.path.exists(self.path):
            return
        with open(self.path) as f:
            lines = f.readlines()
        if lines and not lines[-1].endswith("\n"):
            lines.pop()  # torn by a kill in the middle of an append: that step is redone anyway
        kept = []
        for line_no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                step = json.loads(line).get("step", 0)
            except (json.JSONDecodeError, AttributeError):
                raise InputError(self.path, line_no, "not a JSON object of metrics") from None
            if step <= trainer.step:
                kept.append(line)
        with atomic_write(self.path, "wt", compression=False) as f:
            f.writelines(kept)

    def on_step_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if not self.is_main or not trainer.is_metrics_row(trainer.step, metrics):
            return
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")
        parts = [f"step {trainer.step}/{trainer.config.max_steps}"]
        for key in ("loss", "lr", "grad_norm"):
            if key in metrics:
                parts.append(f"{key} {_format(metrics[key])}")
        if "tokens_per_s" in metrics:
            parts.append(f"{metrics['tokens_per_s']:,.0f} tok/s/device | mfu {100 * metrics['mfu']:.1f}%")
        parts += [f"{k} {_format(v)}" for k, v in metrics.items() if k.startswith("eval/")]
        if metrics.get("skipped"):
            parts.append(f"SKIPPED ({metrics.get('skip_reason')})")
        elif metrics.get("loss_spike"):
            parts.append("LOSS SPIKE (kept)")
        from tqdm import tqdm

        tqdm.write(" | ".join(parts))  # prints above an active progress bar instead of through it


class ProgressCallback(Callback):
    """A tqdm bar of optimizer steps on rank 0 when the console is a terminal (none in logs and tests)."""

    def __init__(self, is_main: bool) -> None:
        self.is_main = is_main
        self.bar: Any = None

    def on_train_start(self, trainer: Trainer) -> None:
        if not self.is_main:
            return
        from tqdm import tqdm

        self.bar = tqdm(
            total=trainer.config.max_steps,
            initial=trainer.step,
            desc=trainer.config.run_name,
            unit="step",
            dynamic_ncols=True,
            disable=None,  # None: only on a TTY
        )

    def on_step_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if metrics.get("loss") is not None:
                self.bar.set_postfix(loss=f"{metrics['loss']:.4f}", refresh=False)

    def on_train_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class WandbCallback(Callback):
    """Logs the same metrics to Weights & Biases (rank 0). The run id is kept in the checkpoint so that a
    resumed run continues the same W&B run."""

    def __init__(self) -> None:
        self.run: Any = None

    def on_train_start(self, trainer: Trainer) -> None:
        cfg = trainer.config.wandb
        if not trainer.dist.is_main or not cfg.project or cfg.mode == "disabled":
            return
        import wandb

        from lmforge.config import to_dict

        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            name=cfg.name or trainer.config.run_name,
            group=cfg.group,
            tags=cfg.tags or None,
            mode=cfg.mode,
            dir=cfg.dir or trainer.config.save_folder,
            config=to_dict(trainer.config),
            id=trainer.wandb_run_id,
            resume="allow",
        )
        trainer.wandb_run_id = self.run.id

    def on_step_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if self.run is not None and trainer.is_metrics_row(trainer.step, metrics):
            self.run.log({k: v for k, v in metrics.items() if k != "step"}, step=trainer.step)

    def on_train_end(self, trainer: Trainer) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
