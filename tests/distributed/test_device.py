"""Asking for a device this machine lacks is a config error naming the field (one line from the CLI)."""

from __future__ import annotations

import pytest
import torch

from lmforge.config import ConfigError
from lmforge.distributed.process_group import resolve_device


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^device: cuda requested but no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
