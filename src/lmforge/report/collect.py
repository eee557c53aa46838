"""Gather everything a run folder knows about itself into one plain dict (the report's single input).

Every source is optional: a report of a run that stopped after training still shows data and compute. The
trainer's ``metrics.jsonl`` is read tolerantly (first of several plausible key names), because it is the one
file written by a long-running process that may have been killed mid-line.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from typing import Any

import yaml

from lmforge.io import InputError
from lmforge.pipeline.layout import RunLayout

# metric name -> keys the trainer may use for it, most specific first
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "step": ("step", "global_step"),
    "loss": ("train/loss", "train/CrossEntropyLoss", "loss", "train_loss"),
    "lr": ("optim/lr", "train/lr", "lr", "learning_rate"),
    "tokens": ("train/tokens", "tokens", "tokens_seen", "global_tokens"),
    "tokens_per_second": ("throughput/tokens_per_second", "tokens_per_s", "tokens_per_second", "tps"),
    "mfu": ("throughput/mfu", "mfu"),
    "elapsed": ("time/elapsed", "elapsed_seconds", "elapsed", "wall_time", "time"),
    "grad_norm": ("optim/grad_norm", "train/grad_norm", "grad_norm"),
}


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None


def read_metrics(path: str) -> list[dict[str, Any]]:
    """Rows of a metrics JSONL file; a torn last line (killed writer, no newline yet) is ignored.

    Any other line that is not a JSON object is an error naming the line: skipping it would report a
    curve with a silent gap (the trainer itself rewrites the file without a torn tail when it resumes).
    """
    rows: list[dict[str, Any]] = []
    if not os.path.isfile(path):
        return rows
    with open(path, "rb") as handle:
        lines = handle.readlines()
    for line_no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as err:  # malformed JSON and invalid UTF-8 alike
            if line_no == len(lines) and not raw.endswith(b"\n"):
                break
            raise InputError(path, line_no, f"not a JSON object of metrics ({err})") from None
        if not isinstance(row, dict):
            raise InputError(path, line_no, f"not a JSON object of metrics (a {type(row).__name__})")
        rows.append(row)
    return rows


def pick(row: dict[str, Any], metric: str) -> float | None:
    for key in METRIC_KEYS.get(metric, (metric,)):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def series(rows: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    """(steps, values) of ``metric`` over the rows that have both."""
    steps, values = [], []
    for i, row in enumerate(rows):
        value = pick(row, metric)
        if value is None:
            continue
        step = pick(row, "step")
        steps.append(step if step is not None else float(i))
        values.append(value)
    return steps, values


def eval_series(rows: list[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """In-loop evaluation curves: every numeric key that starts with ``eval/``."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for i, row in enumerate(rows):
        step = pick(row, "step")
        for key, value in row.items():
            if key.startswith("eval/") and isinstance(value, (int, float)) and not isinstance(value, bool):
                xs, ys = out.setdefault(key, ([], []))
                xs.append(step if step is not None else float(i))
                ys.append(float(value))
    return out


def compute_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {}
    last = rows[-1]
    steps = [s for s in (pick(r, "step") for r in rows) if s is not None]
    tps = [v for v in (pick(r, "tokens_per_second") for r in rows) if v is not None]
    mfu = [v for v in (pick(r, "mfu") for r in rows) if v is not None]
    losses = [v for v in (pick(r, "loss") for r in rows) if v is not None]
    tokens = pick(last, "tokens")
    return {
        "steps": int(max(steps)) if steps else len(rows),
        "tokens": None if tokens is None else int(tokens),  # a count: "768", not "768.00"
        "wall_seconds": pick(last, "elapsed"),
        "tokens_per_second": sum(tps[-10:]) / len(tps[-10:]) if tps else None,
        "mfu": sum(mfu[-10:]) / len(mfu[-10:]) if mfu else None,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
    }


def _find_metrics(layout: RunLayout) -> str | None:
    candidates = [os.path.join(layout.train, "metrics.jsonl")]
    candidates += sorted(glob.glob(os.path.join(layout.train, "**", "metrics.jsonl"), recursive=True))
    # a trainer's own save folder (`lmforge train`, no pipeline around it) keeps metrics.jsonl at its top
    candidates.append(os.path.join(layout.run_dir, "metrics.jsonl"))
    return next((c for c in candidates if os.path.isfile(c)), None)


def is_reportable(run_dir: str) -> bool:
    """A pipeline run folder (its manifest) or a training folder (its metrics.jsonl): something to report."""
    layout = RunLayout(run_dir)
    return os.path.isfile(layout.manifest) or _find_metrics(layout) is not None


