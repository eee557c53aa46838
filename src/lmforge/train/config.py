"""The training config: one dataclass tree, built from YAML + ``--dotted.overrides`` (see lmforge.config).

Key names follow the issue's contract (and OLMo's where they overlap). Rules that need the world size
(``global_batch_size`` divisible by ``microbatch_size * world_size``) are checked by
:func:`validate_for_world` once the process group is up.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from lmforge.config import ConfigError, require, to_dict
from lmforge.data.config import DataConfig
from lmforge.distributed.parallelize import parse_activation_checkpointing
from lmforge.train.optim import OptimizerConfig
from lmforge.train.schedule import SchedulerConfig

__all__ = ["DataConfig", "OptimizerConfig", "SchedulerConfig", "TrainConfig", "validate_for_world"]


@dataclasses.dataclass
class BatchSizeWarmupConfig:
    """Start with ``start_batch_size`` instances and double every ``double_every_tokens`` tokens until
    ``global_batch_size`` (OLMo-65B's batch-size warm-up). Disabled while ``start_batch_size`` is unset."""

    start_batch_size: int | None = None
    double_every_tokens: int = 0

    def validate(self) -> None:
        if self.start_batch_size is not None:
            require(self.start_batch_size > 0, "start_batch_size", "must be positive")
            require(self.double_every_tokens > 0, "double_every_tokens", "must be positive when enabled")


@dataclasses.dataclass
class NanConfig:
    """A step whose loss or gradient norm is NaN/inf is skipped (no update); ``max_consecutive`` such steps
    in a row stop the run (its last good checkpoint stays as it was)."""

    max_consecutive: int = 5

    def validate(self) -> None:
        require(self.max_consecutive >= 1, "max_consecutive", "must be >= 1")


@dataclasses.dataclass
class LossSpikeConfig:
    """A loss more than ``sigma`` standard deviations above the mean of the last ``window`` accepted losses is
    a spike: always logged; skipped (no update) when ``skip``, at most ``max_consecutive_skips`` in a row."""

    sigma: float = 6.0  # 0 disables detection
    window: int = 100
    skip: bool = False
    max_consecutive_skips: int = 5

    def validate(self) -> None:
        require(self.sigma >= 0, "sigma", "must be >= 0 (0 disables detection)")
        require(self.window >= 2, "window", "must be >= 2")


@dataclasses.dataclass
class WandbConfig:
    """Weights & Biases logging, enabled when ``project`` is set. ``mode: offline`` needs no network."""

    project: str | None = None
    entity: str | None = None
    name: str | None = None  # default: run_name
    group: str | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    mode: Literal["online", "offline", "disabled"] = "offline"
    dir: str | None = None  # default: save_folder


@dataclasses.dataclass
class TrainConfig:
    data: DataConfig
    save_folder: str
    run_name: str = "lmforge"
    seed: int = 0
    model: dict[str, Any] = dataclasses.field(default_factory=lambda: {"preset": "tiny"})
    global_batch_size: int = 8  # instances (sequences of data.seq_len tokens) per optimizer step
    microbatch_size: int = 4  # instances per forward/backward on one rank
    max_steps: int = 100
    # Wall-clock budget (like OLMo's time_limit): past it the run checkpoints and stops cleanly; a rerun
    # resumes from that checkpoint towards max_steps. None: no limit.
    time_limit_minutes: float | None = None
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = dataclasses.field(default_factory=SchedulerConfig)
    max_grad_norm: float | None = 1.0
    clip_warmup_steps: int | None = None
    clip_warmup_factor: float | None = None
    batch_size_warmup: BatchSizeWarmupConfig = dataclasses.field(default_factory=BatchSizeWarmupConfig)
    precision: Literal["fp32", "bf16"] = "fp32"
    z_loss_multiplier: float | None = None
    strategy: Literal["single", "ddp", "fsdp"] = "single"
    activation_checkpointing: str = "none"  # none | full | one_in_N
    compile: bool = False
    fsdp_reshard_after_forward: bool = True
    save_interval: int | None = 1000
    keep_checkpoints: int = 2  # <= 0 keeps all
    remote_save_folder: str | None = None
    load_path: str | None = None
    log_interval: int = 1
    eval_interval: int | None = None
    evaluators: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    wandb: WandbConfig = dataclasses.field(default_factory=WandbConfig)
    nan: NanConfig = dataclasses.field(default_factory=NanConfig)
    loss_spike: LossSpikeConfig = dataclasses.field(default_factory=LossSpikeConfig)
    tokenizer: str | None = None  # tokenizer.json; copied into checkpoints and exports
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    peak_flops: float | None = None  # per device, for MFU; None: published bf16 peak or measured on CPU

    def model_config(self) -> Any:
        from lmforge.models.folder import model_config_from_dict

        return model_config_from_dict(self.model)

    def validate(self) -> None:
        model = self.model_config()  # raises ConfigError naming model.<field>
        self.model = {k: v for k, v in to_dict(model).items()}  # resolved: every field, saved with the run
        for name in ("global_batch_size", "microbatch_size", "max_steps", "log_interval"):
            require(getattr(self, name) > 0, name, "must be positive")
        if self.time_limit_minutes is not None:
            require(self.time_limit_minutes > 0, "time_limit_minutes", "must be positive when set")
        require(
            self.global_batch_size % self.microbatch_size == 0,
            "global_batch_size",
            f"must be divisible by microbatch_size ({self.global_batch_size} % {self.microbatch_size} != 0)",
        )
        seq_len = int(getattr(self.data, "seq_len", 0) or 0)
        require(
            seq_len <= model.max_sequence_length,
            "data.seq_len",
            f"must be at most model.max_sequence_length ({seq_len} > {model.max_sequence_length})",
        )
        if self.save_interval is not None:
            require(self.save_interval > 0, "save_interval", "must be positive (or null to never save)")
        if self.eval_interval is not None:
            require(self.eval_interval > 0, "eval_interval", "must be positive (or null)")
            require(bool(self.evaluators), "evaluators", "eval_interval is set but no evaluators are listed")
        if self.max_grad_norm is not None:
            require(self.max_grad_norm > 0, "max_grad_norm", "must be positive (or null for no clipping)")
        if self.z_loss_multiplier is not None:
            require(self.z_loss_multiplier >= 0, "z_loss_multiplier", "must be >= 0")
        try:
            parse_activation_checkpointing(self.activation_checkpointing)
        except ValueError as err:
            raise ConfigError("activation_checkpointing", str(err).split(": ", 1)[-1]) from None
        require(
            self.scheduler.anneal_steps <= self.max_steps,
            "scheduler.anneal_steps",
            "must be at most max_steps",
        )
        warm = self.batch_size_warmup.start_batch_size
        if warm is not None:
            ratio = self.global_batch_size // warm
            require(
                warm <= self.global_batch_size
                and warm * ratio == self.global_batch_size
                and ratio & (ratio - 1) == 0,
                "batch_size_warmup.start_batch_size",
                f"must be global_batch_size / 2^k ({warm} does not double to {self.global_batch_size})",
            )
        for i, ev in enumerate(self.evaluators):
            require(isinstance(ev.get("kind"), str), f"evaluators[{i}].kind", "is required")
            # A downstream evaluator may go unnamed: its metrics are then eval/<task>/<metric> (e.g.
            # eval/arc_easy/acc), the task names being keys enough; every other kind needs a name.
            named = isinstance(ev.get("name"), str) and bool(ev["name"])
            require(named or ev.get("kind") == "downstream", f"evaluators[{i}].name", "is required")
            require(named or "name" not in ev, f"evaluators[{i}].name", "must be a non-empty string")
        for i, ev in enumerate(self.evaluators):
            for j in range(i):
                require(
                    ev.get("name") != self.evaluators[j].get("name"),
                    f"evaluators[{i}].name",
                    "must be unique (two unnamed downstream evaluators would write the same keys)"
                    if ev.get("name") is None
                    else "must be unique",
                )


def validate_for_world(config: TrainConfig, world_size: int) -> None:
    """The rules that depend on how many ranks share the global batch."""
    per_step = config.microbatch_size * world_size
    require(
        config.global_batch_size % per_step == 0,
        "global_batch_size",
        f"must be divisible by microbatch_size * world_size ({config.global_batch_size} % "
        f"({config.microbatch_size} * {world_size}) != 0)",
    )
    warm = config.batch_size_warmup.start_batch_size
    if warm is not None:
        require(
            warm % per_step == 0,
            "batch_size_warmup.start_batch_size",
            f"must be divisible by microbatch_size * world_size ({warm} % {per_step} != 0)",
        )
    require(
        config.strategy != "single" or world_size == 1,
        "strategy",
        f"single runs one process; {world_size} processes need ddp or fsdp",
    )
