"""Train-config fixtures shared by tests/train and tests/distributed: a tiny model and a token file made per test."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import yaml

from lmforge.config import build_config, merge


def write_tokens(path: str, n_tokens: int = 20000, vocab: int = 250, seed: int = 0) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    # A learnable stream (each token mostly follows from the previous one) so the loss visibly falls.
    tokens = np.empty(n_tokens, dtype=np.uint16)
    tokens[0] = 0
    noise = rng.integers(0, vocab, n_tokens)
    follow = rng.random(n_tokens) < 0.8
    for i in range(1, n_tokens):
        tokens[i] = (tokens[i - 1] * 7 + 3) % vocab if follow[i] else noise[i]
    tokens.tofile(path)
    return path


def base_section(tmp_path: Any, **overrides: Any) -> dict[str, Any]:
    data = write_tokens(str(tmp_path / "data" / "train.npy"))
    section = {
        "run_name": "test",
        "seed": 1,
        "model": {"preset": "tiny", "vocab_size": 256, "d_model": 64, "n_heads": 4, "mlp_hidden_size": 128},
        "data": {"paths": [data], "seq_len": 32, "dtype": "uint16"},
        "save_folder": str(tmp_path / "run"),
        "global_batch_size": 8,
        "microbatch_size": 4,
        "max_steps": 6,
        "save_interval": 3,
        "log_interval": 1,
        "device": "cpu",
        "optimizer": {"lr": 1e-2},
        "scheduler": {"name": "linear", "warmup_steps": 2},
    }
    return merge(section, overrides)


@pytest.fixture
def make_config(tmp_path):
    def make(**overrides: Any):
        from lmforge.train.config import TrainConfig

        return build_config(TrainConfig, base=base_section(tmp_path, **overrides))

    return make


@pytest.fixture
def write_config(tmp_path):
    def write(name: str = "config.yaml", **overrides: Any) -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(base_section(tmp_path, **overrides)))
        return str(path)

    return write
