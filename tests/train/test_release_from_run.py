"""`lmforge export RUN`: the summary names the checkpoint a run folder resolved to (a live run keeps adding)."""

from __future__ import annotations

import json
import os

from lmforge.hf.cli import export_main
from lmforge.train.trainer import train


def test_exporting_a_run_folder_names_the_checkpoint_it_used(make_config, tmp_path, capsys):
    result = train(make_config(max_steps=2, save_interval=1))
    capsys.readouterr()
    assert export_main([result.save_folder, "--output", str(tmp_path / "hf")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["checkpoint"] == result.checkpoint == os.path.join(result.save_folder, "step2")
    assert export_main([result.checkpoint.replace("step2", "step1"), "--output", str(tmp_path / "hf1")]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"].endswith("step1")
