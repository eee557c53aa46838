"""``lmforge checkpoint unshard CKPT --output DIR``: a training checkpoint -> a single-file model folder."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def unshard(path: str, output: str, dtype: torch.dtype = torch.float32) -> str:
    """Write ``output`` (config.yaml + model.safetensors [+ tokenizer.json]) from a ``stepN`` checkpoint or
    a run folder (its newest complete checkpoint). Returns the checkpoint used."""
    from lmforge.distributed.checkpoint import (
        checkpoint_step,
        checkpoint_tokenizer,
        load_model_from_checkpoint,
        resolve_checkpoint,
    )
    from lmforge.models.folder import save_model_folder

    resolved = resolve_checkpoint(path)
    if resolved is None:
        raise FileNotFoundError(f"{path}: not a training checkpoint or a run folder with one")
    model = load_model_from_checkpoint(resolved, device="cpu", dtype=dtype)
    save_model_folder(
        model,  # type: ignore[arg-type]
        output,
        extra_config={"source_checkpoint": resolved, "step": checkpoint_step(resolved)},
        tokenizer_file=checkpoint_tokenizer(resolved),
    )
    return resolved


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lmforge checkpoint", description="Work with training checkpoints.")
    sub = parser.add_subparsers(dest="action", required=True)
    p_unshard = sub.add_parser("unshard", help="write a model folder (config.yaml + model.safetensors)")
    p_unshard.add_argument("checkpoint", help="a stepN checkpoint folder or a run folder (uses its newest)")
    p_unshard.add_argument("--output", required=True)
    p_unshard.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    args = parser.parse_args(list(argv))
    used = unshard(args.checkpoint, args.output, DTYPES[args.dtype])
    print(json.dumps({"checkpoint": used, "output": args.output}))
    return 0
