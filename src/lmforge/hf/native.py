"""OLMo's own (native) checkpoints: ``model.pt`` or ``model.safetensors`` + OLMo's ``config.yaml``.

Tensor names are ``transformer.wte.weight``, ``transformer.blocks.N.{att_proj,attn_out,ff_proj,ff_out}``,
``transformer.blocks.N.{attn_norm,ff_norm,q_norm,k_norm}.weight`` (OLMo-2), ``transformer.ln_f.weight`` and
``transformer.ff_out.weight`` (untied output). lmforge's layout was chosen to match, so importing renames
tensors without touching them. ``model.pt`` is read with ``torch.load(weights_only=True)``: tensors only.
"""

from __future__ import annotations

import json
import os
import pickle  # only the exception type; loading is torch.load(weights_only=True)
import re
from typing import Any

import torch
import yaml
from safetensors import safe_open

from lmforge.models.folder import model_config_from_dict, model_from_state
from lmforge.nn.config import ModelConfig
from lmforge.nn.transformer import Transformer

# pytorch_model.bin: OLMo's own transformers wrapper (``model_type: hf_olmo``); read with weights_only too.
NATIVE_FILES = ("model.safetensors", "model.pt", "pytorch_model.bin")
_BLOCK = re.compile(r"^transformer\.blocks\.(\d+)\.(.+)$")
# Prefixes that wrappers (FSDP-1, torch.compile) add in front of OLMo's names.
_WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_orig_mod.", "module.", "model.")


def _weights_path(folder: str) -> str | None:
    for name in NATIVE_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _tensor_names(path: str) -> list[str]:
    if path.endswith(".safetensors"):
        with safe_open(path, framework="pt") as handle:
            return list(handle.keys())
    return list(_read_native_tensors(path, "cpu"))


def is_native_olmo_checkpoint(path: str) -> bool:
    weights = _weights_path(path)
    if weights is None:
        return False
    names = [_strip_wrappers(n) for n in _tensor_names(weights)]
    return "transformer.wte.weight" in names and any(_BLOCK.match(n) for n in names)


def _strip_wrappers(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix) and not name.startswith("transformer."):
                name, changed = name[len(prefix) :], True
    return name


def _read_native_tensors(path: str, device: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        with safe_open(path, framework="pt", device=device) as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    else:
        # weights_only: a checkpoint can hold tensors and plain containers, never arbitrary objects.
        try:
            try:  # mmap: looking at the names of a 28 GB checkpoint must not read 28 GB
                loaded = torch.load(path, map_location=device, weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):  # only the legacy (non-zip) format cannot be memory-mapped
                    raise
                loaded = torch.load(path, map_location=device, weights_only=True)
        except pickle.UnpicklingError as err:  # torch's long advice to drop weights_only is not for us
            parts = [part.strip() for part in str(err).split("\n\n")]
            detail = [part for part in parts[1:] if part and not part.startswith("Check the documentation")]
            reason = (detail or parts)[0].splitlines()[0] if str(err) else "unreadable"
            raise ValueError(
                f"{path}: not a tensors-only checkpoint (refused by torch.load(weights_only=True): {reason})"
            ) from None
        if isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
            loaded = loaded["model"]
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a state dict, found {type(loaded).__name__}")
        tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    return {_strip_wrappers(name): t for name, t in tensors.items()}


def _olmo_yaml_model_section(folder: str) -> dict[str, Any] | None:
    path = os.path.join(folder, "config.yaml")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: cannot parse OLMo's config.yaml: {err}") from None
    section = data.get("model") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f"{path}: no 'model' section")
    return section


def _from_olmo_yaml(section: dict[str, Any], path: str) -> dict[str, Any]:
    """Translate the fields of OLMo's ``ModelConfig`` that shape the network into lmforge's."""
    if section.get("include_bias") or section.get("bias_for_layer_norm"):
        raise ValueError(
            f"{path}: include_bias / bias_for_layer_norm are not supported (OLMo models use none)"
        )
    activation = section.get("activation_type", "swiglu")
    if activation != "swiglu":
        raise ValueError(f"{path}: activation_type={activation!r}; only swiglu is supported")
    if section.get("block_type", "sequential") != "sequential":
        raise ValueError(f"{path}: block_type={section['block_type']!r}; only sequential is supported")
    if section.get("alibi") or section.get("rope") is False:
        raise ValueError(f"{path}: only RoPE position embeddings are supported")
    # Options that change the function without adding weights: ignoring them would import without a word a
    # model whose logits differ from OLMo's (logits / sqrt(d_model); embeddings * sqrt(d_model)).
    for key in ("scale_logits", "input_emb_norm"):
        if section.get(key):
            raise ValueError(
                f"{path}: {key}: true is not supported (the lmforge Transformer has no such scaling)"
            )
    d_model, n_heads = int(section["d_model"]), int(section["n_heads"])
    fused_hidden = section.get("mlp_hidden_size") or int(section.get("mlp_ratio", 4) * d_model)
    n_kv_heads = 1 if section.get("multi_query_attention") else section.get("n_kv_heads")
    norm_type = section.get("layer_norm_type", "default")
    out: dict[str, Any] = {
        "d_model": d_model,
        "n_layers": int(section["n_layers"]),
        "n_heads": n_heads,
        "n_kv_heads": None if n_kv_heads in (None, n_heads) else int(n_kv_heads),
        "mlp_hidden_size": int(fused_hidden) // 2,  # OLMo counts both SwiGLU branches
        "max_sequence_length": int(section.get("max_sequence_length", 2048)),
        "rope_theta": float(section.get("rope_theta", 10000.0)),
        "norm_type": "rmsnorm" if norm_type in ("rms", "amd_compatible") else "layernorm",
        "norm_affine": bool(section.get("layer_norm_with_affine", False)),
        "norm_placement": "post" if section.get("norm_after") else "pre",
        "qk_norm": bool(section.get("attention_layer_norm", False)),
        "clip_qkv": section.get("clip_qkv"),
        "weight_tying": bool(section.get("weight_tying", False)),
    }
    if section.get("layer_norm_eps") is not None:
        out["norm_eps"] = float(section["layer_norm_eps"])
    elif out["norm_type"] == "rmsnorm":
        out["norm_eps"] = 1e-5  # OLMo's default for every norm type
    for key in ("vocab_size", "embedding_size", "eos_token_id", "pad_token_id"):
        if section.get(key) is not None:
            out[key] = int(section[key])
    if section.get("init_std") is not None:
        out["init_std"] = float(section["init_std"])
    return out


