"""In-loop evaluators: called every ``eval_interval`` steps with the training model.

An evaluator is anything with a ``name`` and ``__call__(model) -> dict[str, float]``. It must not touch the
data loader or any RNG, so evaluating never changes the training trajectory. ``ppl_tokens`` (perplexity on
held-out token files) lives here; ``downstream`` and ``ppl_docs`` come from :mod:`lmforge.eval.inloop`.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from lmforge.config import ConfigError
from lmforge.distributed.process_group import all_reduce_sum
from lmforge.io import InputError, expand_paths
from lmforge.train.loss import IGNORE_INDEX, accumulator_dtype, loss_sums, next_token_labels


@runtime_checkable
class Evaluator(Protocol):
    name: str

    def __call__(self, model: nn.Module) -> dict[str, float]: ...


class TokenPerplexity:
    """Mean next-token loss and perplexity over held-out OLMo token files.

    The files are cut into consecutive ``seq_len`` windows (in file order, no shuffling), and at most
    ``max_batches`` batches of ``batch_size`` windows are scored. Ranks score interleaved batches and the
    sums are all-reduced, so the result does not depend on the world size.
    """

    def __init__(
        self,
        name: str,
        paths: list[str],
        seq_len: int,
        batch_size: int,
        max_batches: int | None,
        token_dtype: str,
        device: torch.device,
        autocast_dtype: torch.dtype | None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.name = name
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.device = device
        self.autocast_dtype = autocast_dtype
        self.rank, self.world_size = rank, world_size
        self.windows: list[tuple[np.ndarray, int]] = []
        for path in expand_paths(paths):
            size, itemsize = os.path.getsize(path), np.dtype(token_dtype).itemsize
            if size % itemsize:  # checked here: np.memmap's own error names neither the file nor the dtype
                raise InputError(path, None, f"{size} bytes is not a whole number of {token_dtype} values")
            if size == 0:
                continue
            tokens = np.memmap(path, dtype=np.dtype(token_dtype), mode="r")
            self.windows += [(tokens, start) for start in range(0, len(tokens) - seq_len + 1, seq_len)]
        if not self.windows:
            raise ConfigError(f"evaluators.{name}.paths", f"no {seq_len}-token window in {paths}")
        total = math.ceil(len(self.windows) / batch_size)
        self.num_batches = min(total, max_batches) if max_batches else total

    def _batch(self, index: int) -> torch.Tensor:
        chunk = self.windows[index * self.batch_size : (index + 1) * self.batch_size]
        rows = [np.asarray(tokens[start : start + self.seq_len], dtype=np.int64) for tokens, start in chunk]
        return torch.from_numpy(np.stack(rows)).to(self.device)

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        sums = torch.zeros(2, dtype=accumulator_dtype(self.device), device=self.device)  # loss, tokens
        # Every rank runs the same number of forwards (FSDP's all-gathers are collective); a rank without a
        # batch of its own re-scores batch 0 with weight 0.
        rounds = math.ceil(self.num_batches / self.world_size)
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype
            else contextlib.nullcontext()
        )
        for round_ in range(rounds):
            index = round_ * self.world_size + self.rank
            weight = 1.0 if index < self.num_batches else 0.0
            input_ids = self._batch(index if weight else 0)
            labels = next_token_labels(input_ids)
            with autocast:
                logits = model(input_ids).logits
            ce, _ = loss_sums(logits, labels)
            sums[0] += weight * ce
            sums[1] += weight * (labels != IGNORE_INDEX).sum()
        all_reduce_sum(sums)
        model.train(was_training)
        loss = (sums[0] / sums[1]).item()
        return {"loss": loss, "ppl": math.exp(min(loss, 700.0)), "tokens": sums[1].item()}


def build_evaluators(
    specs: list[dict[str, Any]],
    *,
    seq_len: int,
    microbatch_size: int,
    token_dtype: str,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
    tokenizer_path: str | None,
    rank: int,
    world_size: int,
) -> list[Evaluator]:
    evaluators: list[Evaluator] = []
    for i, spec in enumerate(specs):
        spec = dict(spec)
        kind, name = spec.get("kind"), spec.get("name")
        if kind == "ppl_tokens":
            unknown = set(spec) - {"name", "kind", "paths", "max_batches", "batch_size", "seq_len", "dtype"}
            if unknown:
                raise ConfigError(f"evaluators[{i}].{sorted(unknown)[0]}", "unknown field for ppl_tokens")
            if not spec.get("paths"):
                raise ConfigError(f"evaluators[{i}].paths", "is required for ppl_tokens")
            paths = spec["paths"] if isinstance(spec["paths"], list) else [spec["paths"]]
            paths = [os.path.expanduser(p) for p in paths]
            evaluators.append(
                TokenPerplexity(
                    name=str(name),
                    paths=paths,
                    seq_len=int(spec.get("seq_len", seq_len)),
                    batch_size=int(spec.get("batch_size", microbatch_size)),
                    max_batches=spec.get("max_batches"),
                    token_dtype=str(spec.get("dtype", token_dtype)),
                    device=device,
                    autocast_dtype=autocast_dtype,
                    rank=rank,
                    world_size=world_size,
                )
            )
        elif kind in ("downstream", "ppl_docs"):
            from lmforge.eval.inloop import build_inloop_evaluator  # the evaluation package, imported lazily

            evaluators.append(build_inloop_evaluator(spec, tokenizer_path))
        else:
            raise ConfigError(
                f"evaluators[{i}].kind", f"must be ppl_tokens, downstream or ppl_docs, got {kind!r}"
            )
    return evaluators
