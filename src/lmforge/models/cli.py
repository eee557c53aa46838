"""``lmforge model info`` and ``lmforge model init``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from lmforge.config import parse_overrides
from lmforge.models.folder import model_config_from_dict, save_model_folder
from lmforge.nn.config import ModelConfig
from lmforge.nn.flops import flops_per_token, num_params
from lmforge.nn.init import build_model


def _resolve(preset: str, overrides: Sequence[str]) -> ModelConfig:
    section = parse_overrides(overrides).get("model", {})
    unknown = set(parse_overrides(overrides)) - {"model"}
    if unknown:
        from lmforge.config import ConfigError

        raise ConfigError(sorted(unknown)[0], "only --model.FIELD=VALUE overrides are accepted here")
    return model_config_from_dict({"preset": preset, **section})


def _fit_tokenizer(path: str, config: ModelConfig, overridden: set[str]) -> ModelConfig:
    """Refuse a file that is not a tokenizer, or one with ids the embedding has no row for; take the
    tokenizer's EOS / PAD ids where the preset's do not fit it (see special_ids_for) and were not given."""
    import dataclasses

    from lmforge.tokenize.tokenizer import load_tokenizer, special_ids_for, vocab_size

    tok = load_tokenizer(path)
    size = vocab_size(tok)
    if size > config.padded_vocab_size:
        from lmforge.config import ConfigError

        raise ConfigError(
            "model.vocab_size",
            f"{path} has {size} ids but the model embeds only {config.padded_vocab_size}; "
            f"pass --model.vocab_size={size}",
        )
    eos, pad = special_ids_for(tok, config.eos_token_id, config.pad_token_id)
    ids = {"eos_token_id": eos, "pad_token_id": pad}
    return dataclasses.replace(config, **{k: v for k, v in ids.items() if k not in overridden})


def info(config: ModelConfig, seq_len: int | None = None) -> dict:
    seq_len = seq_len or config.max_sequence_length
    meta = build_model(config, device="meta")  # counted from real modules, never allocated
    counted = sum(p.numel() for p in meta.parameters())
    assert counted == num_params(config), (counted, num_params(config))
    return {
        "preset": config.preset,
        "family": config.family,
        "num_params": counted,
        "num_non_embedding_params": num_params(config, include_embedding=False),
        "seq_len": seq_len,
        "flops_per_token": flops_per_token(config, seq_len),
        "d_model": config.d_model,
        "n_layers": config.n_layers,
        "n_heads": config.n_heads,
        "n_kv_heads": config.kv_heads,
        "vocab_size": config.vocab_size,
        "embedding_size": config.padded_vocab_size,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lmforge model", description="Inspect or initialise model presets.")
    sub = parser.add_subparsers(dest="action", required=True)
    p_info = sub.add_parser("info", help="parameter count and training FLOPs per token, as JSON (no weights)")
    p_info.add_argument("--preset", required=True)
    p_info.add_argument("--seq-len", type=int, default=None)
    p_init = sub.add_parser(
        "init", help="write an initialised model folder (config.yaml + model.safetensors)"
    )
    p_init.add_argument("--preset", required=True)
    p_init.add_argument("--seed", type=int, default=0)
    p_init.add_argument("--output", required=True)
    p_init.add_argument("--tokenizer", default=None, help="tokenizer.json to store beside the weights")
    args, rest = parser.parse_known_args(list(argv))
    config = _resolve(args.preset, rest)
    if getattr(args, "seq_len", None) is not None and args.seq_len < 1:
        parser.error("--seq-len must be at least 1")
    if args.action == "init" and args.tokenizer:
        config = _fit_tokenizer(args.tokenizer, config, set(parse_overrides(rest).get("model", {})))
    if args.action == "info":
        print(json.dumps(info(config, args.seq_len), indent=2))
        return 0
    model = build_model(config, seed=args.seed)
    save_model_folder(model, args.output, extra_config={"seed": args.seed}, tokenizer_file=args.tokenizer)
    print(json.dumps({"output": args.output, **info(config)}, indent=2))
    return 0
