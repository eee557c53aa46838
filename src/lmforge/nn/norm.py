"""Normalisation layers of the OLMo family, computed in fp32 whatever the activation dtype."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.nn.config import ModelConfig


class LayerNorm(nn.Module):
    """LayerNorm with no bias; OLMo-1 uses it without any affine parameters (``affine=False``)."""

    def __init__(self, size: int, eps: float = 1e-5, affine: bool = False) -> None:
        super().__init__()
        self.size = size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Upcast: bf16 statistics over thousands of channels lose precision (OLMo and HF do the same).
        out = F.layer_norm(x.float(), (self.size,), None, None, self.eps)
        if self.weight is not None:
            out = out * self.weight.float()
        return out.to(x.dtype)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)


class RMSNorm(nn.Module):
    """RMSNorm with a weight (OLMo-2, eps 1e-6); the weight multiplies in fp32 before the downcast."""

    def __init__(self, size: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__()
        self.size = size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        return F.rms_norm(x.float(), (self.size,), weight, self.eps).to(x.dtype)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)


def make_norm(config: ModelConfig, size: int | None = None) -> nn.Module:
    size = size or config.d_model
    if config.norm_type == "rmsnorm":
        return RMSNorm(size, config.norm_eps, config.norm_affine)
    return LayerNorm(size, config.norm_eps, config.norm_affine)
