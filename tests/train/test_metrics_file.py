"""metrics.jsonl after a kill mid-append: resume and `lmforge plot` drop the torn last line, name any other."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest
import torch

from lmforge.io import InputError
from lmforge.train.callbacks import MetricsLogger
from lmforge.train.plot import plot_run, read_metrics

ROWS = [{"step": s, "loss": 5.0 - s, "lr": 1e-3, "tokens_per_s": 100.0, "mfu": 0.01} for s in (1, 2, 3)]


def _write(path, text: str) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + text)


def test_resume_drops_a_torn_last_line_and_later_steps(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    _write(metrics, '{"step": 4, "lo')
    MetricsLogger(str(tmp_path), is_main=True).on_train_start(SimpleNamespace(step=2))
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [1, 2]


def test_a_malformed_complete_line_is_named(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps(ROWS[0]) + "\n{oops\n" + json.dumps(ROWS[1]) + "\n")
    with pytest.raises(InputError, match=r"metrics\.jsonl:2: "):
        MetricsLogger(str(tmp_path), is_main=True).on_train_start(SimpleNamespace(step=5))
    with pytest.raises(InputError, match=r"metrics\.jsonl:2: malformed JSON"):
        read_metrics(str(metrics))


def test_plot_reads_a_run_being_written(tmp_path):
    _write(tmp_path / "metrics.jsonl", '{"step": 4, "lo')
    assert [r["step"] for r in read_metrics(str(tmp_path / "metrics.jsonl"))] == [1, 2, 3]
    written = plot_run(str(tmp_path))
    assert [os.path.basename(p) for p in written] == ["loss.png", "lr.png", "throughput.png"]
    for path in written:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert not [n for n in os.listdir(os.path.dirname(written[0])) if ".tmp-" in n]


def test_ppl_tokens_evaluator_names_a_token_file_of_the_wrong_size(tmp_path):
    import numpy as np

    from lmforge.config import ConfigError
    from lmforge.train.evaluators import TokenPerplexity

    odd = tmp_path / "odd.npy"
    odd.write_bytes(np.arange(64, dtype=np.uint16).tobytes() + b"x")
    args = {"seq_len": 16, "batch_size": 2, "max_batches": None, "token_dtype": "uint16"}
    args |= {"device": torch.device("cpu"), "autocast_dtype": None}
    with pytest.raises(InputError, match=r"odd\.npy: 129 bytes is not a whole number of uint16"):
        TokenPerplexity("held", [str(odd)], **args)
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(ConfigError, match="no 16-token window"):
        TokenPerplexity("held", [str(tmp_path / "empty.npy")], **args)
