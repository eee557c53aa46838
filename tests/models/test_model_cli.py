"""`lmforge model info/init` and load_model's dispatch over folder kinds."""

from __future__ import annotations

import json

import pytest
import torch

from lmforge.cli import main as lmforge_main
from lmforge.models import load_model
from lmforge.nn import flops_per_token


def test_info_prints_counts_without_allocating(capsys):
    assert lmforge_main(["model", "info", "--preset", "olmo_7b"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_params"] == 6_888_095_744
    assert info["family"] == "olmo"
    # 6N + attention: N excludes the input embedding (a lookup) but counts the output projection.
    n = info["num_params"] - info["embedding_size"] * info["d_model"]
    assert info["flops_per_token"] == 6 * n + 12 * 32 * 4096 * 2048


def test_info_accepts_overrides_and_seq_len(capsys):
    assert lmforge_main(["model", "info", "--preset", "tiny", "--model.n_kv_heads=2", "--seq-len", "64"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_kv_heads"] == 2 and info["seq_len"] == 64


def test_init_writes_a_loadable_folder(tmp_path, capsys):
    def init(out) -> int:
        return lmforge_main(
            [
                "model",
                "init",
                "--preset",
                "tiny_olmo2",
                "--seed",
                "4",
                "--output",
                str(out),
                "--model.vocab_size=300",
            ]
        )

    out = tmp_path / "m"
    assert init(out) == 0
    capsys.readouterr()
    model = load_model(str(out))
    assert model.config.family == "olmo2" and model.config.vocab_size == 300
    ids = torch.randint(0, 300, (1, 8))
    assert model(ids).logits.shape == (1, 8, 384)
    # Same seed, same weights.
    assert init(tmp_path / "again") == 0
    again = load_model(str(tmp_path / "again"))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_flops_grow_with_sequence_length():
    from lmforge.models import get_preset

    config = get_preset("tiny")
    assert flops_per_token(config, 1024) - flops_per_token(config, 512) == 12 * 2 * 128 * 512


def test_load_model_rejects_unknown_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing: no such folder"):
        load_model(str(tmp_path / "missing"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"file\.txt: not a model folder"):
        load_model(str(tmp_path / "file.txt"))


def _tokenizer(path, names: list[str]) -> str:
    from tokenizers import Tokenizer, models

    Tokenizer(models.WordLevel({name: i for i, name in enumerate(names)}, unk_token=names[0])).save(str(path))
    return str(path)


def test_init_takes_eos_and_pad_from_the_tokenizer_when_the_presets_are_not_its_tokens(tmp_path, capsys):
    from lmforge.models import read_model_config

    # The tiny preset keeps OLMo-1's ids (EOS 50279, PAD 1); this tokenizer has 300 ids, EOS 7, PAD 9.
    names = [f"w{i}" for i in range(300)]
    names[7], names[9] = "<|endoftext|>", "<|pad|>"
    tok = _tokenizer(tmp_path / "tok.json", names)
    base = ["model", "init", "--preset", "tiny", "--model.vocab_size=300", "--tokenizer", tok, "--output"]
    assert lmforge_main([*base, str(tmp_path / "a")]) == 0
    config = read_model_config(str(tmp_path / "a"))
    assert (config.eos_token_id, config.pad_token_id) == (7, 1)  # 1 is a token of it ("w1"): kept
    # ids given on the command line are kept as given, even one the tokenizer lacks
    assert (
        lmforge_main([*base, str(tmp_path / "b"), "--model.eos_token_id=3", "--model.pad_token_id=999"]) == 0
    )
    config = read_model_config(str(tmp_path / "b"))
    assert (config.eos_token_id, config.pad_token_id) == (3, 999)
    # without a tokenizer the preset's ids stay
    assert lmforge_main(["model", "init", "--preset", "tiny", "--output", str(tmp_path / "d")]) == 0
    assert read_model_config(str(tmp_path / "d")).eos_token_id == 50279
