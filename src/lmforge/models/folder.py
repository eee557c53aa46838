"""lmforge model folders: ``config.yaml`` (with a ``model:`` section) + ``model.safetensors`` [+ tokenizer].

This is what ``lmforge model init``, ``lmforge import`` and ``lmforge checkpoint unshard`` write and what
``lmforge.load_model`` reads. Tied output weights are stored once, under the embedding's name.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from lmforge.config import ConfigError, dump_yaml, from_dict, load_yaml, to_dict, validate
from lmforge.io import atomic_write, give_default_permissions
from lmforge.models.presets import resolve_model_section
from lmforge.nn.config import ModelConfig
from lmforge.nn.init import build_model
from lmforge.nn.transformer import Transformer

CONFIG_NAME = "config.yaml"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"


def model_config_from_dict(section: dict[str, Any]) -> ModelConfig:
    config = from_dict(ModelConfig, resolve_model_section(section), _prefix="model")
    validate(config, "model")
    return config


def read_model_config(folder: str) -> ModelConfig:
    path = os.path.join(folder, CONFIG_NAME)
    data = load_yaml(path)
    if "model" not in data:
        raise ConfigError("model", f"{path} has no 'model' section")
    return model_config_from_dict(data["model"])


def is_model_folder(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, CONFIG_NAME)) and os.path.isfile(
        os.path.join(folder, WEIGHTS_NAME)
    )


def save_model_folder(
    model: Transformer,
    folder: str,
    extra_config: dict[str, Any] | None = None,
    tokenizer_file: str | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write ``folder`` (created if needed); each file lands atomically."""
    os.makedirs(folder, exist_ok=True)
    state = state_dict if state_dict is not None else model.state_dict()
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in state.items()}
    if model.config.weight_tying:
        tensors.pop("lm_head.weight", None)
    config = {"model": to_dict(model.config), **(extra_config or {})}
    with atomic_write(os.path.join(folder, CONFIG_NAME), "wt") as f:
        f.write(dump_yaml(config))
    tmp = os.path.join(folder, f".{WEIGHTS_NAME}.tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    give_default_permissions(tmp)
    os.replace(tmp, os.path.join(folder, WEIGHTS_NAME))
    if tokenizer_file and os.path.abspath(tokenizer_file) != os.path.abspath(
        os.path.join(folder, TOKENIZER_NAME)
    ):
        # through a temporary name: a kill mid-copy must not leave a truncated tokenizer.json behind
        with (
            open(tokenizer_file, "rb") as src,
            atomic_write(os.path.join(folder, TOKENIZER_NAME), "wb") as dst,
        ):
            shutil.copyfileobj(src, dst)


def load_state_into(model: Transformer, tensors: dict[str, torch.Tensor], source: str) -> Transformer:
    expected = set(model.state_dict())
    missing = sorted(expected - set(tensors))
    unexpected = sorted(set(tensors) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{source}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    model.load_state_dict(tensors, strict=True, assign=False)
    return model


def model_from_state(
    config: ModelConfig,
    tensors: dict[str, torch.Tensor],
    source: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> Transformer:
    """Build ``config``'s model without initialising it and load ``tensors`` (lmforge names) into it.

    ``dtype=None`` keeps the stored dtype (the embedding's); ``source`` names the weights in errors.
    """
    if dtype is None:
        dtype = tensors["embeddings.weight"].dtype if "embeddings.weight" in tensors else torch.float32
    model = build_model(config, device=device, seed=None, dtype=dtype)
    return load_state_into(model, tensors, source)


def load_model_folder(
    folder: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Transformer:
    config = read_model_config(folder)
    tensors = load_file(os.path.join(folder, WEIGHTS_NAME), device=str(device))
    return model_from_state(config, tensors, folder, device, dtype)
