"""Pure ``nn.Module`` code of the OLMo family. No torch.distributed here."""

from lmforge.nn.config import ModelConfig
from lmforge.nn.flops import flops_per_token, num_params
from lmforge.nn.init import build_model, init_weights
from lmforge.nn.transformer import ModelOutput, Transformer

__all__ = [
    "ModelConfig",
    "ModelOutput",
    "Transformer",
    "build_model",
    "flops_per_token",
    "init_weights",
    "num_params",
]
