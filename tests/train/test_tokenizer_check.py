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


def _manifest_beside_the_data(config, tokenizer_file: str, n_ids: int) -> None:
    """What `lmforge tokenize` records about the tokenizer that made the token files."""
    import hashlib
    import json

    folder = os.path.dirname(config.data.paths[0])
    sha = hashlib.sha256(Path(tokenizer_file).read_bytes()).hexdigest()
    manifest = {
        "dtype": "uint16",
        "tokenizer": {"name": "made-data.json", "sha256": sha, "vocab_size": n_ids},
    }
    Path(folder, "manifest.json").write_text(json.dumps(manifest))


def test_a_tokenizer_other_than_the_one_that_made_the_data_is_refused(make_config, tmp_path):
    config = make_config(max_steps=1, save_interval=None, tokenizer=_word_level(tmp_path / "other.json", 200))
    _manifest_beside_the_data(config, _word_level(tmp_path / "made-data.json", 250), 250)
    with pytest.raises(
        ConfigError, match=r"^tokenizer: .* 200 ids, but data.paths were tokenized with made-data"
    ):
        train(config)
    assert not os.path.exists(os.path.join(config.save_folder, "tokenizer.json"))


def test_same_size_other_bytes_warns_and_trains(make_config, tmp_path, capsys):
    made = _word_level(tmp_path / "made-data.json", 256)
    config = make_config(max_steps=1, save_interval=None, tokenizer=_word_level(tmp_path / "other.json", 256))
    Path(config.tokenizer).write_text(Path(config.tokenizer).read_text() + "\n")  # same ids, other bytes
    _manifest_beside_the_data(config, made, 256)
    assert train(config).step == 1
    assert "is not byte-identical to made-data.json" in capsys.readouterr().err


def test_the_tokenizer_that_made_the_data_passes_silently(make_config, tmp_path, capsys):
    made = _word_level(tmp_path / "made-data.json", 256)
    config = make_config(max_steps=1, save_interval=None, tokenizer=made)
    _manifest_beside_the_data(config, made, 256)
    assert train(config).step == 1
    assert "warning" not in capsys.readouterr().err


def test_a_tokenizer_smaller_than_the_vocabulary_warns_about_unused_rows(make_config, tmp_path, capsys):
    # configs/tiny.yaml keeps vocab_size 50280: with an 8000-id tokenizer 42280 rows are never trained.
    train(make_config(max_steps=1, save_interval=None, tokenizer=_word_level(tmp_path / "small.json", 200)))
    err = capsys.readouterr().err
    assert "has 200 ids but model.vocab_size is 256: 56 embedding and output rows are never trained" in err
    assert "--model.vocab_size=200" in err


def test_the_run_records_the_eos_that_ends_the_data_documents(make_config, capsys):
    # tiny's preset keeps OLMo-1's EOS 50279, while lmforge tokenize ends documents with the tokenizer's EOS
    # (0 for OLMo-1's own tokenizer): the export named |||IP_ADDRESS||| as the token to stop generating at.
    from lmforge.distributed.checkpoint import checkpoint_model_config

    config = make_config(max_steps=1, save_interval=1, data={"eos_token_id": 0})
    assert config.model_config().eos_token_id == 50279
    result = train(config)
    assert checkpoint_model_config(result.checkpoint).eos_token_id == 0
    assert (
        "model.eos_token_id 50279 is not the id that ends the documents of data.paths (0"
        in capsys.readouterr().err
    )
