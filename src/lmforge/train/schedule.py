"""Learning-rate schedules, as functions of the (1-based) optimizer step.

Follows OLMo's schedulers: a linear warm-up from ``warmup_start_factor x lr`` (OLMo: 0.1) to ``lr`` over
``warmup_steps``, then linear or cosine decay to ``alpha_f x lr`` at ``t_max`` (default: ``max_steps``), or a
constant rate. An optional final anneal (OLMo-7B's last 1000 steps) decays linearly from whatever the main
schedule gives at ``max_steps - anneal_steps`` to 0 at ``max_steps``. To anneal from an existing checkpoint
at step S of a run planned for M steps: resume it with ``max_steps = S + N``, ``anneal_steps = N`` and
``t_max = M``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from lmforge.config import require

ScheduleName = Literal["linear", "cosine", "constant"]


@dataclasses.dataclass
class SchedulerConfig:
    name: ScheduleName = "linear"
    warmup_steps: int = 0
    warmup_start_factor: float = 0.1  # OLMo warms up from 0.1 x the peak rate, not from zero
    alpha_f: float = 0.1  # final rate of the decay as a fraction of the peak
    t_max: int | None = None  # step at which the decay reaches alpha_f x lr; None: max_steps
    anneal_steps: int = 0  # final linear decay to 0 over this many steps (0: none)

    def validate(self) -> None:
        require(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        require(0.0 <= self.warmup_start_factor <= 1.0, "warmup_start_factor", "must be in [0, 1]")
        require(0.0 <= self.alpha_f <= 1.0, "alpha_f", "must be in [0, 1]")
        require(self.anneal_steps >= 0, "anneal_steps", "must be >= 0")
        if self.t_max is not None:
            require(self.t_max > self.warmup_steps, "t_max", "must be greater than warmup_steps")


def _main_lr(cfg: SchedulerConfig, lr: float, step: int, t_max: int) -> float:
    if step < cfg.warmup_steps:
        start = cfg.warmup_start_factor * lr
        return start + (lr - start) * step / cfg.warmup_steps
    if cfg.name == "constant":
        return lr
    final = cfg.alpha_f * lr
    span = max(1, t_max - cfg.warmup_steps)
    progress = min(step - cfg.warmup_steps, span) / span
    if cfg.name == "linear":
        return lr - (lr - final) * progress
    return final + (lr - final) * (1.0 + math.cos(math.pi * progress)) / 2.0


def learning_rate(cfg: SchedulerConfig, lr: float, step: int, max_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (1-based, like OLMo's global step)."""
    t_max = cfg.t_max or max_steps
    anneal_start = max_steps - cfg.anneal_steps
    if cfg.anneal_steps and step >= anneal_start:
        start_lr = _main_lr(cfg, lr, anneal_start, t_max)
        return start_lr * max(0, max_steps - step) / cfg.anneal_steps
    return _main_lr(cfg, lr, step, t_max)


def clip_threshold(
    max_grad_norm: float | None, step: int, warmup_steps: int | None, warmup_factor: float | None
) -> float | None:
    """OLMo's clip warm-up: ``warmup_factor x max_grad_norm`` for the first ``warmup_steps`` steps."""
    if max_grad_norm is None:
        return None
    if warmup_steps is None or warmup_factor is None or step > warmup_steps:
        return max_grad_norm
    return warmup_factor * max_grad_norm
