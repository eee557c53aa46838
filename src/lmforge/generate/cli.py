"""``lmforge generate MODEL --prompt "..."``: print the continuation of a prompt."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def _tokenizer_source(model_path: str, explicit: str | None) -> str:
    if not os.path.exists(model_path):  # before looking for its tokenizer, whose absence would be blamed
        raise FileNotFoundError(f"{model_path}: no such model folder")
    if explicit:
        return explicit
    from lmforge.hf.cli import find_tokenizer

    found = find_tokenizer(model_path)
    if found is None:
        raise FileNotFoundError(f"{model_path}: no tokenizer.json beside the model; pass --tokenizer")
    return found


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lmforge generate",
        description="Continue prompts with an lmforge model folder, training checkpoint or Hugging Face OLMo "
        "folder (KV-cache decoding; greedy unless --temperature > 0).",
    )
    parser.add_argument("model")
    parser.add_argument("--prompt", action="append", required=True, help="repeat for a batch of prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--tokenizer", default=None, help="tokenizer.json, a folder with one, or a hub name")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--eos-id",
        type=int,
        default=None,
        help="default: the model config's eos_token_id, or the tokenizer's EOS if that id is no EOS token of it",
    )
    parser.add_argument("--no-eos", action="store_true", help="always generate --max-new-tokens tokens")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default: as stored")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="one JSON object per prompt (with token ids)")
    args = parser.parse_args(list(argv))

    from lmforge.config import validate
    from lmforge.generate.decode import generate
    from lmforge.generate.sampling import SamplingParams
    from lmforge.models.loading import check_tokenizer_fits, load_model
    from lmforge.tokenize.tokenizer import load_tokenizer, special_ids_for

    params = SamplingParams(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    validate(params)
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        from lmforge.config import ConfigError

        raise ConfigError("device", f"{args.device} requested but no CUDA device is available")
    tokenizer = load_tokenizer(_tokenizer_source(args.model, args.tokenizer))
    model = load_model(args.model, device=args.device, dtype=DTYPES.get(args.dtype or "")).eval()
    from lmforge.distributed.checkpoint import resolve_checkpoint

    checkpoint = resolve_checkpoint(args.model) if os.path.isdir(args.model) else None
    if checkpoint is not None and os.path.normpath(checkpoint) != os.path.normpath(args.model):
        # a run folder means its newest checkpoint, which a live run keeps replacing: say which one it was
        print(f"lmforge generate: {args.model}: checkpoint {checkpoint}", file=sys.stderr)
    check_tokenizer_fits(
        model, tokenizer.get_vocab_size(with_added_tokens=True), args.tokenizer or args.model
    )
    if args.no_eos:
        eos = None
    elif args.eos_id is not None:
        eos = args.eos_id
    else:  # the model's EOS, unless it is no EOS token of this tokenizer (a preset's id kept with another)
        eos, _ = special_ids_for(tokenizer, model.config.eos_token_id, None)
    encoded = [tokenizer.encode(p, add_special_tokens=False).ids for p in args.prompt]
    outputs = generate(model, encoded, params, eos_token_id=eos)
    for prompt, tokens in zip(args.prompt, outputs):
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        if args.json:
            print(json.dumps({"prompt": prompt, "completion": text, "tokens": tokens}))
        elif len(args.prompt) > 1:
            # completions may span lines: like `head` over several files, a header says whose text follows
            print(f"==> {json.dumps(prompt, ensure_ascii=False)} <==\n{text}")
        else:
            print(text)
    return 0
