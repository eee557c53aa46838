"""Training-step throughput: lmforge's Transformer against transformers' OlmoForCausalLM, same weights.

One step = forward, cross-entropy over the vocabulary, backward, AdamW update. Both models get the same
batch, the same loss code and the same optimizer settings, so the ratio measures the model code alone. Runs
are interleaved (lmforge, transformers, lmforge, ...) and the median of the repeats is reported, because the
machine is shared and its speed drifts. MFU divides achieved FLOP/s (``lmforge.nn.flops_per_token``, the
6N + attention convention) by a matmul ceiling measured here, in the same process, for fp32 and bf16.

    .venv/bin/python bench/train_step.py                      # tiny and d_model 512, fp32 and bf16
    .venv/bin/python bench/train_step.py --configs d512 --repeats 7 --compile
"""

from __future__ import annotations

import sys

# bench/tokenize.py would shadow the standard library's tokenize module for scripts run from bench/
if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)

import argparse
import contextlib
import json
import statistics
import time

import torch
import torch.nn.functional as F

from lmforge.hf.convert import hf_config_dict, to_hf_state_dict
from lmforge.models.folder import model_config_from_dict
from lmforge.nn import build_model, flops_per_token

# The machine is shared: wall time includes waiting for a core. With one thread, process CPU time counts
# only the work done, so interleaved CPU-time medians give stable ratios (--clock wall to see wall time).
CLOCK = time.process_time

CONFIGS = {
    # name: (model section, batch size, sequence length)
    "tiny": ({"preset": "tiny"}, 4, 256),
    "d512": (
        {"preset": "tiny", "d_model": 512, "n_layers": 8, "n_heads": 8, "mlp_hidden_size": 1536},
        2,
        512,
    ),
}


def matmul_ceiling(dtype: torch.dtype, size: int = 2048, seconds: float = 1.5) -> float:
    """Sustained FLOP/s of a square matmul: the roof MFU is measured against."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(2):
        a @ b
    count, start = 0, CLOCK()
    while CLOCK() - start < seconds:
        a @ b
        count += 1
    return 2 * size**3 * count / (CLOCK() - start)


def hf_model_from(model, attn_implementation: str):
    import transformers

    config = transformers.AutoConfig.for_model(**hf_config_dict(model.config))
    hf = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    missing, unexpected = hf.load_state_dict(to_hf_state_dict(model.state_dict(), model.config), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    return hf.train()


def make_step(model, optimizer, ids, targets, bf16: bool, is_hf: bool):
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> float:
        with autocast:
            out = model(input_ids=ids) if is_hf else model(ids)
            logits = out.logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    return step


def timed(step, n_steps: int) -> float:
    start = CLOCK()
    for _ in range(n_steps):
        step()
    return CLOCK() - start


def run_config(name: str, args, ceilings: dict[str, float]) -> list[dict]:
    section, batch, seq = CONFIGS[name]
    config = model_config_from_dict({**section, "max_sequence_length": seq})
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (batch, seq + 1), generator=gen)
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    tokens = batch * seq
    flops = flops_per_token(config, seq) * tokens
    results = []
    for precision in args.precisions:
        bf16 = precision == "bf16"
        contenders = {}
        ours = build_model(config, seed=0)
        theirs = hf_model_from(ours, args.hf_attn)
        if args.compile:
            ours_c = build_model(config, seed=0)
            contenders["lmforge+compile"] = (torch.compile(ours_c), False)
        contenders = {"lmforge": (ours, False), "transformers": (theirs, True), **contenders}
        steps = {}
        for label, (model, is_hf) in contenders.items():
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, foreach=True)
            steps[label] = make_step(model, opt, inputs, targets, bf16, is_hf)
            for _ in range(args.warmup):
                steps[label]()
        times: dict[str, list[float]] = {label: [] for label in steps}
        for _ in range(args.repeats):
            for label, step in steps.items():
                times[label].append(timed(step, args.steps) / args.steps)
        ceiling = ceilings["bf16" if bf16 else "fp32"]
        for label, samples in times.items():
            seconds = statistics.median(samples)
            results.append(
                {
                    "config": name,
                    "precision": precision,
                    "model": label,
                    "tokens_per_s": tokens / seconds,
                    "mfu": flops / seconds / ceiling,
                }
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=3, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats; the median is reported")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(lmforge model)")
    parser.add_argument("--hf-attn", default="sdpa", choices=["sdpa", "eager"], help="transformers attention")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is exact with 1)")
    parser.add_argument(
        "--clock", default="cpu", choices=["cpu", "wall"], help="process CPU time or wall time"
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    ceilings = {"fp32": matmul_ceiling(torch.float32), "bf16": matmul_ceiling(torch.bfloat16)}
    print(
        f"threads={torch.get_num_threads()}  matmul ceiling: fp32 {ceilings['fp32'] / 1e9:.1f} GFLOP/s, "
        f"bf16 {ceilings['bf16'] / 1e9:.1f} GFLOP/s ({ceilings['bf16'] / ceilings['fp32']:.2f}x)"
    )
    results = []
    for name in args.configs:
        results += run_config(name, args, ceilings)
    if args.json:
        print(json.dumps(results, indent=2))
    print(f"{'config':<6} {'precision':<9} {'model':<16} {'tokens/s':>10} {'MFU':>7} {'vs HF fp32':>10}")
    for row in results:
        base = next(
            r["tokens_per_s"]
            for r in results
            if r["config"] == row["config"] and r["model"] == "transformers" and r["precision"] == "fp32"
        ) if any(r["precision"] == "fp32" for r in results) else float("nan")  # fmt: skip
        print(
            f"{row['config']:<6} {row['precision']:<9} {row['model']:<16} {row['tokens_per_s']:>10.0f} "
            f"{row['mfu']:>7.1%} {row['tokens_per_s'] / base:>9.2f}x"
        )
    for name in args.configs:
        for precision in args.precisions:
            pair = {
                r["model"]: r["tokens_per_s"]
                for r in results
                if (r["config"], r["precision"]) == (name, precision)
            }
            print(
                f"ratio {name} {precision}: lmforge / transformers = {pair['lmforge'] / pair['transformers']:.2f}x"
            )


if __name__ == "__main__":
    main()
