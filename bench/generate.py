"""Decoding throughput: lmforge.generate against transformers' generate, same weights, greedy.

New tokens per second at batch 1 and 8 (prompts of different lengths, left-padded), with EOS disabled so
both produce exactly ``--new-tokens`` tokens per row. Runs are interleaved and the median of the repeats is
reported (the machine is shared). The outputs are also compared: greedy decoding must agree token for token.

    .venv/bin/python bench/generate.py
    .venv/bin/python bench/generate.py --config d512 --batch-sizes 1 8 --new-tokens 64 --repeats 5
"""

from __future__ import annotations

import sys

# bench/tokenize.py would shadow the standard library's tokenize module for scripts run from bench/
if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)

import argparse
import statistics
import time

import torch

from lmforge.generate import generate
from lmforge.hf.convert import hf_config_dict, to_hf_state_dict
from lmforge.models.folder import model_config_from_dict
from lmforge.nn import build_model

# The machine is shared: wall time includes waiting for a core. With one thread, process CPU time counts
# only the work done, so interleaved CPU-time medians give stable ratios (--clock wall to see wall time).
CLOCK = time.process_time

CONFIGS = {
    "tiny": {"preset": "tiny"},
    "d512": {"preset": "tiny", "d_model": 512, "n_layers": 8, "n_heads": 8, "mlp_hidden_size": 1536},
    "d512_olmo2_gqa": {
        "preset": "tiny_olmo2", "d_model": 512, "n_layers": 8, "n_heads": 8, "n_kv_heads": 2,
        "mlp_hidden_size": 1536,
    },
}  # fmt: skip


def hf_model_from(model):
    import transformers

    config = transformers.AutoConfig.for_model(**hf_config_dict(model.config))
    hf = transformers.AutoModelForCausalLM.from_config(config)
    hf.load_state_dict(to_hf_state_dict(model.state_dict(), model.config), strict=False)
    return hf.eval()


def prompts_for(batch: int, vocab: int, prompt_len: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(batch)
    lengths = [max(1, prompt_len - 3 * i) for i in range(batch)]
    return [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in lengths]


def hf_generate(hf, prompts: list[list[int]], new_tokens: int, pad: int) -> list[list[int]]:
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.inference_mode():
        out = hf.generate(
            ids,
            attention_mask=mask,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=pad,
        )
    return out[:, width:].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", nargs="+", default=["tiny", "d512"], choices=list(CONFIGS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--prompt-len", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is exact with 1)")
    parser.add_argument(
        "--clock", default="cpu", choices=["cpu", "wall"], help="process CPU time or wall time"
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)

    dtype = getattr(torch, args.dtype)
    for name in args.configs:
        config = model_config_from_dict({**CONFIGS[name], "max_sequence_length": 1024})
        ours = build_model(config, seed=0).eval()
        theirs = hf_model_from(ours)
        ours, theirs = ours.to(dtype), theirs.to(dtype)
        print(
            f"config={name} dtype={args.dtype} threads={args.threads} clock={args.clock} new={args.new_tokens}"
        )
        for batch in args.batch_sizes:
            bench_batch(ours, theirs, batch, config, args)


def bench_batch(ours, theirs, batch: int, config, args) -> None:
    prompts = prompts_for(batch, config.vocab_size, args.prompt_len)
    runners = {
        "lmforge": lambda: generate(ours, prompts, max_new_tokens=args.new_tokens, eos_token_id=None),
        "transformers": lambda: hf_generate(theirs, prompts, args.new_tokens, config.pad_token_id),
    }
    outputs = {label: run() for label, run in runners.items()}  # warm-up, and the agreement check
    same = outputs["lmforge"] == outputs["transformers"]
    times: dict[str, list[float]] = {label: [] for label in runners}
    for _ in range(args.repeats):
        for label, run in runners.items():
            start = CLOCK()
            run()
            times[label].append(CLOCK() - start)
    rate = {label: batch * args.new_tokens / statistics.median(t) for label, t in times.items()}
    print(
        f"  batch {batch}: lmforge {rate['lmforge']:.1f} new tokens/s, transformers "
        f"{rate['transformers']:.1f} new tokens/s, ratio {rate['lmforge'] / rate['transformers']:.2f}x, "
        f"greedy outputs identical: {same}"
    )


if __name__ == "__main__":
    main()
