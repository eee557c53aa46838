"""Training throughput: ``lmforge train`` (the Trainer itself) vs a plain transformers loop.

The reference is what a researcher would write by hand: ``OlmoForCausalLM`` (SDPA attention) of the same
shape, ``torch.optim.AdamW`` with the same hyper-parameters, gradient accumulation over the same micro-batches,
clipping at 1.0, on the same token file and the same process count (one process, all cores). lmforge runs its
full trainer: data loader, metrics.jsonl every step, NaN checks, speed monitor. Runs are interleaved
(lmforge, reference, lmforge, reference, ...) so machine load hits both alike; each run times its steps after
a warm-up. Reported: tokens/s (wall), tokens per CPU-second (robust on a shared machine), MFU against the
measured matmul peak of this CPU, and the ratios lmforge / reference.

    .venv/bin/python bench/train.py                      # tiny and d512, fp32 and bf16
    .venv/bin/python bench/train.py --configs tiny --precisions fp32 --steps 8 --repeats 3
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

# bench/ also holds tokenize.py (the tokenizer benchmark), which would shadow the standard library's
# tokenize module for a script run from this folder; drop the script's folder from the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time

import numpy as np
import torch

from lmforge.config import build_config
from lmforge.hf.convert import hf_config_dict
from lmforge.models.folder import model_config_from_dict
from lmforge.nn.flops import flops_per_token
from lmforge.train.callbacks import Callback
from lmforge.train.config import TrainConfig
from lmforge.train.speed import device_peak_flops
from lmforge.train.trainer import train

SHAPES = {
    # name: (model section, seq_len, global batch, micro-batch)
    "tiny": ({"preset": "tiny", "vocab_size": 50280}, 128, 8, 4),
    "d512": ({"preset": "tiny", "d_model": 512, "n_layers": 4, "n_heads": 8, "mlp_hidden_size": 1536,
              "vocab_size": 50280}, 128, 8, 4),
}  # fmt: skip


class StepClock(Callback):
    def __init__(self) -> None:
        self.marks: list[tuple[float, float]] = []

    def on_train_start(self, trainer) -> None:
        self.marks.append((time.perf_counter(), time.process_time()))

    def on_step_end(self, trainer, metrics) -> None:
        self.marks.append((time.perf_counter(), time.process_time()))


def rates(marks: list[tuple[float, float]], warmup: int, tokens_per_step: int) -> tuple[float, float]:
    """(tokens per wall second, tokens per CPU second) over the steps after ``warmup``."""
    (w0, c0), (w1, c1) = marks[warmup], marks[-1]
    tokens = tokens_per_step * (len(marks) - 1 - warmup)
    return tokens / (w1 - w0), tokens / (c1 - c0)


def run_lmforge(
    shape: str, precision: str, steps: int, warmup: int, data: str, work: str
) -> tuple[float, float]:
    model, seq_len, gbs, mbs = SHAPES[shape]
    config = build_config(
        TrainConfig,
        base={
            "model": {**model, "max_sequence_length": seq_len},
            "data": {"paths": [data], "seq_len": seq_len, "dtype": "uint16"},
            "save_folder": os.path.join(work, f"lmforge-{shape}-{precision}-{time.time_ns()}"),
            "global_batch_size": gbs,
            "microbatch_size": mbs,
            "max_steps": steps + warmup,
            "save_interval": None,
            "log_interval": 1,
            "precision": precision,
            "device": "cpu",
            "optimizer": {"lr": 4e-4},
            "scheduler": {"name": "constant"},
        },
    )
    clock = StepClock()
    with contextlib.redirect_stdout(io.StringIO()):
        train(config, callbacks=[clock])
    return rates(clock.marks, warmup, gbs * seq_len)


def run_reference(shape: str, precision: str, steps: int, warmup: int, data: str) -> tuple[float, float]:
    from transformers import OlmoConfig, OlmoForCausalLM

    section, seq_len, gbs, mbs = SHAPES[shape]
    config = model_config_from_dict({**section, "max_sequence_length": seq_len})
    hf = {
        k: v
        for k, v in hf_config_dict(config).items()
        if k not in ("architectures", "model_type", "dtype", "torch_dtype")
    }
    torch.manual_seed(0)
    model = OlmoForCausalLM(OlmoConfig(**hf, attn_implementation="sdpa")).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, betas=(0.9, 0.95), eps=1e-5, weight_decay=0.1)
    tokens = np.memmap(data, dtype=np.uint16, mode="r")
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    )
    marks = [(time.perf_counter(), time.process_time())]
    position = 0
    for _ in range(steps + warmup):
        accum = gbs // mbs
        for _ in range(accum):
            rows = [tokens[position + i * seq_len : position + (i + 1) * seq_len] for i in range(mbs)]
            position = (position + mbs * seq_len) % (len(tokens) - mbs * seq_len)
            ids = torch.from_numpy(np.stack(rows).astype(np.int64))
            with autocast:
                loss = model(input_ids=ids, labels=ids).loss
            (loss / accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        marks.append((time.perf_counter(), time.process_time()))
    return rates(marks, warmup, gbs * seq_len)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default="tiny,d512")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each implementation")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="lmforge-bench-train-")
    data = os.path.join(work, "tokens.npy")
    np.random.default_rng(0).integers(0, 50280, 4_000_000, dtype=np.uint16).tofile(data)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, work dir {work}")
    results = []
    for shape in args.configs.split(","):
        model, seq_len, gbs, _ = SHAPES[shape]
        fpt = flops_per_token(model_config_from_dict({**model, "max_sequence_length": seq_len}), seq_len)
        for precision in args.precisions.split(","):
            peak, source = device_peak_flops(torch.device("cpu"), precision)
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(run_lmforge(shape, precision, args.steps, args.warmup, data, work))
                theirs.append(run_reference(shape, precision, args.steps, args.warmup, data))
            wall_ours, wall_ref = (statistics.median(r[0] for r in x) for x in (ours, theirs))
            cpu_ours, cpu_ref = (statistics.median(r[1] for r in x) for x in (ours, theirs))
            row = {
                "config": shape, "precision": precision, "seq_len": seq_len, "global_batch": gbs,
                "lmforge_tokens_per_s": round(wall_ours, 1), "reference_tokens_per_s": round(wall_ref, 1),
                "ratio_wall": round(wall_ours / wall_ref, 3), "ratio_cpu": round(cpu_ours / cpu_ref, 3),
                "lmforge_mfu": round(wall_ours * fpt / peak, 4), "reference_mfu": round(wall_ref * fpt / peak, 4),
                "peak_flops": f"{peak:.3g} ({source})",
            }  # fmt: skip
            results.append(row)
            print(json.dumps(row), flush=True)
    print(
        "\n| config | precision | lmforge tok/s | transformers tok/s | ratio (wall) | ratio (CPU-s) | lmforge MFU | ref MFU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['config']} | {r['precision']} | {r['lmforge_tokens_per_s']} | {r['reference_tokens_per_s']} | "
              f"{r['ratio_wall']}x | {r['ratio_cpu']}x | {100 * r['lmforge_mfu']:.1f}% | {100 * r['reference_mfu']:.1f}% |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
