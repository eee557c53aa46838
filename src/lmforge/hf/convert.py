"""Conversion between lmforge's parameter layout and transformers' ``OlmoForCausalLM`` / ``Olmo2ForCausalLM``.

lmforge keeps OLMo's fused projections (``att_proj`` = ``[q | k | v]``, ``ff_proj`` = ``[up | gate]``);
transformers keeps them apart. Converting is splitting and concatenating rows, so export followed by import
gives back the same tensors bit for bit. Everything is read with safetensors: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from lmforge.hf.native import load_native_olmo
from lmforge.io import atomic_write, give_default_permissions
from lmforge.models.folder import model_config_from_dict, model_from_state
from lmforge.nn.config import ModelConfig
from lmforge.nn.transformer import Transformer

ARCHITECTURES = {"olmo": "OlmoForCausalLM", "olmo2": "Olmo2ForCausalLM"}
HF_WEIGHTS = "model.safetensors"
HF_WEIGHTS_INDEX = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class UnsupportedFamilyError(ValueError):
    """The model's options match no transformers architecture (``ModelConfig.family == "custom"``)."""


def hf_config_dict(config: ModelConfig, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """The ``config.json`` transformers needs to rebuild ``config`` as OlmoForCausalLM / Olmo2ForCausalLM."""
    family = config.family
    if family not in ARCHITECTURES:
        c = config
        raise UnsupportedFamilyError(
            f"this model's options (norm_type={c.norm_type}, norm_affine={c.norm_affine}, "
            f"norm_placement={c.norm_placement}, qk_norm={c.qk_norm}, norm_eps={c.norm_eps}, "
            f"clip_qkv={c.clip_qkv}) match neither OLMo-1 nor OLMo-2, so transformers has no architecture "
            "computing the same function; the model can only be used through lmforge"
        )
    out: dict[str, Any] = {
        "architectures": [ARCHITECTURES[family]],
        "model_type": family,
        # transformers has no separate "embedding size": its vocab_size is the padded embedding matrix.
        "vocab_size": config.padded_vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.mlp_hidden_size,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.kv_heads,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_sequence_length,
        "initializer_range": config.init_std,
        "use_cache": True,
        "pad_token_id": config.pad_token_id,
        "bos_token_id": config.bos_token_id,
        "eos_token_id": config.eos_token_id,
        "tie_word_embeddings": config.weight_tying,
        # transformers >= 5 reads rope_parameters; 4.x reads the top-level rope_theta.
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "rope_theta": config.rope_theta,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "dtype": str(dtype).removeprefix("torch."),
        "torch_dtype": str(dtype).removeprefix("torch."),
    }
    if family == "olmo":
        out["clip_qkv"] = config.clip_qkv
    else:
        out["rms_norm_eps"] = config.norm_eps
    return out


# the sizes every OLMo config.json gives; checked first so that a hand-edited value ("big", 4.0) is named
# instead of failing in arithmetic further down
_HF_SIZES = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size")


def model_config_from_hf(hf: dict[str, Any], tokenizer_vocab_size: int | None = None) -> ModelConfig:
    """The :class:`ModelConfig` of a transformers OLMo / OLMo-2 ``config.json``."""
    model_type = hf.get("model_type")
    if model_type not in ("olmo", "olmo2"):
        raise ValueError(f"model_type {model_type!r} is not an OLMo architecture (expected olmo or olmo2)")
    if hf.get("attention_bias"):
        raise ValueError("attention_bias=true: OLMo models in lmforge have no biases")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act={hf['hidden_act']!r}: only SwiGLU (silu) is supported")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    # transformers 5 applies a legacy rope_scaling even beside rope_parameters: check both
    for scaling in (rope, hf.get("rope_scaling") or {}):
        if scaling.get("rope_type", scaling.get("type", "default")) not in ("default", None):
            raise ValueError(f"rope scaling {scaling!r} is not supported")
    theta = rope.get("rope_theta", hf.get("rope_theta", 10000.0))
    for key in _HF_SIZES:
        if key not in hf:
            raise ValueError(f"missing {key!r}")
        value = hf[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{key}: expected a positive integer, got {value!r}")
    n_heads = hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, hf["hidden_size"] // n_heads):
        raise ValueError(f"head_dim={hf['head_dim']} differs from hidden_size / num_attention_heads")
    embedding_size = int(hf["vocab_size"])
    vocab_size = embedding_size
    if tokenizer_vocab_size is not None and tokenizer_vocab_size <= embedding_size:
        vocab_size = tokenizer_vocab_size
    eos = hf.get("eos_token_id")
    if isinstance(eos, list):
        eos = eos[0] if eos else None
    section: dict[str, Any] = {
        "d_model": hf["hidden_size"],
        "n_layers": hf["num_hidden_layers"],
        "n_heads": n_heads,
        "n_kv_heads": hf.get("num_key_value_heads") or None,
        "mlp_hidden_size": hf["intermediate_size"],
        "vocab_size": vocab_size,
        "max_sequence_length": hf.get("max_position_embeddings", 2048),
        "rope_theta": float(theta),
        "weight_tying": bool(hf.get("tie_word_embeddings", False)),
        "init_std": float(hf.get("initializer_range", 0.02)),
        "eos_token_id": eos if eos is not None else 0,
        "pad_token_id": hf.get("pad_token_id") if hf.get("pad_token_id") is not None else 0,
        "bos_token_id": hf.get("bos_token_id"),
    }
    if section["n_kv_heads"] == n_heads:
        section["n_kv_heads"] = None
    # Store the embedding size only when the usual padding rule does not give it back.
    if ModelConfig(vocab_size=vocab_size).padded_vocab_size != embedding_size:
        section["embedding_size"] = embedding_size
    if model_type == "olmo":
        section.update(norm_type="layernorm", norm_affine=False, norm_eps=1e-5, norm_placement="pre")
        section["clip_qkv"] = hf.get("clip_qkv")
    else:
        section.update(
            norm_type="rmsnorm",
            norm_affine=True,
            norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
            norm_placement="post",
            qk_norm=True,
            init_fn="normal",
        )
    return model_config_from_dict(section)


def to_hf_state_dict(state: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """lmforge parameter names -> transformers names (fused projections split into views)."""
    q_size = config.n_heads * config.head_dim
    kv_size = config.kv_heads * config.head_dim
    hidden = config.mlp_hidden_size
    out: dict[str, torch.Tensor] = {"model.embed_tokens.weight": state["embeddings.weight"]}
    for i in range(config.n_layers):
        src, dst = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = state[src + "attention.att_proj.weight"].split((q_size, kv_size, kv_size), dim=0)
        out[dst + "self_attn.q_proj.weight"] = q
        out[dst + "self_attn.k_proj.weight"] = k
        out[dst + "self_attn.v_proj.weight"] = v
        out[dst + "self_attn.o_proj.weight"] = state[src + "attention.attn_out.weight"]
        up, gate = state[src + "feed_forward.ff_proj.weight"].split((hidden, hidden), dim=0)
        out[dst + "mlp.up_proj.weight"] = up
        out[dst + "mlp.gate_proj.weight"] = gate
        out[dst + "mlp.down_proj.weight"] = state[src + "feed_forward.ff_out.weight"]
        if config.qk_norm and config.norm_affine:
            out[dst + "self_attn.q_norm.weight"] = state[src + "attention.q_norm.weight"]
            out[dst + "self_attn.k_norm.weight"] = state[src + "attention.k_norm.weight"]
        if config.norm_affine:
            out[dst + "post_attention_layernorm.weight"] = state[src + "attn_norm.weight"]
            out[dst + "post_feedforward_layernorm.weight"] = state[src + "ff_norm.weight"]
    if config.norm_affine:
        out["model.norm.weight"] = state["final_norm.weight"]
    if not config.weight_tying:
        out["lm_head.weight"] = state["lm_head.weight"]
    return out


def from_hf_state_dict(tensors: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """transformers names -> lmforge names; raises on missing or left-over tensors."""
    remaining = dict(tensors)

    def take(name: str) -> torch.Tensor:
        if name not in remaining:
            raise KeyError(f"missing tensor {name!r}")
        return remaining.pop(name)

    out: dict[str, torch.Tensor] = {"embeddings.weight": take("model.embed_tokens.weight")}
    for i in range(config.n_layers):
        src, dst = f"model.layers.{i}.", f"blocks.{i}."
        qkv = [take(src + f"self_attn.{p}_proj.weight") for p in "qkv"]
        out[dst + "attention.att_proj.weight"] = torch.cat(qkv, dim=0)
        out[dst + "attention.attn_out.weight"] = take(src + "self_attn.o_proj.weight")
        up, gate = take(src + "mlp.up_proj.weight"), take(src + "mlp.gate_proj.weight")
        out[dst + "feed_forward.ff_proj.weight"] = torch.cat([up, gate], dim=0)
        out[dst + "feed_forward.ff_out.weight"] = take(src + "mlp.down_proj.weight")
        if config.qk_norm and config.norm_affine:
            out[dst + "attention.q_norm.weight"] = take(src + "self_attn.q_norm.weight")
            out[dst + "attention.k_norm.weight"] = take(src + "self_attn.k_norm.weight")
        if config.norm_affine:
            out[dst + "attn_norm.weight"] = take(src + "post_attention_layernorm.weight")
            out[dst + "ff_norm.weight"] = take(src + "post_feedforward_layernorm.weight")
    if config.norm_affine:
        out["final_norm.weight"] = take("model.norm.weight")
    if config.weight_tying:
        # A tied checkpoint may still carry a copy of the embedding as lm_head.weight.
        remaining.pop("lm_head.weight", None)
    else:
        out["lm_head.weight"] = take("lm_head.weight")
    # Rotary inverse frequencies were saved as buffers by old transformers versions; they are recomputed.
    leftovers = [name for name in remaining if not name.endswith("rotary_emb.inv_freq")]
    if leftovers:
        raise KeyError(f"unexpected tensors {sorted(leftovers)[:5]}")
    return out


# ------------------------------------------------------------------------------------------- folders


def _read_safetensors(path: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    with safe_open(path, framework="pt", device=device) as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118


def read_hf_weights(folder: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of a transformers folder: ``model.safetensors`` or its sharded index."""
    single = os.path.join(folder, HF_WEIGHTS)
    if os.path.isfile(single):
        return _read_safetensors(single, device)
    index = os.path.join(folder, HF_WEIGHTS_INDEX)
    if os.path.isfile(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        tensors: dict[str, torch.Tensor] = {}
        for shard in shards:
            tensors.update(_read_safetensors(os.path.join(folder, shard), device))
        return tensors
    if os.path.isfile(os.path.join(folder, "pytorch_model.bin")):
        raise FileNotFoundError(
            f"{folder}: only pytorch_model.bin (a pickle) is present; lmforge reads safetensors only. "
            "Convert it with transformers (save_pretrained(..., safe_serialization=True)) first."
        )
    raise FileNotFoundError(f"{folder}: no {HF_WEIGHTS} or {HF_WEIGHTS_INDEX}")


def _tokenizer_vocab_size(folder: str) -> int | None:
    path = os.path.join(folder, "tokenizer.json")
    if not os.path.isfile(path):
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path).get_vocab_size(with_added_tokens=True)


def read_config_json(path: str) -> dict[str, Any]:
    """A ``config.json`` as a dict; malformed JSON is a ``ValueError`` naming the file."""
    with open(path, "rb") as f:
        try:
            data = json.loads(f.read())
        except ValueError as err:  # JSONDecodeError and invalid UTF-8 alike
            raise ValueError(f"{path}: malformed JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def read_hf_config(folder: str) -> ModelConfig:
    path = os.path.join(folder, "config.json")
    hf = read_config_json(path)
    try:
        return model_config_from_hf(hf, _tokenizer_vocab_size(folder))
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def load_hf_folder(
    path: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Transformer:
    """A transformers OLMo / OLMo-2 folder (or OLMo's own ``hf_olmo`` wrapper) as a :class:`Transformer`."""
    if read_config_json(os.path.join(path, "config.json")).get("model_type") == "hf_olmo":
        return load_native_olmo(path, device=device, dtype=dtype)
    config = read_hf_config(path)
    hf_tensors = read_hf_weights(path, device=str(device))
    head, embed = hf_tensors.get("lm_head.weight"), hf_tensors.get("model.embed_tokens.weight")
    if config.weight_tying and head is not None and embed is not None and not torch.equal(head, embed):
        # transformers leaves such a model untied (its own lm_head), with a warning: compute what it computes
        import dataclasses
        import logging

        logging.getLogger(__name__).warning(
            "%s: tie_word_embeddings is true but lm_head.weight differs from the embedding: loaded untied, "
            "as transformers does",
            path,
        )
        config = dataclasses.replace(config, weight_tying=False)
    try:
        tensors = from_hf_state_dict(hf_tensors, config)
    except KeyError as err:
        raise ValueError(f"{path}: weights do not match config.json: {err.args[0]}") from None
    return model_from_state(config, tensors, path, device, dtype)


def export_hf_folder(
    model: Transformer,
    output: str,
    tokenizer_file: str | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Write ``output`` as a transformers folder; returns the config.json written.

    ``tokenizer_file``: a ``tokenizer.json`` to ship with the model; its ``tokenizer_config.json`` and
    ``special_tokens_map.json`` are copied when they sit beside it, and written otherwise, so
    ``AutoTokenizer`` loads the folder as well. An EOS / PAD id of the model config that does not fit that
    tokenizer (:func:`~lmforge.tokenize.tokenizer.special_ids_for`) is replaced by the tokenizer's own in the
    files written (the model is not changed).
    """
    config = model.config
    if tokenizer_file is not None:
        config = _with_tokenizer_special_ids(config, tokenizer_file)
    state = {name: t.detach() for name, t in model.state_dict().items()}
    if dtype is not None:
        state = {name: t.to(dtype) for name, t in state.items()}
    dtype = state["embeddings.weight"].dtype
    hf_config = hf_config_dict(config, dtype)  # raises for custom families before anything is written
    tensors = {name: t.to("cpu").contiguous() for name, t in to_hf_state_dict(state, config).items()}
    os.makedirs(output, exist_ok=True)
    tmp = os.path.join(output, f".{HF_WEIGHTS}.tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    give_default_permissions(tmp)
    os.replace(tmp, os.path.join(output, HF_WEIGHTS))
    with atomic_write(os.path.join(output, "config.json"), "wt") as f:
        f.write(json.dumps(hf_config, indent=2) + "\n")
    generation = {"eos_token_id": config.eos_token_id, "pad_token_id": config.pad_token_id}
    if config.bos_token_id is not None:
        generation["bos_token_id"] = config.bos_token_id
    with atomic_write(os.path.join(output, "generation_config.json"), "wt") as f:
        f.write(json.dumps(generation, indent=2) + "\n")
    if tokenizer_file is not None:
        write_tokenizer_files(tokenizer_file, output, config)
    return hf_config


def _with_tokenizer_special_ids(config: ModelConfig, tokenizer_file: str) -> ModelConfig:
    """``config`` with the shipped tokenizer's EOS / PAD where the config's ids do not fit it (a run that
    kept a preset's OLMo-1 ids with its own tokenizer): transformers must stop where the model learnt to."""
    import dataclasses

    from lmforge.tokenize.tokenizer import load_tokenizer, special_ids_for

    eos, pad = special_ids_for(load_tokenizer(tokenizer_file), config.eos_token_id, config.pad_token_id)
    return dataclasses.replace(config, eos_token_id=eos, pad_token_id=pad)


def write_tokenizer_files(tokenizer_file: str, output: str, config: ModelConfig) -> None:
    """Copy ``tokenizer.json`` (+ companions) and write the small files ``AutoTokenizer`` reads beside it."""
    source_dir = os.path.dirname(os.path.abspath(tokenizer_file))
    sources = {"tokenizer.json": tokenizer_file}
    sources.update({name: os.path.join(source_dir, name) for name in TOKENIZER_FILES[1:]})
    for name, src in sources.items():
        dst = os.path.join(output, name)
        if os.path.isfile(src) and os.path.abspath(src) != os.path.abspath(dst):
            with open(src, "rb") as source, atomic_write(dst, "wb", compression=False) as target:
                shutil.copyfileobj(source, target)  # never a truncated tokenizer file after a kill
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(output, "tokenizer.json"))
    special: dict[str, str] = {}
    for key, token_id in (
        ("eos_token", config.eos_token_id),
        ("pad_token", config.pad_token_id),
        ("bos_token", config.bos_token_id),
    ):
        token = tokenizer.id_to_token(token_id) if token_id is not None else None
        if token is not None:
            special[key] = token
    if not os.path.isfile(os.path.join(output, "special_tokens_map.json")):
        with atomic_write(os.path.join(output, "special_tokens_map.json"), "wt") as f:
            f.write(json.dumps(special, indent=2) + "\n")
    if not os.path.isfile(os.path.join(output, "tokenizer_config.json")):
        tokenizer_config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": config.max_sequence_length,
            "clean_up_tokenization_spaces": False,
            **special,
        }
        with atomic_write(os.path.join(output, "tokenizer_config.json"), "wt") as f:
            f.write(json.dumps(tokenizer_config, indent=2) + "\n")