def _hf_olmo_section(folder: str) -> dict[str, Any] | None:
    """OLMo's transformers wrapper (``model_type: hf_olmo``) keeps OLMo's model fields in config.json."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        data = json.load(f)
    return data if data.get("model_type") == "hf_olmo" else None


def native_model_config(
    folder: str, tensors: dict[str, torch.Tensor], overrides: dict[str, Any] | None = None
) -> ModelConfig:
    """Architecture from OLMo's ``config.yaml`` (or an hf_olmo ``config.json``) when present; shapes from the
    tensors; then ``overrides``."""
    section: dict[str, Any] = {}
    olmo_yaml = _olmo_yaml_model_section(folder)
    source = os.path.join(folder, "config.yaml")
    if olmo_yaml is None:
        olmo_yaml, source = _hf_olmo_section(folder), os.path.join(folder, "config.json")
    if olmo_yaml is not None:
        section = _from_olmo_yaml(olmo_yaml, source)
    wte = tensors["transformer.wte.weight"]
    layers = {int(m.group(1)) for n in tensors if (m := _BLOCK.match(n))}
    inferred: dict[str, Any] = {
        "d_model": wte.shape[1],
        "n_layers": len(layers),
        "mlp_hidden_size": tensors["transformer.blocks.0.ff_proj.weight"].shape[0] // 2,
        "weight_tying": "transformer.ff_out.weight" not in tensors,
    }
    has_qk_norm = "transformer.blocks.0.q_norm.weight" in tensors
    if olmo_yaml is None:
        # Without OLMo's config the released families are told apart by their tensors.
        inferred.update(vocab_size=wte.shape[0], qk_norm=has_qk_norm)
        if has_qk_norm:
            inferred.update(
                norm_type="rmsnorm", norm_affine=True, norm_placement="post", norm_eps=1e-6, rope_theta=5e5
            )
    section = {**section, **inferred, **(overrides or {})}
    if "n_heads" not in section:
        raise ValueError(
            f"{folder}: the number of attention heads cannot be read from the weights; put OLMo's "
            "config.yaml beside them or pass --model.n_heads=N"
        )
    section["embedding_size"] = wte.shape[0]
    # Keep embedding_size only where the usual padding rule does not give it back (a cleaner config).
    if model_config_from_dict({**section, "embedding_size": None}).padded_vocab_size == wte.shape[0]:
        section["embedding_size"] = None
    return model_config_from_dict(section)


def from_native_state_dict(tensors: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    renames = {
        "att_proj.weight": "attention.att_proj.weight",
        "attn_out.weight": "attention.attn_out.weight",
        "q_norm.weight": "attention.q_norm.weight",
        "k_norm.weight": "attention.k_norm.weight",
        "ff_proj.weight": "feed_forward.ff_proj.weight",
        "ff_out.weight": "feed_forward.ff_out.weight",
        "attn_norm.weight": "attn_norm.weight",
        "ff_norm.weight": "ff_norm.weight",
    }
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for name, tensor in tensors.items():
        match = _BLOCK.match(name)
        if name == "transformer.wte.weight":
            out["embeddings.weight"] = tensor
        elif name == "transformer.ln_f.weight":
            out["final_norm.weight"] = tensor
        elif name == "transformer.ff_out.weight":
            out["lm_head.weight"] = tensor
        elif match and match.group(2) in renames:
            out[f"blocks.{match.group(1)}.{renames[match.group(2)]}"] = tensor
        else:
            unknown.append(name)
    if unknown:
        raise KeyError(f"unexpected tensors {sorted(unknown)[:5]}")
    return out


def load_native_olmo(
    path: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    overrides: dict[str, Any] | None = None,
) -> Transformer:
    weights = _weights_path(path)
    if weights is None:
        raise FileNotFoundError(f"{path}: no {' or '.join(NATIVE_FILES)}")
    tensors = _read_native_tensors(weights, str(device))
    config = native_model_config(path, tensors, overrides)
    try:
        state = from_native_state_dict(tensors, config)
    except KeyError as err:
        raise ValueError(f"{weights}: {err.args[0]}") from None
    return model_from_state(config, state, weights, device, dtype)
