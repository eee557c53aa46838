"""The quickstart's packaged recipe is a valid pipeline config, and its results printout reads a run."""

from __future__ import annotations

import json

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
