"""A damaged training checkpoint is one InputError naming it, not DCP's per-rank BaseException traceback."""

from __future__ import annotations

import os
import shutil

import pytest
import yaml

import lmforge
from lmforge.cli import main as lmforge_main
from lmforge.io import InputError
from lmforge.train.trainer import Trainer


@pytest.fixture(scope="module")
def step(tmp_path_factory):
    from train_testlib import base_section

    from lmforge.config import build_config
    from lmforge.train.config import TrainConfig

    base = base_section(tmp_path_factory.mktemp("run"), max_steps=1, save_interval=1)
    config = build_config(TrainConfig, base=base)
    Trainer(config).fit()
    return os.path.join(config.save_folder, "step1")


def test_shapes_that_do_not_fit_the_config_are_named(step, tmp_path):
    broken = tmp_path / "step1"
    shutil.copytree(step, broken)
    config = yaml.safe_load((broken / "config.yaml").read_text())
    config["model"]["d_model"] *= 2
    (broken / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match=r"step1: Size mismatch"):
        lmforge.load_model(str(broken))


def test_a_missing_shard_is_named(step, tmp_path, capsys):
    broken = tmp_path / "step1"
    shutil.copytree(step, broken)
    for name in os.listdir(broken):
        if name.endswith(".distcp"):
            os.remove(broken / name)
    assert lmforge_main(["checkpoint", "unshard", str(broken), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: " in err and ".distcp" in err and "Traceback" not in err
