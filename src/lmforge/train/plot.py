"""``lmforge plot RUN_DIR``: loss, learning-rate and throughput curves from ``metrics.jsonl`` as PNGs."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence

from lmforge.io import InputError, atomic_write


def read_metrics(path: str) -> list[dict]:
    rows = []
    with open(path) as f:
        lines = f.readlines()
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if line_no == len(lines) and not line.endswith("\n"):
                break  # the trainer is appending this line right now (or was killed doing so)
            raise InputError(path, line_no, f"malformed JSON ({err.msg})") from None
    return rows


def _series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def plot_run(run_dir: str, output_dir: str | None = None) -> list[str]:
    """Write loss.png, lr.png and throughput.png; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    if not rows:
        raise InputError(os.path.join(run_dir, "metrics.jsonl"), None, "no metrics logged yet")
    output_dir = output_dir or os.path.join(run_dir, "plots")
    os.makedirs(output_dir, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(*_series(rows, "loss"), label="train loss", linewidth=1)
    eval_losses = sorted({k for r in rows for k in r if k.startswith("eval/") and k.endswith("/loss")})
    for key in eval_losses:
        ax.plot(*_series(rows, key), marker="o", label=key.removesuffix("/loss"))
    ax.set(xlabel="step", ylabel="cross-entropy (nats/token)", title="loss")
    ax.grid(alpha=0.3)
    ax.legend()
    written.append(os.path.join(output_dir, "loss.png"))

    fig2, ax2 = plt.subplots(figsize=(8, 3.5))
    ax2.plot(*_series(rows, "lr"))
    ax2.set(xlabel="step", ylabel="learning rate", title="learning rate")
    ax2.grid(alpha=0.3)
    written.append(os.path.join(output_dir, "lr.png"))

    fig3, ax3 = plt.subplots(figsize=(8, 3.5))
    ax3.plot(*_series(rows, "tokens_per_s"), color="tab:green")
    ax3.set(xlabel="step", ylabel="tokens/s per device", title="throughput")
    ax3.grid(alpha=0.3)
    steps, mfu = _series(rows, "mfu")
    if mfu:
        twin = ax3.twinx()
        twin.plot(steps, [100 * m for m in mfu], color="tab:orange", linestyle="--")
        twin.set_ylabel("MFU (%)")
    written.append(os.path.join(output_dir, "throughput.png"))

    for figure, path in zip((fig, fig2, fig3), written):
        figure.tight_layout()
        with atomic_write(path, "wb", compression=False) as f:  # no half-written PNG after a kill
            figure.savefig(f, format="png", dpi=120)
        plt.close(figure)
    return written


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lmforge plot", description=__doc__)
    parser.add_argument("run_dir", help="a training run folder (its save_folder, with metrics.jsonl)")
    parser.add_argument("--output", default=None, help="where to write the PNGs (default: RUN_DIR/plots)")
    args = parser.parse_args(list(argv))
    for path in plot_run(args.run_dir, args.output):
        print(path)
    return 0
