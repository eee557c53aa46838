"""Decontamination refuses evaluation data it cannot use instead of silently finding nothing."""

from __future__ import annotations

import json
import os

from lmforge.cli import main


def _corpus(tmp_path) -> str:
    os.makedirs(tmp_path / "documents" / "web")
    text = "the quick brown fox jumps over the lazy dog near the quiet river bank today"
    (tmp_path / "documents" / "web" / "a.jsonl").write_text(json.dumps({"id": "1", "text": text}) + "\n")
    return str(tmp_path / "documents" / "*" / "*")


def _run(docs: str, eval_path, *extra: str) -> int:
    return main(
        ["curate", "decontaminate", "--documents", docs, "--eval", str(eval_path), "--no-progress", *extra]
    )


def test_a_malformed_eval_line_is_named(tmp_path, capsys):
    bad = tmp_path / "eval.jsonl"
    bad.write_text(json.dumps({"question": "q"}) + "\n" + '{"question": "broken\n')
    assert _run(_corpus(tmp_path), bad) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: malformed JSON" in err and "Traceback" not in err


def test_eval_fields_that_match_nothing_are_a_config_error(tmp_path, capsys):
    good = tmp_path / "eval.jsonl"
    good.write_text(json.dumps({"question": "the quick brown fox jumps over the lazy dog near"}) + "\n")
    docs = _corpus(tmp_path)
    assert _run(docs, good, "--eval-fields", "questoin") == 2
    assert "eval_fields: no evaluation text" in capsys.readouterr().err
    assert _run(docs, good, "--eval-fields", "question") == 0


def test_an_eval_folder_is_read_for_its_jsonl_files_only(tmp_path, capsys):
    # like shared/data/eval: task files beside a README; Dolma documents work as evaluation data too
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "README.md").write_text("# evaluation sets\n")
    text = "the quick brown fox jumps over the lazy dog near the quiet river bank today"
    (folder / "held_out.jsonl").write_text(json.dumps({"id": "d1", "text": text, "source": "x"}) + "\n")
    docs = _corpus(tmp_path)
    assert _run(docs, folder) == 0, capsys.readouterr().err
    [row] = [
        json.loads(line) for line in (tmp_path / "attributes/decontam/web/a.jsonl").read_text().splitlines()
    ]
    assert row["attributes"]["decontam__ngram_overlap__contaminated"] == [[0, len(text), 1.0]]
