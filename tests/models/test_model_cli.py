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
    with pytest.raises(FileNotFoundError):
        load_model(str(tmp_path / "missing"))
