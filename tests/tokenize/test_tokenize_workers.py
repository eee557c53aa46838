"""``tokenize --processes N``: a dead worker or a bad line ends the run with one clear error, never a hang."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal

import pytest

import lmforge.tokenize.encode as enc
from lmforge.cli import main
from lmforge.tokenize.run import tokenize_documents


def _tree(folder) -> dict[str, bytes]:
    """Every file under folder (progress markers included) -> its bytes."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.relpath(os.path.join(root, name), folder)] = f.read()
    return out


needs_fork = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="workers inherit the patch by fork"
)


@needs_fork
def test_a_worker_killed_by_a_signal_fails_the_run_and_a_rerun_resumes(
    tmp_path, corpus, tokenizer_path, monkeypatch, capsys, no_hang
):
    fresh = tmp_path / "fresh"
    tokenize_documents(corpus, tokenizer_path, str(fresh), batch_bytes=3000, progress=False)
    victim = sorted(corpus)[3]  # inputs before it can finish, the ones after cannot
    parent = os.getpid()
    original = enc.Encoder.encode

    def killed_on_victim(self, batch):
        if os.getpid() != parent and batch.path == victim:
            os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
        return original(self, batch)

    monkeypatch.setattr(enc.Encoder, "encode", killed_on_victim)
    out = tmp_path / "out"
    args = ["tokenize", "--input", *corpus, "--tokenizer", tokenizer_path, "--output", str(out)]
    # multiprocessing.Pool replaced the dead worker and waited forever for its batch
    assert main([*args, "--processes", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert err.startswith("lmforge tokenize: error: a tokenizer worker process died (killed by SIGKILL")
    assert "with these lines in flight: " in err and f"{victim} lines 1-" in err, err
    names = os.listdir(out)
    assert "manifest.json" not in names and not [n for n in names if n.startswith(".part-")]
    assert not [n for n in names if n.startswith("part-00003")]  # nothing of the victim is published
    assert len(os.listdir(out / ".progress")) <= 3  # inputs before the victim at most

    monkeypatch.setattr(enc.Encoder, "encode", original)
    tokenize_documents(corpus, tokenizer_path, str(out), processes=2, batch_bytes=3000, progress=False)
    assert _tree(out) == _tree(fresh)  # the rerun finishes the rest: same bytes as an uninterrupted run


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [(b"{oops}\n", r"a\.jsonl:2: malformed JSON"), (b'{"text": "\xff"}\n', r"a\.jsonl:2: invalid UTF-8")],
)
def test_a_bad_line_with_two_processes_exits_2_naming_file_and_line(
    tmp_path, tokenizer_path, capsys, no_hang, bad_line, message
):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "fine"}\n' + bad_line + b'{"text": "fine"}\n')
    out = tmp_path / "out"
    args = ["tokenize", "--input", str(path), "--tokenizer", tokenizer_path, "--output", str(out)]
    assert main([*args, "--processes", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(rf"^lmforge tokenize: error: .*{message}", err), err
    assert not [n for n in os.listdir(out) if n.endswith(".npy") or n.startswith(".part")]
