"""The run report: data provenance, config, compute, curves, evaluation, samples - as report.md + report.html."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any

from lmforge.io import write_text
from lmforge.render import Block, Code, Heading, Image, Paragraph, Table, fmt, to_html, to_markdown
from lmforge.report.collect import collect
from lmforge.report.plots import make_figures


def _numbers(data: Any, prefix: str = "", depth: int = 3) -> list[tuple[str, Any]]:
    """Numeric leaves of a nested stats dict as (dotted key, value), for stats we show without a schema."""
    out: list[tuple[str, Any]] = []
    if isinstance(data, dict) and depth > 0:
        for key, value in data.items():
            out += _numbers(value, f"{prefix}.{key}" if prefix else str(key), depth - 1)
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        out.append((prefix, data))
    return out


def stage_blocks(data: dict[str, Any]) -> list[Block]:
    stages = data.get("stages") or {}
    if not stages:
        return []
    rows = []
    for name, record in stages.items():
        summary = record.get("summary") or {}
        brief = ", ".join(
            f"{k}={fmt(v)}" for k, v in list(summary.items())[:4] if not isinstance(v, (dict, list))
        )
        status = record.get("status")
        if name == "report" and status == "running":
            status = "this report"
        rows.append([name, status, record.get("seconds"), record.get("attempts"), brief])
    total = sum(r[2] or 0 for r in rows if isinstance(r[2], (int, float)))
    return [
        Heading("Pipeline"),
        Paragraph(
            f"Stages in order, as recorded in `pipeline_manifest.json` (total {total / 60:.1f} min of stage time)."
        ),
        Table(["stage", "status", "seconds", "attempts", "summary"], rows),
    ]


def data_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [Heading("Data provenance")]
    corpus = data.get("corpus")
    if corpus:
        sources = sorted(set(corpus.get("documents", {})) | set(corpus.get("eval_documents", {})))
        rows = [
            [s, corpus.get("documents", {}).get(s, 0), corpus.get("eval_documents", {}).get(s, 0),
             corpus.get("bytes", {}).get(s, 0) / 1e6]
            for s in sources
        ]  # fmt: skip
        blocks.append(
            Paragraph(
                f"Built-in corpus from the Python {corpus.get('python', '')} standard library and documentation "
                f"topics; {100 * float(corpus.get('eval_fraction') or 0):.0f}% of documents held out by a hash of "
                "their id (for per-source perplexity and the built-in tasks)."
            )
        )
        blocks.append(Table(["source", "train documents", "held-out documents", "MB of text"], rows))
    config = data.get("config") or {}
    inputs = (config.get("curate") or {}).get("inputs") or config.get("documents")
    if inputs and not corpus:
        blocks.append(Paragraph("Input documents: " + ", ".join(f"`{p}`" for p in inputs)))
    shown: list[Any] = []
    for entry in data.get("curation") or []:
        if entry["stats"] in shown:
            continue  # the tag step writes the same stats beside every tagger's attributes
        shown.append(entry["stats"])
        blocks += curation_blocks(entry["path"], entry["stats"])
    if data.get("analysis"):
        blocks += analysis_blocks(data["analysis"])
    tok = data.get("tokenize") or {}
    if tok:
        blocks.append(Heading("Tokenization", 3))
        blocks.append(Table(["statistic", "value"], [[k, v] for k, v in _numbers(tok)][:20]))
    return blocks if len(blocks) > 1 else []


def curation_blocks(path: str, stats: dict[str, Any]) -> list[Block]:
    """One curation step's stats.json: per source, documents in / kept / filtered / rejected and why."""
    if not isinstance(stats, dict) or "by_source" not in stats:
        rows = [[k, v] for k, v in _numbers(stats)][:40]
        return [Heading(f"Curation: {path}", 3), Table(["statistic", "value"], rows)] if rows else []
    step = stats.get("step", "?")
    extra = ", ".join(
        f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in stats.items()
        if k in ("taggers", "name", "files", "streams")
    )
    rows = []
    for source, counts in [*sorted(stats["by_source"].items()), ("all", stats.get("total") or {})]:
        n_in = counts.get("documents_in") or 0
        reasons = {**counts.get("filtered_by", {}), **counts.get("modified", {})}
        why = ", ".join(f"{k}: {fmt(v)}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
        rows.append([
            source, n_in, counts.get("kept"), counts.get("filtered"), counts.get("rejected"),
            f"{100 * (counts.get('kept') or 0) / n_in:.1f}%" if n_in else "-", why,
        ])  # fmt: skip
    caption = f"{path}" + (f" ({extra})" if extra else "")
    if stats.get("reconciles") is False:
        caption += " - WARNING: counts do not reconcile"
    return [
        Heading(f"Curation step: {step}", 3),
        Table(
            ["source", "documents in", "kept", "filtered", "rejected", "kept %", "filters / changes"],
            rows,
            caption,
        ),
    ]


def analysis_blocks(analysis: dict[str, Any]) -> list[Block]:
    """lmforge.analyze's report.json of the training documents: sizes and duplicate rates per source."""
    duplicates = analysis.get("duplicates") or {}
    doc_dups = (duplicates.get("documents") or {}).get("per_source") or {}
    par_dups = (duplicates.get("paragraphs") or {}).get("per_source") or {}
    rows = []
    sources = analysis.get("sources") or {}
    for name, stats in [*sorted(sources.items()), ("all", analysis.get("totals") or {})]:
        median = (((stats.get("lengths") or {}).get("bytes") or {}).get("percentiles") or {}).get("p50")
        doc_rate = (doc_dups.get(name) or {}).get(
            "within_rate",
            (duplicates.get("documents") or {}).get("duplicate_rate") if name == "all" else None,
        )
        par_rate = (par_dups.get(name) or {}).get(
            "within_rate",
            (duplicates.get("paragraphs") or {}).get("duplicate_rate") if name == "all" else None,
        )
        rows.append([
            name, stats.get("documents"), (stats.get("bytes") or 0) / 1e6, stats.get("words"), median,
            None if doc_rate is None else f"{100 * doc_rate:.2f}%", None if par_rate is None else f"{100 * par_rate:.2f}%",
        ])  # fmt: skip
    blocks: list[Block] = [
        Heading("Corpus analysis (training documents)", 3),
        Table(
            [
                "source",
                "documents",
                "MB",
                "words",
                "median bytes / doc",
                "duplicate docs",
                "duplicate paragraphs",
            ],
            rows,
        ),
    ]
    unigrams = ((analysis.get("ngrams") or {}).get("1") or {}).get("top") or []
    if unigrams:
        blocks.append(
            Paragraph(
                "Most frequent words: "
                + ", ".join(f"`{g['ngram']}` ({100 * g['share']:.1f}%)" for g in unigrams[:12])
            )
        )
    return blocks


def compute_blocks(data: dict[str, Any], figures: dict[str, str]) -> list[Block]:
    compute = data.get("compute") or {}
    if not compute:
        return []
    train = (data.get("stages") or {}).get("train") or {}
    summary = train.get("summary") or {}
    rows = [
        ["parameters", summary.get("parameters")],
        ["optimizer steps", compute.get("steps")],
        ["tokens trained on", compute.get("tokens")],
        ["wall time (s)", compute.get("wall_seconds") or train.get("seconds")],
        ["tokens / s (last 10 logs)", compute.get("tokens_per_second")],
        ["MFU", f"{100 * compute['mfu']:.1f}%" if compute.get("mfu") is not None else None],
        ["first / final train loss", f"{fmt(compute.get('first_loss'))} / {fmt(compute.get('final_loss'))}"],
        ["device", summary.get("device")],
    ]
    blocks: list[Block] = [
        Heading("Training compute"),
        Table(["", "value"], [r for r in rows if r[1] is not None]),
    ]
    for key, alt in (("loss", "training loss and learning rate"), ("eval", "in-loop evaluation"),
                     ("throughput", "throughput")):  # fmt: skip
        if key in figures:
            blocks.append(Image(figures[key], alt))
    return blocks


def eval_blocks(data: dict[str, Any], figures: dict[str, str]) -> list[Block]:
    ev = data.get("eval") or {}
    if not ev:
        return []
    blocks: list[Block] = [Heading("Evaluation")]
    ppl = ev.get("perplexity") or {}
    entropy = ev.get("unigram_entropy") or {}
    if ppl:
        rows = [
            [s, r.get("tokens"), r.get("loss"), r.get("perplexity"), entropy.get(s),
             (entropy.get(s) - r["loss"]) if isinstance(entropy.get(s), float) and isinstance(r.get("loss"), float) else None]
            for s, r in sorted(ppl.items())
        ]  # fmt: skip
        blocks.append(
            Paragraph(
                "Held-out perplexity per source. The unigram entropy is the loss of the best model that ignores "
                "context (token frequencies of the same held-out tokens); the gap is what the model learned from context."
            )
        )
        blocks.append(
            Table(["source", "tokens", "loss (nats/token)", "perplexity", "unigram entropy", "gap"], rows)
        )
        if "perplexity" in figures:
            blocks.append(Image(figures["perplexity"], "held-out loss per source"))
    tasks = ev.get("tasks") or {}
    if tasks:
        metrics = sorted({m for r in tasks.values() for m, v in (r or {}).items() if m.startswith("acc")})
        rows = [
            [task, *[(result or {}).get(m) for m in metrics], (result or {}).get("num_examples")]
            for task, result in sorted(tasks.items())
        ]
        blocks.append(
            Paragraph("Downstream tasks (multiple choice, scored by log-likelihood of each choice).")
        )
        blocks.append(Table(["task", *metrics, "examples"], rows))
    return blocks


def sample_blocks(data: dict[str, Any]) -> list[Block]:
    samples = data.get("samples") or []
    if not samples:
        return []
    blocks: list[Block] = [Heading("Sample generations")]
    for sample in samples[:6]:
        settings = sample.get("settings")
        label = f"Prompt ({settings})" if settings else "Prompt"
        blocks.append(Paragraph(f"**{label}:**"))
        blocks.append(Code(sample.get("prompt", "") + sample.get("completion", "")))
    return blocks


def config_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    if data.get("config_text"):
        blocks += [Heading("Configuration"), Paragraph("The resolved pipeline config (`pipeline_config.yaml`)."),
                   Code(data["config_text"], "yaml")]  # fmt: skip
    if data.get("train_config_text"):
        blocks += [Heading("Trainer configuration", 3), Code(data["train_config_text"], "yaml")]
    return blocks


def headline(data: dict[str, Any]) -> str:
    compute = data.get("compute") or {}
    ev = data.get("eval") or {}
    parts = []
    if compute.get("steps"):
        parts.append(f"{fmt(compute.get('steps'))} steps")
    if compute.get("tokens"):
        parts.append(f"{fmt(compute.get('tokens'))} tokens")
    overall = (ev.get("perplexity") or {}).get("all") or {}
    entropy = (ev.get("unigram_entropy") or {}).get("all")
    if overall.get("loss") is not None:
        text = f"held-out loss **{fmt(overall['loss'])}** nats/token"
        if entropy is not None:
            text += f" (unigram entropy {fmt(entropy)})"
        parts.append(text)
    return "; ".join(parts)


def build_blocks(data: dict[str, Any], figures: dict[str, str]) -> list[Block]:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[Block] = [
        Heading(f"Run report: {data['name']}", 1),
        Paragraph(f"`{data['run_dir']}` - written {stamp}"),
    ]
    if headline(data):
        blocks.append(Paragraph(headline(data)))
    for part in (stage_blocks(data), data_blocks(data), compute_blocks(data, figures), eval_blocks(data, figures),
                 sample_blocks(data), config_blocks(data)):  # fmt: skip
        blocks += part
    return blocks


def write_report(
    run_dir: str,
    out_dir: str | None = None,
    model_card: bool = True,
    *,
    eval_files: Sequence[str] = (),
    hf_dir: str | None = None,
    analysis_dir: str | None = None,
) -> dict[str, str]:
    """Write report.md, report.html and the figures (and the HF folder's README.md); returns the paths.
    ``eval_files``, ``hf_dir`` and ``analysis_dir``: see :func:`lmforge.report.collect.collect`."""
    data = collect(run_dir, eval_files, hf_dir, analysis_dir)
    out_dir = out_dir or os.path.join(run_dir, "report")
    figures = make_figures(data, out_dir)
    blocks = build_blocks(data, figures)
    paths = {"markdown": os.path.join(out_dir, "report.md"), "html": os.path.join(out_dir, "report.html")}
    write_text(paths["markdown"], to_markdown(blocks, image_dir=out_dir))
    write_text(paths["html"], to_html(blocks, f"lmforge run report: {data['name']}"))
    if model_card and data.get("hf_dir"):
        from lmforge.report.model_card import write_model_card

        paths["model_card"] = write_model_card(data, data["hf_dir"])
    return paths
