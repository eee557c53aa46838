"""PNG plots of an analysis report (matplotlib, Agg backend): each function takes the report dict and writes
one figure, returning False when the report has nothing to show for it."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): the backend must be chosen first

PALETTE = [
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
]
OTHER_COLOR = "#D0D0D0"
MAX_SOURCES = 12
MAX_LANGUAGES = 8


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#E5E5E5", linewidth=0.8)
    ax.set_axisbelow(True)


def _sources(report: dict[str, Any]) -> list[str]:
    """Sources ordered by size (largest at the top of horizontal bar charts), at most MAX_SOURCES."""
    sources = report["sources"]
    return sorted(sources, key=lambda s: (sources[s]["bytes"], s))[-MAX_SOURCES:]


def _save(fig: Any, path: str, write: Callable[[str, bytes], None]) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write(path, buffer.getvalue())


def plot_sizes(report: dict[str, Any], path: str, write: Callable[[str, bytes], None]) -> bool:
    names = _sources(report)
    if not names:
        return False
    sources = report["sources"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.42 * len(names) + 1.4), sharey=True)
    panels = [
        ("bytes", "text (MB)", 1e-6),
        ("documents", "documents", 1),
        ("words", "words (millions)", 1e-6),
    ]
    if report["totals"]["tokens"]:
        panels[2] = ("tokens", "tokens (millions)", 1e-6)
    for ax, (key, label, scale), color in zip(axes, panels, PALETTE):
        values = [sources[s][key] * scale for s in names]
        bars = ax.barh(names, values, color=color)
        ax.bar_label(bars, labels=[_short(v) for v in values], padding=3, fontsize=8)
        ax.set_xlabel(label)
        ax.margins(x=0.18)
        _style(ax)
    fig.tight_layout()
    _save(fig, path, write)
    return True


def plot_lengths(report: dict[str, Any], path: str, write: Callable[[str, bytes], None]) -> bool:
    """Per metric: the corpus-wide histogram on top, each source's p5/p25/p50/p75/p95 below (log scale)."""
    metrics = [m for m in ("words", "bytes", "tokens") if m in report["totals"]["lengths"]]
    if not metrics:
        return False
    names = _sources(report)
    fig, axes = plt.subplots(
        2,
        len(metrics),
        figsize=(4.0 * len(metrics), 2.6 + 0.32 * len(names)),
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": [2.2, 0.35 * len(names) + 0.4]},
    )
    for column, metric in enumerate(metrics):
        top, bottom = axes[0][column], axes[1][column]
        bins = report["totals"]["lengths"][metric]["histogram"]
        total = sum(b[2] for b in bins)
        edges = [max(bins[0][0], 0.5)] + [b[1] for b in bins]
        top.stairs([b[2] / total for b in bins], edges, fill=True, color=PALETTE[0], alpha=0.85)
        top.set_title(f"{metric} per document", fontsize=10, loc="left")
        top.set_ylabel("share of documents" if column == 0 else "")
        _style(top)
        for row, name in enumerate(names):
            p = report["sources"][name]["lengths"].get(metric, {}).get("percentiles")
            if not p or p["p50"] is None:
                continue
            low, q1, median, q3, high = (max(p[k], 0.5) for k in ("p5", "p25", "p50", "p75", "p95"))
            bottom.plot([low, high], [row, row], color="#8C8C8C", linewidth=1.2)
            bottom.barh(row, q3 - q1, left=q1, height=0.55, color=PALETTE[column % len(PALETTE)], alpha=0.75)
            bottom.plot([median], [row], marker="|", color="black", markersize=11, markeredgewidth=2)
        bottom.set_yticks(range(len(names)), names if column == 0 else [""] * len(names))
        bottom.set_xscale("log")
        bottom.set_xlabel(f"{metric} (box: p25-p75, line: p5-p95, mark: median)", fontsize=8)
        _style(bottom)
    fig.tight_layout()
    _save(fig, path, write)
    return True


