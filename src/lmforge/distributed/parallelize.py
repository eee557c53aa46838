"""Apply parallelism to a model from the outside, in torchtitan's order.

activation checkpointing -> torch.compile -> FSDP2 (per block, then the root) on the *meta-device* model,
then materialise on the real device and initialise. Model code in :mod:`lmforge.nn` stays free of all of it.

Activation checkpointing and compile replace a block's ``forward`` on the instance instead of wrapping the
module, so parameter names never change (``blocks.3.attention.att_proj.weight`` with or without them): the
seeded initialisation, the optimizer groups and the checkpoints all key on those names. FSDP's hooks sit on
the block's ``__call__``, outside the compiled / checkpointed forward, as with torchtitan's wrappers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from lmforge.nn.init import init_weights
from lmforge.nn.transformer import Transformer

Strategy = Literal["single", "ddp", "fsdp"]
_AC_PATTERN = re.compile(r"^(none|full|one_in_(\d+))$")


def parse_activation_checkpointing(mode: str) -> int:
    """``none`` -> 0, ``full`` -> 1 (every block), ``one_in_N`` -> N (every N-th block)."""
    match = _AC_PATTERN.match(mode)
    if not match:
        raise ValueError(f"activation_checkpointing must be none, full or one_in_N, got {mode!r}")
    if match.group(1) == "none":
        return 0
    if match.group(1) == "full":
        return 1
    every = int(match.group(2))
    if every < 1:
        raise ValueError("activation_checkpointing: N in one_in_N must be >= 1")
    return every


def _checkpointed(forward: Callable[..., Any]) -> Callable[..., Any]:
    # Non-reentrant checkpointing recomputes the whole layer in backward. OLMo has no dropout, so there is
    # no RNG state to preserve (and skipping it saves time).
    def run(*args: Any, **kwargs: Any) -> Any:
        return checkpoint(forward, *args, use_reentrant=False, preserve_rng_state=False, **kwargs)

    return run


def apply_activation_checkpointing(model: Transformer, every: int) -> int:
    """Checkpoint every ``every``-th block (1: all). Returns the number of checkpointed blocks."""
    count = 0
    if every <= 0:
        return count
    for index, block in enumerate(model.blocks.values()):
        if index % every == 0:
            block.forward = _checkpointed(block.forward)  # type: ignore[method-assign]
            count += 1
    return count


def apply_compile(model: Transformer) -> None:
    """Compile each block's forward separately: identical blocks share one compiled graph, and compile
    time stays that of one layer however deep the model is."""
    for block in model.blocks.values():
        block.forward = torch.compile(block.forward)  # type: ignore[method-assign]


def apply_fsdp(
    model: Transformer,
    mesh: Any | None = None,
    param_dtype: torch.dtype | None = None,
    reduce_dtype: torch.dtype = torch.float32,
    reshard_after_forward: bool = True,
) -> None:
    """FSDP2: shard each block, then the root (embeddings, final norm, output layer).

    ``param_dtype=bf16`` gathers bf16 parameters for compute while the sharded fp32 parameters stay the
    optimizer's master weights; gradients are reduce-scattered in ``reduce_dtype`` (fp32).
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    blocks = list(model.blocks.values())
    for index, block in enumerate(blocks):
        # The last block is resharded by the root right away; keeping it gathered avoids a second all-gather
        # at the start of backward (torchtitan does the same).
        last = index == len(blocks) - 1
        fully_shard(
            block, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward and not last
        )
    fully_shard(model, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)


class _FullParameterView:
    """Shows :func:`init_weights` each parameter as a full tensor, one at a time.

    ``init_weights`` fills the parameters it is given in order; for an FSDP shard (a DTensor) this yields a
    full-size CPU buffer instead and, once it has been filled, copies this rank's slice of it into the shard.
    Only one full parameter exists at a time, and the numbers are those of an unsharded model.
    """

    def __init__(self, model: nn.Module) -> None:
        self.config = model.config  # type: ignore[attr-defined]
        self._model = model

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        from torch.distributed.tensor import DTensor, distribute_tensor

        for name, param in self._model.named_parameters():
            if not isinstance(param, DTensor):
                yield name, param
                continue
            full = torch.empty(param.shape, dtype=param.dtype)
            yield name, full  # init_weights fills it before asking for the next parameter
            with torch.no_grad():
                # src_data_rank=None: every rank holds the same full tensor, so each just keeps its slice.
                local = distribute_tensor(
                    full.to(param.device), param.device_mesh, param.placements, src_data_rank=None
                ).to_local()
                param.to_local().copy_(local)


def materialize(model: nn.Module, device: torch.device, seed: int) -> None:
    """Allocate a meta-device (possibly sharded) model on ``device`` and initialise it from ``seed``;
    every world size starts from the same weights (see :mod:`lmforge.nn.init`)."""
    model.to_empty(device=device)
    init_weights(_FullParameterView(model), seed)  # type: ignore[arg-type]


def parallelize(
    model: Transformer,
    *,
    strategy: Strategy,
    device: torch.device,
    seed: int,
    activation_checkpointing: str = "none",
    compile: bool = False,
    bf16_params: bool = False,
    reshard_after_forward: bool = True,
) -> nn.Module:
    """The model ready to train: wrapped per ``strategy``, on ``device``, initialised from ``seed``.

    ``model`` must be on the meta device (``build_model(config, device="meta")``). Returns the module to
    call (the DDP wrapper for ``ddp``; the model itself otherwise).
    """
    apply_activation_checkpointing(model, parse_activation_checkpointing(activation_checkpointing))
    if compile:
        apply_compile(model)
    if strategy == "fsdp":
        apply_fsdp(
            model,
            param_dtype=torch.bfloat16 if bf16_params else None,
            reshard_after_forward=reshard_after_forward,
        )
        materialize(model, device, seed)
        return model
    materialize(model, device, seed)
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)
    return model


def unwrap(model: nn.Module) -> Transformer:
    """The :class:`Transformer` inside a DDP wrapper (FSDP2 shards in place, so nothing to unwrap)."""
    return getattr(model, "module", model)  # type: ignore[return-value]
