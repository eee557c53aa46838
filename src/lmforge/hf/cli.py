"""``lmforge export`` (lmforge -> transformers folder) and ``lmforge import`` (transformers / OLMo -> lmforge)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import torch

from lmforge.config import ConfigError, parse_overrides

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def find_tokenizer(model_path: str) -> str | None:
    """The ``tokenizer.json`` that belongs to a model: in its folder, in the checkpoint a run folder resolves
    to (``stepN/`` holds a copy), or in the run folder above a ``stepN/``."""
    folders = [model_path]
    if not os.path.isfile(os.path.join(model_path, "tokenizer.json")):
        try:
            from lmforge.distributed.checkpoint import resolve_checkpoint

            resolved = resolve_checkpoint(model_path)
        except ImportError:  # a build without the training stack
            resolved = None
        if resolved:
            folders.append(resolved)
    folders.append(os.path.dirname(os.path.abspath(model_path)))
    for folder in folders:
        candidate = os.path.join(folder, "tokenizer.json")
        if os.path.isfile(candidate):
            return candidate
    return None


def _tokenizer_arg(value: str | None) -> str | None:
    if value is None:
        return None
    path = os.path.join(value, "tokenizer.json") if os.path.isdir(value) else value
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{value}: no tokenizer.json")
    from lmforge.tokenize.tokenizer import load_tokenizer

    load_tokenizer(path)  # refuse a file that is not a tokenizer before anything is written
    return path


def export_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lmforge export",
        description="Write a Hugging Face folder (config.json + model.safetensors + tokenizer) that "
        "transformers loads as OlmoForCausalLM or Olmo2ForCausalLM.",
    )
    parser.add_argument(
        "model", help="lmforge model folder, training checkpoint, or any folder load_model reads"
    )
    parser.add_argument("--output", required=True, help="the Hugging Face folder to write")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default: as stored")
    parser.add_argument(
        "--tokenizer", default=None, help="tokenizer.json (default: the one beside the model)"
    )
    args = parser.parse_args(list(argv))

    from lmforge.hf.convert import UnsupportedFamilyError, export_hf_folder
    from lmforge.models.loading import load_model

    model = load_model(args.model)
    tokenizer = _tokenizer_arg(args.tokenizer) or find_tokenizer(args.model)
    try:
        hf_config = export_hf_folder(model, args.output, tokenizer, DTYPES.get(args.dtype or ""))
    except UnsupportedFamilyError as err:
        print(f"lmforge export: {args.model}: cannot export a 'custom' model: {err}", file=sys.stderr)
        return 2
    from lmforge.distributed.checkpoint import resolve_checkpoint

    summary = {
        "output": args.output,
        # A run folder exports its newest checkpoint, which a live run keeps replacing: say which one it was.
        **({"checkpoint": checkpoint} if (checkpoint := resolve_checkpoint(args.model)) else {}),
        "architecture": hf_config["architectures"][0],
        "dtype": hf_config["dtype"],
        "tokenizer": tokenizer,
    }
    print(json.dumps(summary, indent=2))
    if tokenizer is None:  # the weights alone load, but AutoTokenizer.from_pretrained(output) will not
        print(
            f"lmforge export: no tokenizer.json beside {args.model}, so {args.output} has no tokenizer files: "
            "pass --tokenizer FILE",
            file=sys.stderr,
        )
    return 0


def import_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lmforge import",
        description="Convert a Hugging Face OLMo / OLMo-2 folder or a native OLMo checkpoint (model.pt or "
        "model.safetensors, with OLMo's config.yaml) into an lmforge model folder.",
        epilog="Extra --model.FIELD=VALUE arguments fill in what a native checkpoint without config.yaml "
        "cannot tell (e.g. --model.n_heads=16).",
    )
    parser.add_argument("source", help="Hugging Face folder or native OLMo checkpoint folder")
    parser.add_argument("--output", required=True, help="the lmforge model folder to write")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default: as stored")
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer.json or a folder with one (default: the source's; native OLMo checkpoints have none)",
    )
    args, rest = parser.parse_known_args(list(argv))
    overrides = parse_overrides(rest)
    if set(overrides) - {"model"}:
        raise ConfigError(
            sorted(set(overrides) - {"model"})[0], "only --model.FIELD=VALUE overrides are accepted"
        )

    from lmforge.hf.convert import load_hf_folder
    from lmforge.hf.native import is_native_olmo_checkpoint, load_native_olmo
    from lmforge.models.folder import save_model_folder
    from lmforge.models.loading import located_load_errors

    source = args.source
    dtype = DTYPES.get(args.dtype or "")
    is_hf = os.path.isfile(os.path.join(source, "config.json"))
    with located_load_errors(source):  # peeking at an unreadable model.pt is already bad input
        is_native = not is_hf and is_native_olmo_checkpoint(source)
    if is_hf:
        with located_load_errors(source):
            model = load_hf_folder(source, dtype=dtype)
        kind = "huggingface"
    elif is_native:
        with located_load_errors(source):
            model = load_native_olmo(source, dtype=dtype, overrides=overrides.get("model"))
        kind = "olmo-native"
    else:
        raise FileNotFoundError(
            f"{source}: neither a Hugging Face folder (config.json) nor a native OLMo checkpoint "
            "(model.pt / model.safetensors with transformer.blocks.N.att_proj.weight)"
        )
    tokenizer = _tokenizer_arg(args.tokenizer)
    if tokenizer is not None:  # refuse another model's tokenizer now, not at the first eval / generate
        from lmforge.models.loading import check_tokenizer_fits
        from lmforge.tokenize.tokenizer import load_tokenizer

        ids = load_tokenizer(tokenizer).get_vocab_size(with_added_tokens=True)
        check_tokenizer_fits(model, ids, args.tokenizer)
    elif os.path.isfile(os.path.join(source, "tokenizer.json")):
        tokenizer = find_tokenizer(source)
    save_model_folder(
        model,
        args.output,
        extra_config={"imported_from": {"path": source, "format": kind}},
        tokenizer_file=tokenizer,
    )
    if tokenizer is not None:
        _copy_tokenizer_companions(tokenizer, args.output)
    summary = {"output": args.output, "format": kind, "family": model.config.family, "tokenizer": tokenizer}
    print(json.dumps(summary, indent=2))
    if tokenizer is None:
        if os.path.isfile(os.path.join(args.output, "tokenizer.json")):  # not ours to delete; maybe not its
            state = "keeps the tokenizer.json an earlier write left there, which may belong to another model"
        else:
            state = "has none"
        print(
            f"lmforge import: {source} holds no tokenizer.json, so {args.output} {state}: pass --tokenizer FILE "
            "here (or to eval / generate / export later)",
            file=sys.stderr,
        )
    return 0


def _copy_tokenizer_companions(tokenizer_file: str, output: str) -> None:
    """``tokenizer_config.json`` / ``special_tokens_map.json`` beside the tokenizer name its BOS / EOS: eval
    takes its prefix token from them, so without them an imported folder could score differently from the
    Hugging Face folder it came from."""
    import shutil

    from lmforge.io import atomic_write

    source_dir = os.path.dirname(os.path.abspath(tokenizer_file))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        src, dst = os.path.join(source_dir, name), os.path.join(output, name)
        if os.path.isfile(src) and os.path.abspath(src) != os.path.abspath(dst):
            with open(src, "rb") as source, atomic_write(dst, "wb", compression=False) as target:
                shutil.copyfileobj(source, target)
