"""The quickstart's packaged recipe is a valid pipeline config, and its results printout reads a run."""

from __future__ import annotations

import json
import re

import pytest

from lmforge.config import load_yaml
from lmforge.pipeline.cli import check_train_section, load_pipeline_config
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.quickstart import print_results, quickstart_recipe
from lmforge.pipeline.stages import build_stages


def test_recipe_builds_every_stage_in_order(tmp_path):
    base = load_yaml(quickstart_recipe())
    base["run_dir"] = str(tmp_path / "qs")
    cfg = load_pipeline_config(None, ["--budget.train_minutes=1"], base=base)
    check_train_section(cfg, RunLayout(cfg.run_dir))
    names = [s.name for s in build_stages(cfg, RunLayout(cfg.run_dir))]
    assert names == [
        "corpus",
        "curate",
        "analyze",
        "tokenizer",
        "tokenize",
        "train",
        "eval",
        "export",
        "report",
    ]
    assert cfg.train["model"]["preset"] == "tiny" and cfg.corpus.builtin == "stdlib"


def test_results_printout_puts_loss_next_to_unigram_entropy(tmp_path, capsys):
    layout = RunLayout(str(tmp_path))
    (tmp_path / "eval").mkdir()
    with open(layout.eval_results, "w") as f:
        json.dump(
            {"perplexity": {"stdlib-code": {"loss": 3.5}, "all": {"loss": 3.9}},
             "unigram_entropy": {"stdlib-code": 6.0, "all": 6.2},
             "tasks": {"stdlib_docstrings": {"acc": 0.41, "acc_norm": 0.43, "num_examples": 200}}},
            f,
        )  # fmt: skip
    print_results(str(tmp_path), started=0.0)
    out = capsys.readouterr().out
    assert "stdlib-code    loss  3.500" in out and "unigram entropy  6.000   gap +2.500" in out
    assert "task stdlib_docstrings  acc 0.410" in out


@pytest.mark.slow
def test_quickstart_command_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    """`lmforge quickstart --output DIR --minutes M` itself (the README's command), shrunk by overrides:
    the minutes become a probed step plan, every stage runs, and the printout puts each source's held-out
    loss next to its unigram entropy."""
    from lmforge.cli import main

    out = str(tmp_path / "qs")
    tiny = ["--corpus.max_mb_per_source=0.03", "--tokenizer.vocab_size=512", "--train.model.d_model=32",
            "--train.model.n_heads=2", "--train.model.mlp_hidden_size=64", "--train.data.seq_len=32",
            "--eval.limit=6", "--eval.max_documents_per_source=2", "--export.max_new_tokens=4"]  # fmt: skip
    assert main(["quickstart", "--output", out, "--minutes", "0.03", *tiny]) == 0
    printed = capsys.readouterr().out
    plan = json.loads((tmp_path / "qs" / "train_plan.json").read_text())
    assert plan["budget_seconds"] == pytest.approx(1.8) and plan["max_steps"] >= 10
    stages = json.loads((tmp_path / "qs" / "pipeline_manifest.json").read_text())["stages"]
    assert all(r["status"] == "done" for r in stages.values()) and len(stages) == 9
    assert stages["train"]["summary"]["steps"] == plan["max_steps"]
    for source in ("stdlib-code", "stdlib-docs", "python-topics", "all"):
        assert re.search(rf"\n  {source} +loss +[\d.]+ \(ppl +[\d.]+\) +unigram entropy +[\d.]+", printed), (
            source
        )
    assert f"report:      {out}/report/report.html" in printed
    assert (tmp_path / "qs" / "hf" / "README.md").is_file()
