"""The train stage: the pipeline's ``train`` section + the wiring it owns -> ``lmforge train`` in a subprocess.

The trainer runs as its own process (``python -m lmforge train``): it owns its threads, process group and
memory, a crash cannot take the pipeline's bookkeeping with it, and a rerun after a kill simply starts it
again - the trainer resumes from its latest checkpoint in ``run_dir/train``.

With ``budget.train_minutes`` a short throughput probe (a few optimizer steps of the real model on random
tokens of the real shape) turns the time budget into ``max_steps``. The plan is saved in
``run_dir/train_plan.json`` and reused, so a resumed or repeated run trains exactly the same steps.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

from lmforge.config import dump_yaml, merge, to_dict
from lmforge.io import read_json, write_json, write_text
from lmforge.pipeline.config import PipelineConfig
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.manifest import config_hash
from lmforge.pipeline.runner import Stage

# The part of the budget given to optimizer steps; the rest covers the trainer's start-up (imports, peak-FLOPs
# measurement), checkpoints and in-loop evaluation, which the probe does not see.
BUDGET_STEP_FRACTION = 0.85
BUDGET_STARTUP_SECONDS = 15.0


def wired_train_section(cfg: PipelineConfig, layout: RunLayout, tokenizer: str) -> dict[str, Any]:
    """``cfg.train`` with the fields the pipeline owns filled in: data, save folder, tokenizer, vocabulary."""
    from lmforge.tokenize.tokenizer import eos_token_id, load_tokenizer, pad_token_id, vocab_size

    tok = load_tokenizer(tokenizer)
    model = {"vocab_size": vocab_size(tok), "eos_token_id": eos_token_id(tok)}
    pad = pad_token_id(tok)
    if pad is not None:
        model["pad_token_id"] = pad
    owned = {
        "data": {"paths": [layout.tokens]},
        "save_folder": layout.train,
        "tokenizer": tokenizer,
        "model": model,
        "run_name": cfg.name or os.path.basename(os.path.abspath(layout.run_dir)),
    }
    section = merge(cfg.train, owned)
    section["model"] = merge(cfg.train.get("model", {"preset": "tiny"}), model)
    if cfg.eval.in_loop_interval and "evaluators" not in cfg.train:
        from lmforge.pipeline.stages import eval_documents

        sources = sorted(eval_documents(cfg, layout))
        section["evaluators"] = [
            {"name": source, "kind": "ppl_tokens", "paths": [os.path.join(layout.eval_tokens(source), "*.npy")],
             "max_batches": cfg.eval.in_loop_max_batches}
            for source in sources
        ]  # fmt: skip
        section.setdefault("eval_interval", cfg.eval.in_loop_interval)
    return section


def build_train_config(section: dict[str, Any]) -> Any:
    from lmforge.config import ConfigError, build_config
    from lmforge.train.config import TrainConfig

    try:
        return build_config(TrainConfig, base=section)
    except ConfigError as err:
        raise err.prefixed("train") from None


def probe_seconds_per_step(train_config: Any, probe_steps: int) -> float:
    """Seconds per optimizer step of this model and batch shape on this machine (first step excluded)."""
    import torch

    from lmforge.nn.init import build_model
    from lmforge.train.optim import build_optimizer

    model_cfg = train_config.model_config()
    device = torch.device(
        "cuda" if torch.cuda.is_available() and train_config.device in ("auto", "cuda") else "cpu"
    )
    model = build_model(model_cfg, device=device, seed=0)
    optimizer = build_optimizer(model, train_config.optimizer, device)
    seq_len = train_config.data.seq_len
    accum = train_config.global_batch_size // train_config.microbatch_size
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(
        0, model_cfg.vocab_size, (train_config.microbatch_size, seq_len + 1), generator=generator
    )
    batch = batch.to(device)

    def step() -> None:
        for _ in range(accum):
            out = model(batch[:, :-1])
            logits = getattr(out, "logits", out)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten())
            (loss / accum).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up: allocation, kernel selection
    start = time.perf_counter()
    for _ in range(probe_steps):
        step()
    return (time.perf_counter() - start) / probe_steps


def plan_max_steps(cfg: PipelineConfig, layout: RunLayout, section: dict[str, Any]) -> dict[str, Any]:
    """Turn ``budget.train_minutes`` into ``max_steps`` once; later runs read the saved plan."""
    plan_path = os.path.join(layout.run_dir, "train_plan.json")
    key = config_hash({"budget": to_dict(cfg.budget), "train": section}, root=layout.run_dir)
    if os.path.isfile(plan_path):
        plan = read_json(plan_path)
        if plan.get("key") == key:
            return plan
    train_config = build_train_config(section)
    seconds = probe_seconds_per_step(train_config, cfg.budget.probe_steps)
    budget_s = float(cfg.budget.train_minutes or 0) * 60
    usable_s = max(budget_s * BUDGET_STEP_FRACTION - BUDGET_STARTUP_SECONDS, budget_s * 0.5)
    max_steps = max(10, math.floor(usable_s / seconds))
    plan = {"key": key, "seconds_per_step": seconds, "budget_seconds": budget_s, "max_steps": max_steps}
    write_json(plan_path, plan)
    print(
        f"[pipeline] throughput probe: {seconds:.3f} s/step -> max_steps={max_steps} for {budget_s / 60:.1f} min"
    )
    return plan


def resolved_train_section(cfg: PipelineConfig, layout: RunLayout, tokenizer: str) -> dict[str, Any]:
    section = wired_train_section(cfg, layout, tokenizer)
    if cfg.budget.train_minutes:
        plan = plan_max_steps(cfg, layout, section)
        section["max_steps"] = plan["max_steps"]
        # The probe sees the machine at one moment; if it slows down later (other jobs), the trainer's
        # wall-clock limit still ends the run, with a checkpoint, at 1.5x the budget.
        if section.get("time_limit_minutes") is None:
            section["time_limit_minutes"] = 1.5 * float(cfg.budget.train_minutes)
        scheduler = dict(section.get("scheduler") or {})
        # at most a tenth of a budgeted run warms up: a short run must spend its steps at the peak rate
        if int(scheduler.get("warmup_steps", 0) or 0) > plan["max_steps"] // 10:
            scheduler["warmup_steps"] = max(1, plan["max_steps"] // 10)
            section["scheduler"] = scheduler
        # a few checkpoints (to resume from) and in-loop evaluations (for curves) however short the run
        for key in ("save_interval", "eval_interval"):
            if section.get(key):
                section[key] = max(1, min(int(section[key]), plan["max_steps"] // 5))
    return section


class EtaReporter(threading.Thread):
    """Prints the trainer's progress with an ETA every ``interval_s``, from the steps in metrics.jsonl (the
    trainer's own lines show loss and speed, not how long is left)."""

    def __init__(self, metrics_path: str, max_steps: int, interval_s: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.metrics_path, self.max_steps, self.interval_s = metrics_path, max_steps, interval_s
        self.stopped = threading.Event()

    def last_step(self) -> int | None:
        try:
            with open(self.metrics_path, "rb") as handle:
                handle.seek(max(0, os.path.getsize(self.metrics_path) - 4096))
                lines = handle.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            match = re.match(r'\{"step": (\d+)', line)
            if match:
                return int(match.group(1))
        return None

    def run(self) -> None:
        first: tuple[float, int] | None = None
        while not self.stopped.wait(self.interval_s):
            step = self.last_step()
            if step is None:
                continue
            now = time.time()
            if first is None or step < first[1]:
                first = (now, step)
                continue
            rate = (step - first[1]) / max(now - first[0], 1e-9)
            if rate > 0:
                eta = (self.max_steps - step) / rate
                print(
                    f"[pipeline] train step {step}/{self.max_steps}, {rate:.2f} steps/s, ETA {eta / 60:.1f} min",
                    flush=True,
                )


def run_trainer(config_path: str, metrics_path: str | None = None, max_steps: int | None = None) -> None:
    """``python -m lmforge train CONFIG`` with the console inherited (its step lines show through)."""
    env = dict(os.environ)
    env.setdefault("WANDB_MODE", "offline")
    reporter = EtaReporter(metrics_path, max_steps) if metrics_path and max_steps else None
    if reporter:
        reporter.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "lmforge", "train", config_path], env=env, check=False)
    finally:
        if reporter:
            reporter.stopped.set()
    if proc.returncode != 0:
        raise RuntimeError(f"lmforge train {config_path} exited with status {proc.returncode}")


