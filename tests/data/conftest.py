"""Token files made inside the tests: raw arrays whose values say where they came from."""

from __future__ import annotations

import numpy as np
import pytest

EOS = 7


def write_token_files(folder, lengths: list[int], dtype=np.uint32, seed: int = 0) -> list[str]:
    """File f holds f * 100_000 + position (so a read tells its file and offset), with EOS at random spots."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for f, length in enumerate(lengths):
        tokens = (f * 100_000 + np.arange(length) + 10).astype(dtype)
        tokens[rng.random(length) < 0.05] = EOS
        path = folder / f"part-{f:05d}-000.npy"
        tokens.tofile(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def write_tokens():
    return write_token_files


@pytest.fixture
def token_dir(tmp_path):
    folder = tmp_path / "tokens"
    write_token_files(folder, [1000, 777, 1234, 96])
    return folder
