"""AdamW with OLMo's parameter groups.

OLMo applies weight decay to the weights of Linear layers only; embeddings, norm weights and biases are not
decayed unless ``decay_embeddings`` / ``decay_norms`` say so. Groups are decided by module type, so they are
the same whether the parameters are plain tensors, DDP replicas or FSDP2 shards (DTensors).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from lmforge.config import require


@dataclasses.dataclass
class OptimizerConfig:
    lr: float = 4.0e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1.0e-5
    weight_decay: float = 0.1
    decay_embeddings: bool = False
    decay_norms: bool = False  # norm weights and biases
    fused: bool | None = None  # None: torch's fused AdamW kernel on CUDA and CPU where supported

    def validate(self) -> None:
        require(self.lr > 0, "lr", "must be positive")
        require(all(0.0 <= b < 1.0 for b in self.betas), "betas", "each must be in [0, 1)")
        require(self.eps > 0, "eps", "must be positive")
        require(self.weight_decay >= 0, "weight_decay", "must be >= 0")


def param_groups(model: nn.Module, cfg: OptimizerConfig) -> list[dict]:
    """Two groups, ``decay`` and ``no_decay``, each holding parameter names for inspection (``names``)."""
    decay: dict[str, nn.Parameter] = {}
    no_decay: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full_name = f"{module_name}.{param_name}" if module_name else param_name
            if isinstance(module, nn.Embedding):
                wants_decay = cfg.decay_embeddings
            elif isinstance(module, nn.Linear) and param_name == "weight":
                wants_decay = True
            else:  # norm weights, biases
                wants_decay = cfg.decay_norms
            (decay if wants_decay else no_decay)[full_name] = param
    groups = []
    for names_params, weight_decay in ((decay, cfg.weight_decay), (no_decay, 0.0)):
        if names_params:
            groups.append(
                {
                    "params": list(names_params.values()),
                    "names": list(names_params),
                    "weight_decay": weight_decay,
                }
            )
    return groups


def build_optimizer(model: nn.Module, cfg: OptimizerConfig, device: torch.device) -> torch.optim.AdamW:
    fused = cfg.fused
    if fused is None:
        fused = device.type in ("cuda", "cpu")
    groups = param_groups(model, cfg)
    for group in groups:
        group.pop("names")
    return torch.optim.AdamW(
        groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay, fused=fused
    )


def clip_grad_norm(parameters: list[nn.Parameter], max_norm: float | None) -> torch.Tensor:
    """The global L2 norm of all gradients (across FSDP shards too), clipping them to ``max_norm`` if set.

    With FSDP2 the gradients are DTensor shards; ``get_total_norm`` reduces their partial norms into one
    global value, which ``full_tensor()`` materialises on every rank, so every rank clips by the same factor.
    A non-finite norm is returned without clipping: the trainer then skips the step.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.nn.utils.get_total_norm(grads, norm_type=2.0, error_if_nonfinite=False)
    if hasattr(total, "full_tensor"):
        total = total.full_tensor()
    if max_norm is not None and torch.isfinite(total):
        torch.nn.utils.clip_grads_with_norm_(parameters, max_norm, total)
    return total
