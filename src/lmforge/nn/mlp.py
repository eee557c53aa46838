"""The SwiGLU feed-forward block with OLMo's fused projection."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.nn.config import ModelConfig


class SwiGLU(nn.Module):
    """``ff_out(silu(gate) * up)`` where ``ff_proj`` produces ``[up | gate]`` in one matmul.

    The order matches OLMo's native checkpoints (first half "up", second half "gate"), so importing them
    is a plain copy; Hugging Face keeps ``up_proj`` and ``gate_proj`` apart and :mod:`lmforge.hf` splits.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.hidden_size = config.mlp_hidden_size
        self.ff_proj = nn.Linear(config.d_model, 2 * config.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(config.mlp_hidden_size, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up, gate = self.ff_proj(x).chunk(2, dim=-1)
        return self.ff_out(F.silu(gate) * up)
