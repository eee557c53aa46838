"""Broken model folders and tokenizers are reported in one line naming the path (exit code 2), never a traceback."""

from __future__ import annotations

import shutil

import pytest
import yaml

from lmforge.cli import main as lmforge_main
from lmforge.io import InputError
from lmforge.models import load_model

SMALL = ["--model.vocab_size=300", "--model.d_model=32", "--model.n_layers=1", "--model.n_heads=2"]


def _init(out, *extra: str) -> int:
    return lmforge_main(["model", "init", "--preset", "tiny", "--output", str(out), *SMALL, *extra])


def _tokenizer_with(n_ids: int, path) -> str:
    from tokenizers import Tokenizer, models

    Tokenizer(models.WordLevel({f"w{i}": i for i in range(n_ids)}, unk_token="w0")).save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "model"
    assert _init(out) == 0
    return out


def test_corrupt_weights_and_mismatched_config_name_the_folder(folder, tmp_path):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(folder, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="corrupt"):
        load_model(str(corrupt))

    mismatched = tmp_path / "mismatched"
    shutil.copytree(folder, mismatched)
    config = yaml.safe_load((mismatched / "config.yaml").read_text())
    config["model"]["n_layers"] = 3
    (mismatched / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match="mismatched: weights do not match the config") as err:
        load_model(str(mismatched))
    assert str(err.value).count("mismatched") == 1  # the folder is named once, not twice


def test_init_refuses_a_file_that_is_not_a_tokenizer(tmp_path, capsys):
    not_tokenizer = tmp_path / "tok.json"
    not_tokenizer.write_text('{"hello": 1}')
    assert _init(tmp_path / "out", "--tokenizer", str(not_tokenizer)) == 2
    assert "not a tokenizer.json" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tokenizer.json").exists()


def test_init_refuses_a_tokenizer_larger_than_the_embedding(tmp_path, capsys):
    big = _tokenizer_with(2000, tmp_path / "big.json")
    assert _init(tmp_path / "out", "--tokenizer", big) == 2
    assert "model.vocab_size" in capsys.readouterr().err
    assert _init(tmp_path / "ok", "--tokenizer", _tokenizer_with(50, tmp_path / "small.json")) == 0
    assert (tmp_path / "ok" / "tokenizer.json").read_bytes() == (tmp_path / "small.json").read_bytes()


def test_output_that_is_a_file_and_bad_seq_len_are_one_line_errors(tmp_path, capsys):
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    assert _init(existing) == 2
    assert "file.txt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        lmforge_main(["model", "info", "--preset", "tiny", "--seq-len", "0"])
    assert exit_.value.code == 2
