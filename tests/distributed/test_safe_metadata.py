"""DCP's .metadata is a pickle: lmforge reads it with an allow-list, so a crafted checkpoint cannot run code."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest
import torch
import torch.distributed.checkpoint as dcp

import lmforge
from lmforge.distributed.safe_metadata import SafeFileSystemReader
from lmforge.io import InputError
from lmforge.train.trainer import Trainer


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_real_metadata_of_every_dtype_loads(tmp_path):
    state = {
        "w32": torch.randn(3, 4),
        "w16": torch.randn(2, 2, dtype=torch.bfloat16),
        "half": torch.randn(2, dtype=torch.float16),
        "steps": torch.arange(3),
        "extra": {"note": "bytes item", "lr": 0.1},
    }
    dcp.save(state, checkpoint_id=str(tmp_path / "ck"), no_dist=True)
    metadata = SafeFileSystemReader(str(tmp_path / "ck")).read_metadata()
    assert metadata.state_dict_metadata["w16"].properties.dtype == torch.bfloat16
    loaded = {k: torch.zeros_like(v) if isinstance(v, torch.Tensor) else {} for k, v in state.items()}
    loaded["extra"] = {"note": "", "lr": 0.0}
    dcp.load(loaded, storage_reader=SafeFileSystemReader(str(tmp_path / "ck")), no_dist=True)
    assert torch.equal(loaded["w16"], state["w16"]) and loaded["extra"] == state["extra"]


def test_a_crafted_metadata_pickle_is_refused_before_it_runs(make_config, tmp_path):
    config = make_config(max_steps=1, save_interval=1)
    Trainer(config).fit()
    step = os.path.join(config.save_folder, "step1")
    evil = tmp_path / "evil" / "step1"
    shutil.copytree(step, evil)
    marker = tmp_path / "code-ran"
    (evil / ".metadata").write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(InputError, match=r"\.metadata: .*mkdir is not allowed"):
        lmforge.load_model(str(evil))
    assert not marker.exists()
    assert lmforge.load_model(step) is not None  # the untouched checkpoint still loads
