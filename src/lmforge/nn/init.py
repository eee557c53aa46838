"""Weight initialisation: OLMo's "mitchell" scheme and "normal" (std 0.02), both truncated at 3 sigma.

Every parameter is drawn from its own generator seeded from (seed, parameter name), on the CPU, then copied
into place. So the weights depend only on the seed: not on the device, the order of initialisation, or how
the model is later sharded (a run at world size 1 and at 8 starts from the same numbers).
"""

from __future__ import annotations

import math

import torch
import xxhash
from torch import nn

from lmforge.nn.config import ModelConfig
from lmforge.nn.transformer import Transformer


def _param_std(config: ModelConfig, name: str, param: torch.Tensor) -> float | None:
    """Standard deviation for one parameter, or None for norm weights (initialised to one)."""
    if param.dim() == 1:
        return None
    if config.init_fn == "normal":
        return config.init_std
    # mitchell: 1/sqrt(fan_in); output projections shrink with depth, 1/sqrt(2 * fan_in * (layer + 1)).
    d = config.d_model
    if name.startswith("embeddings.") or name.startswith("lm_head."):
        return 1.0 / math.sqrt(d)
    if name.endswith("attn_out.weight") or name.endswith("ff_out.weight"):
        layer = int(name.split(".")[1])
        return 1.0 / math.sqrt(2 * param.shape[1] * (layer + 1))
    return 1.0 / math.sqrt(param.shape[1])


def _generator(seed: int, name: str) -> torch.Generator:
    return torch.Generator().manual_seed(xxhash.xxh64_intdigest(f"{seed}:{name}".encode()) & ((1 << 63) - 1))


@torch.no_grad()
def init_weights(model: Transformer, seed: int = 0) -> Transformer:
    """Initialise every parameter of ``model`` in place (it must not be on the meta device)."""
    config = model.config
    for name, param in model.named_parameters():
        std = _param_std(config, name, param)
        if std is None:
            param.fill_(1.0)
            continue
        values = torch.empty(param.shape, dtype=torch.float32)
        cutoff = config.init_cutoff_factor * std
        nn.init.trunc_normal_(
            values, mean=0.0, std=std, a=-cutoff, b=cutoff, generator=_generator(seed, name)
        )
        param.copy_(values.to(param.dtype))
    return model


def build_model(
    config: ModelConfig,
    *,
    device: str | torch.device = "cpu",
    seed: int | None = 0,
    dtype: torch.dtype = torch.float32,
) -> Transformer:
    """Build on the meta device (no memory), then materialise on ``device`` and initialise.

    ``device="meta"`` returns the bare meta model (for inspection or for sharding before materialising);
    ``seed=None`` materialises without initialising (weights are about to be loaded).
    """
    with torch.device("meta"):
        model = Transformer(config)
    if str(device) == "meta":
        return model
    model = model.to_empty(device=device).to(dtype)
    if seed is not None:
        init_weights(model, seed)
    return model
