"""The training loop: ``train(config)`` or ``Trainer(config).fit()``.

One optimizer step = one global batch of ``global_batch_size`` instances, split across ranks and into
micro-batches of ``microbatch_size``. Every micro-batch's loss is a *sum* over its tokens divided by the token
count of the whole global batch, so gradients are the exact mean over the global batch whatever the
micro-batch size or the number of ranks (FSDP/DDP average over ranks, which the world-size factor undoes).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import shutil
import sys
import time
from typing import Any

import torch

from lmforge.config import ConfigError, dump_yaml
from lmforge.distributed import checkpoint as ckpt
from lmforge.distributed.parallelize import parallelize, unwrap
from lmforge.distributed.process_group import DistInfo, all_reduce_sum, init_distributed, teardown
from lmforge.nn.flops import flops_per_token
from lmforge.nn.init import build_model
from lmforge.train.callbacks import (
    Callback,
    CheckpointCallback,
    EvalCallback,
    MetricsLogger,
    ProgressCallback,
    SpeedCallback,
    WandbCallback,
)
from lmforge.train.config import TrainConfig, validate_for_world
from lmforge.train.evaluators import Evaluator, build_evaluators
from lmforge.train.loss import IGNORE_INDEX, accumulator_dtype, loss_sums, next_token_labels
from lmforge.train.optim import build_optimizer, clip_grad_norm
from lmforge.train.schedule import clip_threshold, learning_rate
from lmforge.train.speed import SpeedMonitor, device_peak_flops


class TrainingStopped(RuntimeError):
    """The run stopped before max_steps (too many non-finite steps in a row)."""


@dataclasses.dataclass
class TrainResult:
    step: int
    tokens_seen: int
    loss: float | None  # training loss of the last step
    save_folder: str
    # The newest complete checkpoint in save_folder: the run's own weights, never load_path's (a run started
    # from another run's checkpoint that saved nothing itself has None here).
    checkpoint: str | None
    stopped: str  # "max_steps", "time_limit" or "nan"


class Trainer:
    def __init__(
        self, config: TrainConfig, dist: DistInfo | None = None, callbacks: list[Callback] | None = None
    ) -> None:
        self.config = config
        self.dist = dist or init_distributed(config.device, need_group=config.strategy != "single")
        self.device = self.dist.device
        validate_for_world(config, self.dist.world_size)
        self.model_config = config.model_config()
        self.seq_len = int(config.data.seq_len)

        meta_model = build_model(self.model_config, device="meta")
        self.model = parallelize(
            meta_model,
            strategy=config.strategy,
            device=self.device,
            seed=config.seed,
            activation_checkpointing=config.activation_checkpointing,
            compile=config.compile,
            bf16_params=config.precision == "bf16" and config.strategy == "fsdp",
            reshard_after_forward=config.fsdp_reshard_after_forward,
        )
        self.model.train()
        # FSDP casts parameters through its mixed-precision policy; the other strategies autocast.
        bf16_autocast = config.precision == "bf16" and config.strategy != "fsdp"
        self.autocast_dtype = torch.bfloat16 if bf16_autocast else None
        self.optimizer = build_optimizer(unwrap(self.model), config.optimizer, self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]

        from lmforge.data.loader import DataLoader

        self.loader = DataLoader(
            config.data,
            seed=config.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            work_dir=config.save_folder,
        )
        self._adopt_data_eos()
        self.evaluators: list[Evaluator] = build_evaluators(
            config.evaluators,
            seq_len=self.seq_len,
            microbatch_size=config.microbatch_size,
            token_dtype=str(self.loader.dtype),
            device=self.device,
            autocast_dtype=self.autocast_dtype,
            tokenizer_path=config.tokenizer,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        peak, self.peak_source = (
            (config.peak_flops, "config.peak_flops")
            if config.peak_flops
            else device_peak_flops(self.device, config.precision)
        )
        self.speed = SpeedMonitor(flops_per_token(self.model_config, self.seq_len), peak)

        # Trainer state (saved in every checkpoint).
        self.step = 0
        self.tokens_seen = 0
        self.consecutive_bad_steps = 0
        self.consecutive_spike_skips = 0
        self.loss_window: collections.deque[float] = collections.deque(maxlen=config.loss_spike.window)
        self.spike_seen = False
        self.wandb_run_id: str | None = None
        self.last_loss: float | None = None
        self.stopped = "max_steps"
        self.time_limit_hit = False
        self.last_checkpoint: str | None = None
        self.tokenizer_file: str | None = None  # the run folder's copy of config.tokenizer, set by fit()

        self.callbacks: list[Callback] = [
            SpeedCallback(),
            EvalCallback(),
            MetricsLogger(config.save_folder, self.dist.is_main),
            ProgressCallback(self.dist.is_main),
            WandbCallback(),
            CheckpointCallback(),
            *(callbacks or []),
        ]

    def _adopt_data_eos(self) -> None:
        """Record in the model config the EOS id that ends the documents of the token files.

        The model learns whatever id the data put between documents, and export, generate and eval read the
        model config's ``eos_token_id`` to stop and start documents. The presets keep OLMo-1's 50279, while
        ``lmforge tokenize`` ends documents with the tokenizer's EOS (0 for OLMo-1's own tokenizer, whose
        50279 is ``|||IP_ADDRESS|||``): without this, the export told transformers to stop generating at a
        token the model never learnt as a separator.
        """
        data_eos = self.loader.eos_token_id
        if data_eos is None or self.model_config.eos_token_id == data_eos:
            return
        if self.dist.is_main:
            print(
                f"lmforge train: model.eos_token_id {self.model_config.eos_token_id} is not the id that ends "
                f"the documents of data.paths ({data_eos}, data.eos_token_id or their manifest.json); the run "
                f"records {data_eos}, so export, generate and eval use the separator the model learns",
                file=sys.stderr,
                flush=True,
            )
        self.config.model["eos_token_id"] = data_eos
        self.model_config = self.config.model_config()

    def _check_tokenizer(self, path: str) -> str:
        """Refuse a ``tokenizer`` that is not one, has ids the embedding has no row for, or is not the one that
        made the token files (their ``manifest.json`` records its size and sha256), before step 0; warn when
        it leaves embedding rows unused. Returns its ``tokenizer.json`` (the config may name a file, a folder
        holding one, or a hub name)."""
        from lmforge.tokenize.tokenizer import (
            load_tokenizer,
            resolve_tokenizer_file,
            tokenizer_sha256,
            vocab_size,
        )

        file = resolve_tokenizer_file(path)
        size = vocab_size(load_tokenizer(file))
        if size > self.model_config.padded_vocab_size:
            raise ConfigError(
                "tokenizer",
                f"{path} has {size} ids but the model embeds only {self.model_config.padded_vocab_size} "
                "(set model.vocab_size)",
            )
        # The run folder and every export carry this file as *the* tokenizer of the model: one that did not
        # make the data would decode the trained model's ids into other words.
        made_data = {
            (str(t.get("sha256")), t.get("vocab_size"), str(t.get("name") or t.get("file")))
            for m in self.loader.manifests
            if isinstance(t := m.get("tokenizer"), dict) and t.get("sha256")
        }
        sha = tokenizer_sha256(file) if made_data else ""
        for data_sha, data_size, name in sorted(made_data, key=str):
            if data_sha == sha:
                continue
            if data_size is not None and int(data_size) != size:
                raise ConfigError(
                    "tokenizer",
                    f"{path} has {size} ids, but data.paths were tokenized with {name} ({data_size} ids, "
                    "their manifest.json): pass the tokenizer that made the data",
                )
            if self.dist.is_main:
                print(
                    f"lmforge train: warning: {path} is not byte-identical to {name}, the tokenizer that made "
                    f"data.paths (sha256 {sha[:12]}... vs {data_sha[:12]}... in their manifest.json); it is "
                    "copied into the run as the model's tokenizer",
                    file=sys.stderr,
                )
        vocab = self.model_config.vocab_size
        if size < vocab and self.dist.is_main:
            print(
                f"lmforge train: warning: {path} has {size} ids but model.vocab_size is {vocab}: "
                f"{vocab - size} embedding and output rows are never trained (a bigger, slower model); "
                f"--model.vocab_size={size} fits the model to the tokenizer",
                file=sys.stderr,
            )
        return file

    # ------------------------------------------------------------------------------------------ loop

    def fit(self) -> TrainResult:
        source = None
        if self.config.tokenizer:  # every rank: one failing alone would leave the others waiting
            source = self._check_tokenizer(self.config.tokenizer)
            # Checkpoints copy it from the run folder (local, written below), whatever the source was.
            self.tokenizer_file = os.path.join(self.config.save_folder, ckpt.TOKENIZER)
        if self.dist.is_main:
            os.makedirs(self.config.save_folder, exist_ok=True)
        self.restore()
        if self.dist.is_main:
            from lmforge.io import atomic_write, open_file, write_text

            write_text(os.path.join(self.config.save_folder, ckpt.CONFIG), dump_yaml(self.config))
            if source is not None and self.tokenizer_file:  # beside the checkpoints, where `export RUN` looks
                with (
                    open_file(source, "rb", compression=False) as src,
                    atomic_write(self.tokenizer_file, "wb", compression=False) as dst,
                ):
                    shutil.copyfileobj(src, dst)  # a kill mid-copy leaves the old file, never half of one
            print(
                f"lmforge train: {self.config.run_name} | {self.dist.world_size} x {self.device} | "
                f"strategy {self.config.strategy} | precision {self.config.precision} | "
                f"from step {self.step} | peak {self.speed.peak_flops:.3g} FLOP/s ({self.peak_source})",
                flush=True,
            )
            if self.step >= self.config.max_steps:  # a rerun of a finished command: say why nothing happens
                print(
                    f"lmforge train: {self.config.save_folder} is at step {self.step}, max_steps is "
                    f"{self.config.max_steps}: nothing to train (a larger --max_steps continues the run)",
                    flush=True,
                )
        for callback in self.callbacks:
            callback.on_train_start(self)
        started = time.monotonic()
        while self.step < self.config.max_steps:
            metrics = self.train_step()
            # Decided before the callbacks run, so the last step is logged and checkpointed like a final one.
            self.time_limit_hit = self.step < self.config.max_steps and self._time_limit_reached(started)
            for callback in self.callbacks:
                callback.on_step_end(self, metrics)
            if self.consecutive_bad_steps >= self.config.nan.max_consecutive:
                self.stopped = "nan"
                break
            if self.time_limit_hit:
                self.stopped = "time_limit"
                break
        for callback in self.callbacks:
            callback.on_train_end(self)
        self.loader.close()
        return TrainResult(
            step=self.step,
            tokens_seen=self.tokens_seen,
            loss=self.last_loss,
            save_folder=self.config.save_folder,
            checkpoint=ckpt.latest_checkpoint(self.config.save_folder),
            stopped=self.stopped,
        )

    def _time_limit_reached(self, started: float) -> bool:
        limit = self.config.time_limit_minutes
        if limit is None:
            return False
        # Every rank must stop at the same step: rank 0's clock decides for all.
        flag = torch.tensor([float(time.monotonic() - started >= 60.0 * limit)], device=self.device)
        if self.dist.world_size > 1:
            torch.distributed.broadcast(flag, src=0)
        return bool(flag.item())

    def is_log_step(self, step: int) -> bool:
        return step % self.config.log_interval == 0 or step == self.config.max_steps or self.time_limit_hit

    def is_eval_step(self, step: int) -> bool:
        interval = self.config.eval_interval
        if not interval or not self.evaluators:
            return False
        return step % interval == 0 or step == self.config.max_steps

    def is_metrics_row(self, step: int, metrics: dict[str, Any]) -> bool:
        """Whether ``step`` gets a metrics.jsonl row and a console line: log steps, and also eval steps and
        flagged (skipped, loss-spike) steps between them, which must never go unrecorded."""
        flagged = bool(metrics.get("skipped") or metrics.get("loss_spike"))
        return self.is_log_step(step) or self.is_eval_step(step) or flagged

    def batch_size_at(self, tokens_seen: int) -> int:
        """Instances in the next global batch (batch-size warm-up doubles it every N tokens)."""
        warm = self.config.batch_size_warmup
        if warm.start_batch_size is None:
            return self.config.global_batch_size
        doublings = tokens_seen // warm.double_every_tokens
        return min(self.config.global_batch_size, warm.start_batch_size * 2 ** min(doublings, 62))

    def _grad_sync(self, last: bool) -> contextlib.AbstractContextManager:
        # DDP all-reduces on every backward unless told not to; only the last micro-batch needs it.
        if self.config.strategy == "ddp" and not last:
            return self.model.no_sync()  # type: ignore[operator]
        return contextlib.nullcontext()

    def compute_loss(
        self, input_ids: torch.Tensor, labels: torch.Tensor, doc_lens: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sums of cross-entropy and z-loss over one micro-batch (a hook for subclasses and tests)."""
        logits = self.model(input_ids, doc_lens=doc_lens).logits
        return loss_sums(logits, labels, self.config.z_loss_multiplier)

    def train_step(self) -> dict[str, Any]:
        cfg = self.config
        start = time.perf_counter()
        step = self.step + 1
        global_batch = self.batch_size_at(self.tokens_seen)
        batch = self.loader.next_batch(global_batch)
        input_ids: torch.Tensor = batch["input_ids"]
        if int(input_ids.max()) >= self.model_config.padded_vocab_size:
            raise ConfigError(
                "model.vocab_size",
                f"token id {int(input_ids.max())} in data.paths does not fit model.vocab_size "
                f"{self.model_config.vocab_size} (embedding {self.model_config.padded_vocab_size}): the "
                "tokenizer that made the data and the model disagree",
            )
        label_mask = batch.get("label_mask")
        doc_lens = batch.get("doc_lens")
        labels = next_token_labels(input_ids, label_mask)
        if label_mask is not None:
            local = (labels != IGNORE_INDEX).sum().to(self.device, accumulator_dtype(self.device))
            count = all_reduce_sum(local).item()
        else:
            count = float(global_batch * (input_ids.shape[1] - 1))
        scale = self.dist.world_size / max(count, 1.0)

        sums = torch.zeros(2, dtype=accumulator_dtype(self.device), device=self.device)  # ce, z-loss
        rows, mbs = input_ids.shape[0], cfg.microbatch_size
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype
            else contextlib.nullcontext()
        )
        for first in range(0, rows, mbs):
            part = slice(first, first + mbs)
            ids = input_ids[part].to(self.device, non_blocking=True)
            lab = labels[part].to(self.device, non_blocking=True)
            lens = doc_lens[part].to(self.device, non_blocking=True) if doc_lens is not None else None
            with self._grad_sync(last=first + mbs >= rows):
                with autocast:
                    ce, z = self.compute_loss(ids, lab, lens)
                    loss = ce if z is None else ce + z
                (loss * scale).backward()
            sums[0] += ce.detach()
            if z is not None:
                sums[1] += z.detach()
        all_reduce_sum(sums)
        loss_value = (sums[0] / count).item()
        threshold = clip_threshold(cfg.max_grad_norm, step, cfg.clip_warmup_steps, cfg.clip_warmup_factor)
        grad_norm = clip_grad_norm(self.params, threshold).item()
        lr = learning_rate(cfg.scheduler, cfg.optimizer.lr, step, cfg.max_steps)

        self.spike_seen = False
        skip_reason = self._skip_reason(loss_value, grad_norm)
        if skip_reason is None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

        self.step = step
        self.tokens_seen += global_batch * self.seq_len
        self.last_loss = loss_value
        metrics: dict[str, Any] = {
            "step": step,
            "loss": loss_value,
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens_seen": self.tokens_seen,
            "batch_size": global_batch,
        }
        if cfg.z_loss_multiplier:
            metrics["z_loss"] = (sums[1] / count).item()
        if self.spike_seen or (skip_reason or "").startswith("loss spike"):
            metrics["loss_spike"] = 1
        if skip_reason is not None:
            metrics["skipped"] = 1
            metrics["skip_reason"] = skip_reason
        metrics["_tokens_this_rank"] = rows * self.seq_len
        metrics["_step_seconds"] = time.perf_counter() - start
        return metrics

    def _skip_reason(self, loss: float, grad_norm: float) -> str | None:
        """None to take the step; otherwise why it is skipped. Updates the NaN and spike bookkeeping."""
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.consecutive_bad_steps += 1
            return "non-finite loss" if not math.isfinite(loss) else "non-finite grad norm"
        self.consecutive_bad_steps = 0
        spike_cfg = self.config.loss_spike
        window = self.loss_window
        if spike_cfg.sigma > 0 and len(window) == window.maxlen:
            mean = sum(window) / len(window)
            std = math.sqrt(sum((x - mean) ** 2 for x in window) / (len(window) - 1))
            if loss > mean + spike_cfg.sigma * std:
                if spike_cfg.skip and self.consecutive_spike_skips < spike_cfg.max_consecutive_skips:
                    self.consecutive_spike_skips += 1
                    return f"loss spike ({loss:.4f} > {mean:.4f} + {spike_cfg.sigma} x {std:.4f})"
                self.spike_seen = True  # logged as loss_spike: 1 on this step
        self.consecutive_spike_skips = 0
        window.append(loss)
        return None

    # ------------------------------------------------------------------------------------------ eval

    def evaluate(self) -> dict[str, float]:
        """Run every evaluator; results as ``eval/<name>/<metric>`` (``eval/<metric>`` for an unnamed one). The training data and RNG are untouched."""
        results: dict[str, float] = {}
        for evaluator in self.evaluators:
            for metric, value in evaluator(self.model).items():
                results["/".join(filter(None, ("eval", evaluator.name, metric)))] = float(value)
        self.model.train()
        return results

    # ------------------------------------------------------------------------------------ checkpoints

    def trainer_state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tokens_seen": self.tokens_seen,
            "world_size": self.dist.world_size,
            "consecutive_spike_skips": self.consecutive_spike_skips,
            "loss_window": list(self.loss_window),
            "wandb_run_id": self.wandb_run_id,
            "data_loader": self.loader.state_dict(),
        }

    def save_checkpoint(self) -> str:
        self.last_checkpoint = ckpt.save_checkpoint(
            self.config.save_folder,
            self.step,
            self.model,
            self.optimizer,
            trainer_state=self.trainer_state(),
            rank_state={"rng": ckpt.rng_state(), "data_loader": self.loader.state_dict()},
            config_yaml=dump_yaml(self.config),
            tokenizer_path=self.tokenizer_file,
            keep=self.config.keep_checkpoints,
            remote_save_folder=self.config.remote_save_folder,
        )
        return self.last_checkpoint

    def restore(self) -> str | None:
        """Resume from the newest complete checkpoint in save_folder, else from ``load_path`` if set."""
        path = ckpt.latest_checkpoint(self.config.save_folder)
        if path is None and self.config.load_path:
            path = ckpt.resolve_checkpoint(self.config.load_path)
            if path is None:
                raise FileNotFoundError(f"load_path: no complete checkpoint at {self.config.load_path}")
        if path is None:
            return None
        state, rank_state = ckpt.load_checkpoint(path, self.model, self.optimizer)
        self.step = int(state["step"])
        self.tokens_seen = int(state["tokens_seen"])
        self.consecutive_spike_skips = int(state.get("consecutive_spike_skips", 0))
        self.loss_window.extend(state.get("loss_window", []))
        self.wandb_run_id = state.get("wandb_run_id")
        same_world = rank_state is not None and int(state.get("world_size", 1)) == self.dist.world_size
        # With the same ranks each restores its own loader and RNG state; on a new world size the loader's
        # global position (rank 0's state) is the authority and the RNG streams start fresh.
        self.loader.load_state_dict(rank_state["data_loader"] if same_world else state["data_loader"])
        if same_world:
            ckpt.set_rng_state(rank_state["rng"])
        self.last_checkpoint = path
        if self.dist.is_main:
            print(f"lmforge train: resumed from {path} (step {self.step})", flush=True)
        return path


def train(
    config: TrainConfig, callbacks: list[Callback] | None = None, trainer_cls: type[Trainer] = Trainer
) -> TrainResult:
    """Train per ``config`` in this process (one rank of a torchrun job, or alone). Raises
    :class:`TrainingStopped` when too many non-finite steps in a row stopped the run. ``trainer_cls``: a
    :class:`Trainer` subclass (e.g. overriding ``compute_loss``)."""
    dist = init_distributed(config.device, need_group=config.strategy != "single")
    try:
        result = trainer_cls(config, dist, callbacks).fit()
    except BaseException:
        teardown(dist, wait_for_peers=False)
        raise
    teardown(dist)
    if result.stopped == "nan":
        raise TrainingStopped(
            f"stopped at step {result.step} after {config.nan.max_consecutive} non-finite steps in a row; "
            f"last good checkpoint: {result.checkpoint or config.load_path or 'none'}"
        )
    return result
