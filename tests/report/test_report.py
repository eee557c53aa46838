"""The run report and model card from a synthetic run folder (no training needed)."""

from __future__ import annotations

import json
import os

from lmforge.cli import main as lmforge_main
from lmforge.report.collect import collect, compute_summary, read_metrics


def _write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _fake_run(root) -> str:
    run = str(root / "run")
    rows = [
        {
            "step": s,
            "loss": 8.0 - 0.1 * s,
            "lr": 1e-3,
            "tokens_seen": 512 * s,
            "tokens_per_s": 1000.0 + s,
            "mfu": 0.02,
        }
        for s in range(1, 21)
    ]
    rows[9]["eval/stdlib-code/loss"] = 7.2
    rows[19]["eval/stdlib-code/loss"] = 6.1
    metrics = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 21, "loss": 1.'  # torn last line
    _write(f"{run}/train/metrics.jsonl", metrics)
    _write(f"{run}/pipeline_config.yaml", "run_dir: run\nname: demo-run\ntrain: {max_steps: 20}\n")
    _write(
        f"{run}/pipeline_manifest.json",
        {"stages": {
            "corpus": {"status": "done", "seconds": 1.5, "attempts": 1, "summary": {"documents": 10}},
            "train": {"status": "done", "seconds": 60.0, "attempts": 2, "summary": {"parameters": 123456}},
        }},
    )  # fmt: skip
    _write(
        f"{run}/corpus/stats.json",
        {"python": "3.11.7", "eval_fraction": 0.05, "documents": {"stdlib-code": 9}, "eval_documents": {"stdlib-code": 1},
         "bytes": {"stdlib-code": 2_000_000}},
    )  # fmt: skip
    counts = {"documents_in": 10, "kept": 8, "filtered": 2, "rejected": 0, "filtered_by": {"exclude: short": 2},
              "modified": {"spans_replaced": 3}}  # fmt: skip
    _write(
        f"{run}/curated/mixed/code/stats-code.json",
        {
            "step": "mix",
            "stream": "code",
            "total": counts,
            "by_source": {"stdlib-code": counts},
            "reconciles": True,
        },
    )
    _write(
        f"{run}/eval/results.json",
        {"perplexity": {"stdlib-code": {"loss": 4.0, "perplexity": 54.6, "tokens": 1000},
                        "all": {"loss": 4.0, "perplexity": 54.6, "tokens": 1000}},
         "unigram_entropy": {"stdlib-code": 5.5, "all": 5.5},
         "tasks": {"stdlib_docstrings": {"acc": 0.4, "acc_norm": 0.45, "num_examples": 20}}},
    )  # fmt: skip
    _write(
        f"{run}/samples.json", [{"prompt": "def ", "completion": "f(x):\n    return x", "settings": "greedy"}]
    )
    _write(
        f"{run}/hf/config.json",
        {"architectures": ["OlmoForCausalLM"], "model_type": "olmo", "num_hidden_layers": 2, "hidden_size": 128,
         "num_attention_heads": 4, "intermediate_size": 384, "vocab_size": 4096, "max_position_embeddings": 512},
    )  # fmt: skip
    return run


def test_metrics_reader_skips_a_torn_last_line_and_summarises(tmp_path):
    run = _fake_run(tmp_path)
    rows = read_metrics(f"{run}/train/metrics.jsonl")
    assert len(rows) == 20
    summary = compute_summary(rows)
    assert summary["steps"] == 20 and summary["tokens"] == 512 * 20
    assert isinstance(summary["tokens"], int)  # shown as a count ("768"), never "768.00"
    assert abs(summary["final_loss"] - 6.0) < 1e-9 and abs(summary["first_loss"] - 7.9) < 1e-9
    assert abs(summary["tokens_per_second"] - sum(1000.0 + s for s in range(11, 21)) / 10) < 1e-9


