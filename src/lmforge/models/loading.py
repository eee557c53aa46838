"""``lmforge.load_model(path)``: any model folder a user may hold, as an ``nn.Module``.

Recognised, in this order:
1. a Hugging Face OLMo / OLMo-2 folder (``config.json`` with ``model_type`` olmo or olmo2);
2. an lmforge model folder (``config.yaml`` + ``model.safetensors``);
3. an lmforge training checkpoint (a DCP folder ``stepN/``) or a run folder (its ``latest`` checkpoint);
4. a native OLMo checkpoint (``model.pt`` / ``model.safetensors`` with ``transformer.blocks.N.att_proj``).
"""

from __future__ import annotations

import json
import os
import pickle  # only for the exception type torch.load(weights_only=True) raises; nothing is unpickled

import torch
from safetensors import SafetensorError

from lmforge.config import ConfigError
from lmforge.io import InputError
from lmforge.models.folder import is_model_folder, load_model_folder
from lmforge.nn.transformer import Transformer


def load_model(
    path: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Transformer:
    path = os.fspath(path)
    try:
        return _load_model(path, device, dtype)
    except (ConfigError, InputError, torch.OutOfMemoryError):
        raise
    except (ValueError, RuntimeError, SafetensorError, pickle.UnpicklingError) as err:
        # A corrupt or mismatched folder (bad JSON, unreadable safetensors header, weights that do not fit
        # the config) is bad input, not a bug: name the folder in one line instead of a traceback.
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if reason.startswith(f"{path}: "):
            reason = reason[len(path) + 2 :]
        raise InputError(path, None, reason) from err


def _load_model(path: str, device: str | torch.device, dtype: torch.dtype | None) -> Transformer:
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: not a model folder")
    hf_config = os.path.join(path, "config.json")
    if os.path.isfile(hf_config):
        with open(hf_config) as f:
            model_type = json.load(f).get("model_type")
        if model_type in ("olmo", "olmo2", "hf_olmo"):
            from lmforge.hf.convert import load_hf_folder

            return load_hf_folder(path, device=device, dtype=dtype)
    if is_model_folder(path):
        return load_model_folder(path, device=device, dtype=dtype)
    from lmforge.distributed import checkpoint as dcp_checkpoint

    ckpt = dcp_checkpoint.resolve_checkpoint(path)
    if ckpt is not None:
        return dcp_checkpoint.load_model_from_checkpoint(ckpt, device=device, dtype=dtype)
    from lmforge.hf.convert import is_native_olmo_checkpoint, load_native_olmo

    if is_native_olmo_checkpoint(path):
        return load_native_olmo(path, device=device, dtype=dtype)
    raise FileNotFoundError(
        f"{path}: not a Hugging Face OLMo folder, an lmforge model folder, a training checkpoint, "
        "or a native OLMo checkpoint"
    )
