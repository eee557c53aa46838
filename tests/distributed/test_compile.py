"""compile: true compiles each block's forward (one graph per block, reused), with the losses and parameter
names of the eager model. The aot_eager backend traces like inductor but needs no C++ compiler."""

from __future__ import annotations

import json
import os

import pytest
import torch

import lmforge
from lmforge.train.trainer import train


def _losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["loss"] for line in f]


def test_compile_per_block_matches_eager(make_config, tmp_path, monkeypatch):
    compile_ = torch.compile
    compiled = []

    def aot_eager(fn, **options):
        compiled.append(fn)
        return compile_(fn, backend="aot_eager", **options)

    monkeypatch.setattr(torch, "compile", aot_eager)
    eager = train(make_config(save_folder=str(tmp_path / "eager"), max_steps=3, save_interval=None))
    result = train(make_config(save_folder=str(tmp_path / "compiled"), max_steps=3, compile=True))
    torch._dynamo.reset()
    # one compile per block (2 layers), none of the whole model
    assert [type(fn.__self__).__name__ for fn in compiled] == ["Block", "Block"]
    assert _losses(result.save_folder) == pytest.approx(_losses(eager.save_folder), abs=1e-5)
    # the checkpoint has the eager parameter names: it loads as a plain model
    assert lmforge.load_model(result.checkpoint).config.n_layers == 2