def test_report_command_writes_markdown_html_figures_and_model_card(tmp_path):
    run = _fake_run(tmp_path)
    assert lmforge_main(["report", run]) == 0
    md = _read(f"{run}/report/report.md")
    for expected in (
        "# Run report: demo-run",
        "held-out loss **4** nats/token (unigram entropy 5.5)",
        "| stdlib-code | 10 | 8 | 2 | 0 | 80.0% | spans_replaced: 3, exclude: short: 2 |",
        "| stdlib_docstrings | 0.4 | 0.45 | 20 |",
        "![training loss and learning rate](loss.png)",
        "![in-loop evaluation](eval.png)",
        "| parameters | 123,456 |",
        "f(x):",
    ):
        assert expected in md, expected
    for figure in ("loss.png", "eval.png", "throughput.png", "perplexity.png"):
        with open(f"{run}/report/{figure}", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    html = _read(f"{run}/report/report.html")
    assert html.count("data:image/png;base64,") == 4 and "<table>" in html and "<script" not in html
    card = _read(f"{run}/hf/README.md")
    assert card.startswith("---\nlicense: apache-2.0\nlibrary_name: transformers")
    for expected in ("## Data provenance", "## Code", "## Training settings", "## Evaluation", "OlmoForCausalLM",
                     "AutoModelForCausalLM.from_pretrained", "stdlib-code"):  # fmt: skip
        assert expected in card, expected


def test_collect_tolerates_an_empty_run(tmp_path):
    data = collect(str(tmp_path))
    assert data["metrics"] == [] and data["eval"] == {} and data["hf_dir"] is None


def test_report_of_a_trainer_save_folder_and_refusal_of_an_unrelated_folder(tmp_path, capsys):
    """`lmforge train`'s own save folder (metrics.jsonl and config.yaml at its top) is reported too; a folder
    with neither a manifest nor metrics is refused instead of yielding an empty report."""
    folder = str(tmp_path / "save")
    rows = [{"step": s, "loss": 5.0 - 0.5 * s, "tokens_seen": 256 * s, "mfu": 0.1} for s in range(1, 5)]
    _write(f"{folder}/metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    _write(f"{folder}/config.yaml", "max_steps: 4\nglobal_batch_size: 2\n")
    assert lmforge_main(["report", folder]) == 0
    md = _read(f"{folder}/report/report.md")
    assert "| optimizer steps | 4 |" in md and "| tokens trained on | 1,024 |" in md
    assert "global_batch_size: 2" in md and "![training loss and learning rate](loss.png)" in md

    os.makedirs(tmp_path / "unrelated")
    capsys.readouterr()
    assert lmforge_main(["report", str(tmp_path / "unrelated")]) == 2
    assert "neither a pipeline run folder" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "unrelated" / "report")


def test_report_of_the_separate_commands_outputs(tmp_path, capsys):
    """The README's step-by-step flow writes eval results, the HF folder and the corpus analysis outside the
    trainer's save folder (`--output ppl.json`, `release/tiny-hf`, `reports/corpus`); `--eval`, `--hf` and
    `--analysis` bring them into the report and the model card."""
    folder = str(tmp_path / "runs" / "tiny")
    rows = [{"step": s, "loss": 5.0 - 0.5 * s, "tokens_seen": 256 * s} for s in range(1, 5)]
    _write(f"{folder}/metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    _write(f"{folder}/config.yaml", "max_steps: 4\n")
    ppl = {  # the shape of `lmforge eval ppl --output`
        "model": folder, "overall": {"micro": {"loss": 3.25, "token_perplexity": 25.79, "tokens": 900, "documents": 3}},
        "sources": {"web": {"loss": 3.5, "token_perplexity": 33.12}, "code": {"loss": 2.75, "token_perplexity": 15.64}},
    }  # fmt: skip
    _write(f"{tmp_path}/ppl.json", ppl)
    _write(f"{tmp_path}/tasks.json", {"arc_easy": {"acc": 0.3125, "acc_norm": 0.375, "num_examples": 16}})
    _write(f"{tmp_path}/release/config.json", {"architectures": ["OlmoForCausalLM"], "num_hidden_layers": 2})
    _write(f"{tmp_path}/reports/corpus/report.json", {"totals": {"documents": 42}, "sources": {}})

    args = ["report", folder, "--eval", f"{tmp_path}/ppl.json", f"{tmp_path}/tasks.json"]
    args += ["--hf", f"{tmp_path}/release", "--analysis", f"{tmp_path}/reports/corpus"]
    assert lmforge_main(args) == 0
    md = _read(f"{folder}/report/report.md")
    assert "| web | - | 3.5 | 33.12 |" in md and "| code | - | 2.75 | 15.64 |" in md
    assert "| all | 900 | 3.25 | 25.79 |" in md
    assert "| arc_easy | 0.3125 | 0.375 | 16 |" in md
    card = _read(f"{tmp_path}/release/README.md")
    assert "held-out loss **3.25**" in card and "arc_easy" in card
    assert collect(folder, analysis_dir=f"{tmp_path}/reports/corpus")["analysis"]["totals"]["documents"] == 42

    _write(f"{tmp_path}/other.json", {"hello": 1})
    capsys.readouterr()
    assert lmforge_main(["report", folder, "--eval", f"{tmp_path}/other.json"]) == 2
    assert (
        "other.json: neither `lmforge eval ppl` nor `lmforge eval tasks` results" in capsys.readouterr().err
    )
    assert lmforge_main(["report", folder, "--hf", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_a_malformed_metrics_line_before_the_end_is_named(tmp_path, capsys):
    run = _fake_run(tmp_path)
    metrics = f"{run}/train/metrics.jsonl"
    with open(metrics, "rb") as handle:
        lines = handle.readlines()
    lines[3] = b'{"step": 4, "loss": \xff\n'  # bad bytes mid-file: was skipped unseen (or a traceback)
    with open(metrics, "wb") as handle:
        handle.writelines(lines)
    assert lmforge_main(["report", run]) == 2
    err = capsys.readouterr().err
    assert "metrics.jsonl:4: not a JSON object of metrics" in err and "Traceback" not in err
