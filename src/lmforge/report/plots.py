"""The report's figures as PNG files (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os
from typing import Any

from lmforge.io import atomic_write
from lmforge.report.collect import eval_series, series


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str) -> None:
    with atomic_write(path, "wb", compression=False) as f:  # no half-written PNG after a kill
        fig.savefig(f, format="png", dpi=110)


def _smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def loss_figure(
    rows: list[dict[str, Any]], path: str, reference: dict[str, float] | None = None
) -> str | None:
    """Training loss (raw + moving average) and learning rate; horizontal lines for reference levels."""
    steps, losses = series(rows, "loss")
    if not steps:
        return None
    plt = _pyplot()
    fig, (ax, ax_lr) = plt.subplots(
        2, 1, figsize=(8, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot(steps, losses, color="#9ab", linewidth=0.8, label="train loss")
    window = max(1, len(losses) // 25)
    if window > 1:
        ax.plot(
            steps, _smooth(losses, window), color="#1f5fa8", linewidth=1.8, label=f"moving average ({window})"
        )
    for (label, level), color in zip((reference or {}).items(), ("#c0392b", "#7d3c98", "#117a65")):
        ax.axhline(level, color=color, linestyle="--", linewidth=1, label=label)
    evals = eval_series(rows)
    for key, (xs, ys) in sorted(evals.items()):
        if key.endswith("loss") or key.endswith("/CrossEntropyLoss"):
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=key)
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    lr_steps, lrs = series(rows, "lr")
    if lr_steps:
        ax_lr.plot(lr_steps, lrs, color="#2e7d32")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def eval_figure(rows: list[dict[str, Any]], path: str) -> str | None:
    """In-loop evaluation losses and accuracies over steps, one panel each (up to six); perplexities repeat
    the losses and token counts are not curves."""
    evals = {
        k: v for k, v in eval_series(rows).items() if k.endswith(("loss", "acc", "acc_norm", "bits_per_byte"))
    }
    if not evals:
        return None
    plt = _pyplot()
    keys = sorted(evals)[:6]
    cols = min(3, len(keys))
    rows_n = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3 * rows_n), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        xs, ys = evals[key]
        ax.plot(xs, ys, marker="o", markersize=3, color="#1f5fa8")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def throughput_figure(rows: list[dict[str, Any]], path: str) -> str | None:
    steps, tps = series(rows, "tokens_per_second")
    if not steps:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.plot(steps, tps, color="#8e44ad", linewidth=1)
    ax.set_ylabel("tokens / s")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def perplexity_figure(
    perplexity: dict[str, dict[str, Any]], entropy: dict[str, float], path: str
) -> str | None:
    """Held-out loss per source next to the unigram entropy of the same tokens."""
    sources = [s for s in sorted(perplexity) if isinstance(perplexity[s].get("loss"), (int, float))]
    if not sources:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3))
    xs = range(len(sources))
    ax.bar(
        [x - 0.2 for x in xs],
        [perplexity[s]["loss"] for s in sources],
        width=0.4,
        label="model loss",
        color="#1f5fa8",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [entropy.get(s, 0.0) for s in sources],
        width=0.4,
        label="unigram entropy",
        color="#c0392b",
    )
    ax.set_xticks(list(xs), sources)
    ax.set_ylabel("nats / token")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def make_figures(data: dict[str, Any], out_dir: str) -> dict[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    rows = data.get("metrics") or []
    ev = data.get("eval") or {}
    reference = {}
    overall = (ev.get("unigram_entropy") or {}).get("all")
    if isinstance(overall, (int, float)):
        reference["unigram entropy (held-out)"] = float(overall)
    made = {
        "loss": loss_figure(rows, os.path.join(out_dir, "loss.png"), reference),
        "eval": eval_figure(rows, os.path.join(out_dir, "eval.png")),
        "throughput": throughput_figure(rows, os.path.join(out_dir, "throughput.png")),
        "perplexity": perplexity_figure(
            ev.get("perplexity") or {},
            ev.get("unigram_entropy") or {},
            os.path.join(out_dir, "perplexity.png"),
        ),
    }
    return {k: v for k, v in made.items() if v}
