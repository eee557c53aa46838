"""A tokenizer argument that is not a tokenizer, and impossible training options, fail in one line."""

from __future__ import annotations

import gzip
import json

import pytest

from lmforge.cli import main as lmforge_main
from lmforge.io import InputError
from lmforge.tokenize.tokenizer import load_tokenizer


def test_a_file_that_is_not_a_tokenizer_is_named(tmp_path):
    not_json = tmp_path / "docs.jsonl.gz"
    not_json.write_bytes(gzip.compress(b'{"text": "x"}\n'))
    with pytest.raises(InputError, match=r"docs\.jsonl\.gz: not a tokenizer\.json"):
        load_tokenizer(str(not_json))
    other_json = tmp_path / "other.json"
    other_json.write_text(json.dumps({"a": 1}))
    with pytest.raises(InputError, match=r"other\.json: not a tokenizer\.json"):
        load_tokenizer(str(other_json))
    with pytest.raises(FileNotFoundError, match=r"no tokenizer\.json in this folder"):
        load_tokenizer(str(tmp_path))


def test_tokenizer_train_too_small_vocab_and_directory_output_exit_2(tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "hello world"}) + "\n")
    args = ["tokenizer", "train", "--input", str(docs), "--vocab-size"]
    assert lmforge_main([*args, "5", "--output", str(tmp_path / "t.json")]) == 2
    assert "vocab_size: must be at least" in capsys.readouterr().err
    assert lmforge_main([*args, "300", "--output", str(tmp_path)]) == 2
    assert "Is a directory" in capsys.readouterr().err


def test_max_documents_counts_only_the_documents_trained_on(tmp_path):
    from lmforge.config import ConfigError
    from lmforge.tokenize.train import train_tokenizer

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": str(i), "text": f"doc {i} text"}) + "\n" for i in range(20)))
    result = train_tokenizer(str(docs), 300, str(tmp_path / "t.json"), max_documents=10)
    assert result.documents == 10  # not 11: the 11th document is never read
    assert result.bytes == sum(len(line) for line in docs.read_bytes().splitlines()[:10])
    for bad in ({"max_documents": 0}, {"min_frequency": -1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            train_tokenizer(str(docs), 300, str(tmp_path / "t.json"), **bad)


def test_tokenize_rejects_zero_processes(tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "hello"}) + "\n")
    args = ["tokenize", "--input", str(docs), "--tokenizer", str(tmp_path), "--output", str(tmp_path / "o")]
    assert lmforge_main([*args, "--processes", "0", "--no-progress"]) == 2
    assert "processes: must be at least 1" in capsys.readouterr().err


def test_training_on_no_documents_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": \n')
    out = tmp_path / "t.json"
    args = ["tokenizer", "train", "--input", str(bad), "--vocab-size", "300", "--output", str(out)]
    assert lmforge_main([*args, "--on-error", "skip"]) == 2
    assert "no documents to train on (1 rejected lines)" in capsys.readouterr().err
    assert not out.exists()
