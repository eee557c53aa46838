"""`tokenizer:` is checked before step 0: a file that is not a tokenizer, or one larger than the embedding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models

from lmforge.config import ConfigError
from lmforge.io import InputError
from lmforge.train.trainer import train


def _word_level(path, n_ids: int) -> str:
    Tokenizer(models.WordLevel({f"w{i}": i for i in range(n_ids)}, unk_token="w0")).save(str(path))
    return str(path)


def test_a_non_tokenizer_fails_before_the_run_folder_exists(make_config, tmp_path):
    bogus = tmp_path / "tokenizer.json"
    bogus.write_text('{"not": "a tokenizer"}')
    config = make_config(max_steps=1, save_interval=None, tokenizer=str(bogus))
    with pytest.raises(InputError, match="not a tokenizer"):
        train(config)
    assert not os.path.exists(config.save_folder)


def test_a_tokenizer_larger_than_the_embedding_is_a_config_error(make_config, tmp_path):
    config = make_config(max_steps=1, save_interval=None, tokenizer=_word_level(tmp_path / "big.json", 1000))
    with pytest.raises(ConfigError, match=r"^tokenizer: .* 1000 ids"):
        train(config)


def test_the_run_folder_gets_a_complete_copy(make_config, tmp_path):
    tokenizer = _word_level(tmp_path / "small.json", 200)
    result = train(make_config(max_steps=1, save_interval=None, tokenizer=tokenizer))
    copied = os.path.join(result.save_folder, "tokenizer.json")
    assert Path(copied).read_bytes() == Path(tokenizer).read_bytes()
    assert not [name for name in os.listdir(result.save_folder) if ".tmp-" in name]


def test_a_tokenizer_folder_is_copied_into_the_run_and_its_checkpoints(make_config, tmp_path):
    folder = tmp_path / "tok"
    folder.mkdir()
    tokenizer = _word_level(folder / "tokenizer.json", 200)
    result = train(make_config(max_steps=2, save_interval=2, tokenizer=str(folder)))
    for where in (result.save_folder, result.checkpoint):
        assert Path(where, "tokenizer.json").read_bytes() == Path(tokenizer).read_bytes(), where
