"""FSDP2 and DDP on 2 CPU processes (gloo) against one process on the same global batch, via torchrun."""

import json
import os
import subprocess
import sys

import pytest

import lmforge
from lmforge.train.trainer import train

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


def torchrun(config_path, *overrides, nproc=2):
    cmd = [
        TORCHRUN,
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "lmforge",
        "train",
        config_path,
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [(r["step"], r["loss"], r["grad_norm"]) for r in map(json.loads, f)]


@pytest.fixture
def single_run(make_config, tmp_path):
    return losses(
        train(
            make_config(
                save_folder=str(tmp_path / "single"), max_steps=4, save_interval=2, keep_checkpoints=0
            )
        ).save_folder
    )


def test_fsdp_two_processes_match_one_and_resume_at_world_size_one(
    single_run, write_config, make_config, tmp_path
):
    config = write_config(
        "fsdp.yaml",
        save_folder=str(tmp_path / "fsdp"),
        strategy="fsdp",
        max_steps=4,
        save_interval=2,
        keep_checkpoints=0,
        activation_checkpointing="one_in_2",  # exact in fp32, so it rides along
    )
    proc = torchrun(config)
    assert "2 x cpu | strategy fsdp" in proc.stdout
    fsdp = losses(tmp_path / "fsdp")
    assert [s for s, _, _ in fsdp] == [1, 2, 3, 4]
    for (_, a, ga), (_, b, gb) in zip(fsdp, single_run):
        assert a == pytest.approx(b, abs=1e-5)
        assert ga == pytest.approx(gb, rel=1e-4)  # the global norm over both shards
    # the world-size-2 checkpoint of step 2 continues in one process
    resumed = train(
        make_config(
            save_folder=str(tmp_path / "resumed"),
            load_path=str(tmp_path / "fsdp" / "step2"),
            max_steps=4,
            save_interval=None,
        )
    )
    assert resumed.step == 4
    for (s, a, _), (_, b, _) in zip(losses(tmp_path / "resumed"), single_run[2:]):
        assert a == pytest.approx(b, abs=1e-5), s


def test_ddp_two_processes_match_one(single_run, write_config, tmp_path):
    config = write_config(
        "ddp.yaml", save_folder=str(tmp_path / "ddp"), strategy="ddp", max_steps=4, save_interval=4
    )
    torchrun(config)
    # DDP's "module." wrapper never reaches the checkpoint: it loads as a plain model
    assert lmforge.load_model(str(tmp_path / "ddp")).config.d_model == 64
    for (_, a, ga), (_, b, gb) in zip(losses(tmp_path / "ddp"), single_run):
        assert a == pytest.approx(b, abs=1e-5)
        assert ga == pytest.approx(gb, rel=1e-4)


def test_one_process_checkpoint_resumes_on_two_fsdp_ranks(single_run, write_config, tmp_path):
    config = write_config(
        "grow.yaml",
        save_folder=str(tmp_path / "grown"),
        load_path=str(tmp_path / "single" / "step2"),
        strategy="fsdp",
        max_steps=4,
        save_interval=None,
    )
    proc = torchrun(config)
    assert "resumed from" in proc.stdout
    grown = losses(tmp_path / "grown")
    assert [s for s, _, _ in grown] == [3, 4]
    for (_, a, _), (_, b, _) in zip(grown, single_run[2:]):
        assert a == pytest.approx(b, abs=1e-5)


def test_fsdp_bf16_in_one_process_without_torchrun(make_config, tmp_path):
    # FSDP's bf16 parameters with fp32 reduction vs bf16 autocast on fp32 weights: same model, close losses.
    fsdp = train(make_config(save_folder=str(tmp_path / "f"), strategy="fsdp", precision="bf16", max_steps=3))
    single = train(
        make_config(save_folder=str(tmp_path / "s"), precision="bf16", max_steps=3, save_interval=None)
    )
    assert [x[1] for x in losses(fsdp.save_folder)] == pytest.approx(
        [x[1] for x in losses(single.save_folder)], abs=0.05
    )
    assert fsdp.checkpoint is not None and lmforge.load_model(fsdp.checkpoint).config.d_model == 64
