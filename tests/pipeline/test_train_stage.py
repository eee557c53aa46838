"""The train stage's wiring: the time-budget plan is made once and reused; the ETA reporter reads the steps."""

from __future__ import annotations

import json
import re
import time

from lmforge.pipeline.cli import load_pipeline_config
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.train_stage import (
    EtaReporter,
    build_train_config,
    resolved_train_section,
)


def _tokenizer(tmp_path) -> str:
    from lmforge.documents import write_documents
    from lmforge.tokenize.train import train_tokenizer

    docs = tmp_path / "docs" / "a.jsonl.gz"
    write_documents(
        str(docs), [{"id": str(i), "text": f"def f{i}(x):\n    return x * {i}\n"} for i in range(50)]
    )
    out = str(tmp_path / "tok" / "tokenizer.json")
    train_tokenizer(str(docs), 300, out)
    return out


def test_budget_plan_is_probed_once_and_reused(tmp_path, monkeypatch):
    from lmforge.pipeline import train_stage

    tok = _tokenizer(tmp_path)
    cfg = load_pipeline_config(
        None,
        base={
            "run_dir": str(tmp_path / "run"),
            "documents": [str(tmp_path / "docs")],
            "train": {"model": {"preset": "tiny", "d_model": 32, "n_heads": 2, "mlp_hidden_size": 64},
                      "data": {"seq_len": 16}, "global_batch_size": 2, "microbatch_size": 2,
                      "scheduler": {"warmup_steps": 100}},
            "budget": {"train_minutes": 0.5, "probe_steps": 1},
        },
    )  # fmt: skip
    layout = RunLayout(cfg.run_dir)
    (tmp_path / "run").mkdir()
    probes = []
    monkeypatch.setattr(train_stage, "probe_seconds_per_step", lambda c, n: probes.append(n) or 0.25)
    section = resolved_train_section(cfg, layout, tok)
    # 30 s x 0.85 - 15 s start-up = 10.5 s, but at least half the budget (15 s): 60 steps of 0.25 s
    assert section["max_steps"] == 60 and probes == [1]
    assert section["scheduler"]["warmup_steps"] == 6  # a warm-up longer than the run is shortened
    assert section["time_limit_minutes"] == 0.75  # a hard wall-clock cap at 1.5x the budget
    from lmforge.tokenize.tokenizer import load_tokenizer, vocab_size

    assert section["model"]["vocab_size"] == vocab_size(
        load_tokenizer(tok)
    )  # from the tokenizer, not the config
    assert section["data"]["paths"] == [layout.tokens] and section["save_folder"] == layout.train
    again = resolved_train_section(cfg, layout, tok)
    assert again == section and probes == [1]  # the saved plan, not a new probe
    with open(f"{cfg.run_dir}/train_plan.json") as f:
        assert json.load(f)["max_steps"] == 60
    build_train_config(section)  # a valid trainer config


def test_real_probe_measures_a_positive_step_time(tmp_path):
    from lmforge.pipeline.train_stage import probe_seconds_per_step

    section = {"model": {"preset": "tiny", "d_model": 32, "n_heads": 2, "mlp_hidden_size": 64, "vocab_size": 300},
               "data": {"paths": ["x"], "seq_len": 16}, "save_folder": str(tmp_path), "global_batch_size": 4,
               "microbatch_size": 2, "device": "cpu"}  # fmt: skip
    seconds = probe_seconds_per_step(build_train_config(section), 2)
    assert 0 < seconds < 30


def test_eta_reporter_prints_progress(tmp_path, capsys):
    metrics = tmp_path / "metrics.jsonl"
    reporter = EtaReporter(str(metrics), max_steps=100, interval_s=0.05)
    reporter.start()
    out = ""
    # Steps keep arriving until the reporter has seen two of its ticks apart (however slowly it gets
    # scheduled on a loaded machine), as a real run's metrics.jsonl would.
    with open(metrics, "w") as f:
        for step in range(1, 100):
            f.write(json.dumps({"step": step, "loss": 1.0}) + "\n")
            f.flush()
            time.sleep(0.01)
            out += capsys.readouterr().out
            if "ETA" in out:
                break
    reporter.stopped.set()
    reporter.join(1)
    match = re.search(r"\[pipeline\] train step (\d+)/100, [0-9.]+ steps/s, ETA [0-9.]+ min", out)
    assert match, out
    assert 1 < int(match.group(1)) <= step
