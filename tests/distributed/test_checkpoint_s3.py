"""remote_save_folder on s3:// (a local moto server, no network): the copy, then a run resumed from it."""

from __future__ import annotations

import json
import os

import pytest

from lmforge.train.trainer import train


@pytest.fixture
def s3(moto_s3):
    moto_s3.mkdir("ckpts")
    return moto_s3


def _losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return {json.loads(line)["step"]: json.loads(line)["loss"] for line in f}


@pytest.mark.slow
def test_checkpoints_copied_to_s3_resume_a_run(s3, make_config, tmp_path):
    full = train(
        make_config(
            save_folder=str(tmp_path / "full"),
            max_steps=4,
            save_interval=2,
            remote_save_folder="s3://ckpts/run",
        )
    )
    assert s3.cat("ckpts/run/latest").decode().strip() == "step4"
    assert s3.exists("ckpts/run/step2/.metadata") and s3.exists("ckpts/run/step2/rank_states/rank0.json")
    # a fresh machine: nothing local, the run continues from the bucket's step2 exactly
    resumed = train(
        make_config(
            save_folder=str(tmp_path / "elsewhere"),
            max_steps=4,
            save_interval=None,
            load_path="s3://ckpts/run/step2",
        )
    )
    assert resumed.step == 4
    assert _losses(resumed.save_folder) == {s: v for s, v in _losses(full.save_folder).items() if s > 2}