def _curation_stats(layout: RunLayout) -> list[dict[str, Any]]:
    """Every ``stats.json`` the curation stage left, with its path relative to the curation folder."""
    found = []
    for path in sorted(glob.glob(os.path.join(layout.curated, "**", "stats*.json"), recursive=True)):
        data = _read_json(path)
        if data is not None:
            found.append({"path": os.path.relpath(path, layout.curated), "stats": data})
    return found


def _perplexity_rows(ppl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``lmforge eval ppl``'s results.json as the report's per-source rows (``all``: the micro average)."""
    keys = ("loss", "token_perplexity", "bits_per_byte", "tokens", "documents")
    rows = {}
    for name, m in [
        *sorted((ppl.get("sources") or {}).items()),
        ("all", (ppl.get("overall") or {}).get("micro")),
    ]:
        if isinstance(m, dict):
            rows[name] = {k: m.get(k) for k in keys} | {"perplexity": m.get("token_perplexity")}
    return rows


def read_eval_file(path: str) -> dict[str, Any]:
    """One evaluation results file as the report's ``eval`` section: the pipeline's ``eval/results.json``,
    ``lmforge eval ppl --output`` (per-source perplexity) or ``lmforge eval tasks --output`` (per task)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such evaluation results file")
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputError(path, None, "not a JSON object of evaluation results")
    if "perplexity" in data or "tasks" in data:
        return data
    if "overall" in data and "sources" in data:
        return {"perplexity": _perplexity_rows(data)}
    tasks = {name: r for name, r in data.items() if isinstance(r, dict) and "num_examples" in r}
    if not tasks:
        raise InputError(path, None, "neither `lmforge eval ppl` nor `lmforge eval tasks` results")
    return {"tasks": tasks}


def collect(
    run_dir: str,
    eval_files: Sequence[str] = (),
    hf_dir: str | None = None,
    analysis_dir: str | None = None,
) -> dict[str, Any]:
    """What ``run_dir`` recorded. ``eval_files``, ``hf_dir`` and ``analysis_dir`` add what the separate
    commands wrote elsewhere (``lmforge eval ppl/tasks --output``, ``lmforge export --output``,
    ``lmforge analyze --output``); they win over the run folder's own."""
    layout = RunLayout(run_dir)
    config_text = ""
    config: dict[str, Any] = {}
    if os.path.isfile(layout.config):
        with open(layout.config, encoding="utf-8") as handle:
            config_text = handle.read()
        config = yaml.safe_load(config_text) or {}
    manifest = _read_json(layout.manifest) or {}
    metrics_path = _find_metrics(layout)
    rows = read_metrics(metrics_path) if metrics_path else []
    configs = [os.path.join(layout.train, "config.yaml")]
    configs += [os.path.join(os.path.dirname(metrics_path), "config.yaml")] if metrics_path else []
    train_config = next((c for c in configs if os.path.isfile(c)), "")
    evaluation = _read_json(layout.eval_results) or {}
    for path in eval_files:
        for key, value in read_eval_file(path).items():
            if isinstance(value, dict) and isinstance(evaluation.get(key), dict):
                value = {**evaluation[key], **value}  # perplexity from one file, tasks from another
            evaluation[key] = value
    analysis = _read_json(os.path.join(layout.analysis, "report.json"))
    if analysis_dir is not None:
        analysis = _read_json(os.path.join(analysis_dir, "report.json"))
        if analysis is None:
            raise FileNotFoundError(f"{analysis_dir}: no report.json (an `lmforge analyze --output` folder)")
    if hf_dir is not None and not os.path.isfile(os.path.join(hf_dir, "config.json")):
        raise FileNotFoundError(f"{hf_dir}: no config.json (an `lmforge export --output` folder)")
    return {
        "run_dir": os.path.abspath(run_dir),
        "name": config.get("name") or os.path.basename(os.path.abspath(run_dir)),
        "config": config,
        "config_text": config_text,
        "train_config_text": open(train_config, encoding="utf-8").read()
        if os.path.isfile(train_config)
        else "",
        "stages": manifest.get("stages", {}),
        "corpus": _read_json(os.path.join(layout.corpus, "stats.json")),
        "curation": _curation_stats(layout),
        "analysis": analysis,
        "tokenize": (manifest.get("stages", {}).get("tokenize") or {}).get("summary", {}),
        "metrics_path": metrics_path,
        "metrics": rows,
        "compute": compute_summary(rows),
        "eval": evaluation,
        "samples": _read_json(layout.samples) or [],
        "hf_dir": hf_dir or (layout.hf if os.path.isdir(layout.hf) else None),
    }
