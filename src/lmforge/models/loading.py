"""``lmforge.load_model(path)``: any model folder a user may hold, as an ``nn.Module``.

Recognised, in this order:
1. a Hugging Face OLMo / OLMo-2 folder (``config.json`` with ``model_type`` olmo or olmo2);
2. an lmforge model folder (``config.yaml`` + ``model.safetensors``);
3. an lmforge training checkpoint (a DCP folder ``stepN/``) or a run folder (its ``latest`` checkpoint);
4. a native OLMo checkpoint (``model.pt`` / ``model.safetensors`` with ``transformer.blocks.N.att_proj``).
"""

from __future__ import annotations

import contextlib
import os
import pickle  # only for the exception type torch.load(weights_only=True) raises; nothing is unpickled
from collections.abc import Iterator

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
    with located_load_errors(path):
        return _load_model(path, device, dtype)


def check_tokenizer_fits(model: Transformer, tokenizer_ids: int, tokenizer_name: str) -> None:
    """A tokenizer with ids the embedding has no row for would fail mid-run with an IndexError: say so first."""
    rows = int(model.embeddings.weight.shape[0])
    if tokenizer_ids > rows:
        raise ConfigError(
            "tokenizer",
            f"{tokenizer_name} has {tokenizer_ids} ids but the model embeds only {rows}: not its tokenizer?",
        )


@contextlib.contextmanager
def located_load_errors(path: str) -> Iterator[None]:
    """Turn what a corrupt or mismatched model folder raises into one :class:`InputError` naming it.

    Bad JSON, an unreadable safetensors header or weights that do not fit the config are bad input, not
    bugs: the CLI prints one line instead of a traceback.
    """
    try:
        yield
    except (ConfigError, InputError, torch.OutOfMemoryError):
        raise
    except (ValueError, RuntimeError, SafetensorError, pickle.UnpicklingError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = lines[0] if lines else type(err).__name__
        if reason.endswith(":") and len(lines) > 1:
            # torch's "Error(s) in loading state_dict for Transformer:" says what is wrong on the next line
            # ("size mismatch for blocks.0.att_proj.weight: ... shape ..."): the first line alone says nothing
            reason = f"{reason} {lines[1]}" + (f" (and {len(lines) - 2} more)" if len(lines) > 2 else "")
        where = path
        if reason.startswith(path) and ": " in reason:  # already located (the folder or a file in it)
            where, reason = reason.split(": ", 1)
        raise InputError(where, None, reason) from err


def _load_model(path: str, device: str | torch.device, dtype: torch.dtype | None) -> Transformer:
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"{path}: " + ("not a model folder" if os.path.exists(path) else "no such folder")
        )
    hf_config = os.path.join(path, "config.json")
    if os.path.isfile(hf_config):
        from lmforge.hf.convert import read_config_json

        model_type = read_config_json(hf_config).get("model_type")
        if model_type in ("olmo", "olmo2", "hf_olmo"):
            from lmforge.hf.convert import load_hf_folder

            return load_hf_folder(path, device=device, dtype=dtype)
    if is_model_folder(path):
        return load_model_folder(path, device=device, dtype=dtype)
    from lmforge.distributed import checkpoint as dcp_checkpoint

    ckpt = dcp_checkpoint.resolve_checkpoint(path)
    if ckpt is not None:
        return dcp_checkpoint.load_model_from_checkpoint(ckpt, device=device, dtype=dtype)
    from lmforge.hf.native import is_native_olmo_checkpoint, load_native_olmo

    if is_native_olmo_checkpoint(path):
        return load_native_olmo(path, device=device, dtype=dtype)
    raise FileNotFoundError(
        f"{path}: not a Hugging Face OLMo folder, an lmforge model folder, a training checkpoint, "
        "or a native OLMo checkpoint"
    )