def train_stage(cfg: PipelineConfig, layout: RunLayout) -> Stage:
    from lmforge.pipeline.stages import tokenizer_file

    tokenizer = tokenizer_file(cfg, layout)
    config_path = os.path.join(layout.run_dir, "train_config.yaml")

    def run() -> dict[str, Any]:
        resolved = resolved_train_section(cfg, layout, tokenizer)
        train_config = build_train_config(resolved)
        write_text(config_path, dump_yaml(train_config))
        run_trainer(config_path, os.path.join(layout.train, "metrics.jsonl"), train_config.max_steps)
        from lmforge.nn.flops import num_params
        from lmforge.report.collect import compute_summary, read_metrics

        compute = compute_summary(read_metrics(os.path.join(layout.train, "metrics.jsonl")))
        return {
            "parameters": num_params(train_config.model_config()),
            "max_steps": train_config.max_steps,
            **{k: v for k, v in compute.items() if v is not None},
        }

    # The resolved section needs the tokenizer's vocabulary (and maybe a probe), which exist only once the
    # earlier stages ran: the runner evaluates it when the train stage's turn comes.
    def hashed_config() -> dict[str, Any]:
        # the run name only labels logs (it defaults to the run folder's name): renaming must not retrain
        return {k: v for k, v in resolved_train_section(cfg, layout, tokenizer).items() if k != "run_name"}

    return Stage(
        "train",
        hashed_config,
        [layout.tokens, tokenizer],
        [layout.train],
        run,
        "pretrain the model",
    )