def plot_languages(report: dict[str, Any], path: str, write: Callable[[str, bytes], None]) -> bool:
    overall = report["totals"]["languages"]
    if not overall:
        return False
    languages = [item["value"] for item in overall[:MAX_LANGUAGES]]
    names = _sources(report)
    rows = ["all", *names[::-1]][::-1]
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.6))
    left = [0.0] * len(rows)
    for language, color in zip([*languages, "other"], [*PALETTE[: len(languages)], OTHER_COLOR]):
        shares = []
        for row in rows:
            items = (report["totals"] if row == "all" else report["sources"][row])["languages"]
            docs = (report["totals"] if row == "all" else report["sources"][row])["documents"] or 1
            if language == "other":
                shares.append(1.0 - sum(i["count"] for i in items if i["value"] in languages) / docs)
            else:
                shares.append(sum(i["count"] for i in items if i["value"] == language) / docs)
        ax.barh(rows, shares, left=left, color=color, label=language, edgecolor="white", linewidth=0.5)
        left = [a + b for a, b in zip(left, shares)]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of documents (CLD2; 'un' = unknown)")
    ax.legend(
        ncol=min(len(languages) + 1, 9),
        fontsize=8,
        frameon=False,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
    )
    _style(ax)
    fig.tight_layout()
    _save(fig, path, write)
    return True


def plot_duplicates(report: dict[str, Any], path: str, write: Callable[[str, bytes], None]) -> bool:
    duplicates = report.get("duplicates")
    names = _sources(report)
    if not duplicates or not names:
        return False
    series = [
        ("documents", "within_rate", "documents: copies within source"),
        ("documents", "cross_share", "documents: also in another source"),
        ("paragraphs", "within_rate", "paragraphs: copies within source"),
        ("paragraphs", "cross_share", "paragraphs: also in another source"),
    ]
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(names) + 1.6))
    height = 0.8 / len(series)
    for k, ((kind, key, label), color) in enumerate(
        zip(series, [PALETTE[0], "#9DB4D9", PALETTE[1], "#F0BE9C"])
    ):
        values = [duplicates[kind]["per_source"].get(name, {}).get(key, 0.0) * 100 for name in names]
        positions = [i + (k - 1.5) * height for i in range(len(names))]
        ax.barh(positions, values, height=height, color=color, label=label)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("% of the source's items")
    ax.legend(ncol=4, fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    _style(ax)
    fig.tight_layout()
    _save(fig, path, write)
    return True


def plot_contamination(report: dict[str, Any], path: str, write: Callable[[str, bytes], None]) -> bool:
    sets = report.get("contamination", {}).get("sets")
    if not sets:
        return False
    names = sorted(sets, key=lambda s: (sets[s]["share"], s))
    values = [sets[s]["share"] * 100 for s in names]
    fig, ax = plt.subplots(figsize=(9, 0.36 * len(names) + 1.3))
    bars = ax.barh(names, values, color=[PALETTE[3] if v > 0 else "#BBBBBB" for v in values])
    ax.bar_label(
        bars,
        labels=[
            f"{v:.2f}% ({sets[s]['contaminated']}/{sets[s]['examples']})"
            if v < 1
            else f"{v:.1f}% ({sets[s]['contaminated']}/{sets[s]['examples']})"
            for v, s in zip(values, names)
        ],
        padding=3,
        fontsize=8,
    )
    ax.set_xlabel("% of examples with an n-gram found in the corpus")
    ax.set_xlim(0, max(max(values) * 1.35, 1.0))
    _style(ax)
    fig.tight_layout()
    _save(fig, path, write)
    return True


def plot_domains(report: dict[str, Any], path: str, write: Callable[[str, bytes], None]) -> bool:
    urls = report["totals"]["urls"]
    domains = [d for d in urls["domains"] if d["value"] != "(none)"][:15]
    if not domains:
        return False
    fig, axes = plt.subplots(
        1, 2, figsize=(11, 0.3 * len(domains) + 1.4), gridspec_kw={"width_ratios": [2, 1]}
    )
    axes[0].barh([d["value"] for d in domains][::-1], [d["count"] for d in domains][::-1], color=PALETTE[0])
    axes[0].set_xlabel("documents")
    axes[0].set_title("top domains", fontsize=10, loc="left")
    tlds = urls["tlds"][:10]
    axes[1].barh([t["value"] for t in tlds][::-1], [t["count"] for t in tlds][::-1], color=PALETTE[2])
    axes[1].set_xlabel("documents")
    axes[1].set_title("top-level domains", fontsize=10, loc="left")
    for ax in axes:
        _style(ax)
    fig.tight_layout()
    _save(fig, path, write)
    return True


PLOTS: dict[str, tuple[Callable[..., bool], str]] = {
    "sizes": (plot_sizes, "Size per source"),
    "lengths": (plot_lengths, "Length distributions"),
    "languages": (plot_languages, "Languages"),
    "domains": (plot_domains, "Domains"),
    "duplicates": (plot_duplicates, "Duplicates"),
    "contamination": (plot_contamination, "Contamination"),
}


def _short(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2f}"
