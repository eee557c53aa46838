"""Shared test set-up: small, deterministic, CPU-only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Tests run in pytest's importlib mode (test files in different folders may share a basename, e.g. two
# test_ray.py); each folder's helper modules (analyze_fixtures.py, hf_twins.py, ...) are made importable here.
for _folder in sorted(Path(__file__).parent.iterdir()):
    if _folder.is_dir() and not _folder.name.startswith((".", "_")) and str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _deterministic_torch():
    import torch

    torch.manual_seed(0)
    yield
