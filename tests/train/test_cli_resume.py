"""The real command in real processes: a run killed with SIGKILL and restarted continues exactly."""

import json
import os
import signal
import subprocess
import sys
import time

from lmforge.cli import main as lmforge_main


def run_cli(config_path, *overrides, timeout=120):
    cmd = [sys.executable, "-m", "lmforge", "train", config_path, *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_sigkill_then_resume_gives_the_uninterrupted_losses(write_config, tmp_path):
    # Bigger batches than the other tests so a step lasts long enough to be killed in the middle of the run.
    settings = {"max_steps": 8, "save_interval": 2, "global_batch_size": 16, "microbatch_size": 8}
    reference = write_config("ref.yaml", save_folder=str(tmp_path / "ref"), **settings)
    killed = write_config("killed.yaml", save_folder=str(tmp_path / "killed"), **settings)

    # The uninterrupted reference runs alongside (its losses do not depend on timing).
    full = subprocess.Popen(
        [sys.executable, "-m", "lmforge", "train", reference],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmforge", "train", killed],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics_path = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        if metrics_path.exists() and len(metrics_path.read_text().splitlines()) >= 4:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    steps_before_kill = len(metrics(tmp_path / "killed"))
    assert 4 <= steps_before_kill < 8

    resumed = run_cli(killed)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    _, full_err = full.communicate(timeout=120)
    assert full.returncode == 0, full_err

    ref_rows, got_rows = metrics(tmp_path / "ref"), metrics(tmp_path / "killed")
    assert [r["step"] for r in got_rows] == list(range(1, 9))
    assert [r["loss"] for r in got_rows] == [r["loss"] for r in ref_rows]  # bit-identical
    assert [r["grad_norm"] for r in got_rows] == [r["grad_norm"] for r in ref_rows]
    assert sorted(os.listdir(tmp_path / "killed")).count("latest") == 1
    assert not any(name.endswith("-tmp") for name in os.listdir(tmp_path / "killed"))


def test_cli_overrides_and_validation_errors(write_config, tmp_path, capsys):
    config = write_config()
    code = lmforge_main(["train", config, "--global_batch_size=6", "--microbatch_size=4"])
    assert code == 2
    assert "global_batch_size: must be divisible by microbatch_size" in capsys.readouterr().err
    assert lmforge_main(["train", config, "--optimizr.lr=1"]) == 2
    assert "did you mean 'optimizer'" in capsys.readouterr().err
    assert lmforge_main(["train", config, "--activation_checkpointing=some"]) == 2
    assert "activation_checkpointing" in capsys.readouterr().err


def test_cli_trains_and_plots(write_config, tmp_path):
    config = write_config(max_steps=3, save_interval=None)
    assert lmforge_main(["train", config, "--run_name=cli", "--max_steps=4"]) == 0
    run = tmp_path / "run"
    assert [r["step"] for r in metrics(run)] == [1, 2, 3, 4]
    saved = (run / "config.yaml").read_text()
    assert "run_name: cli" in saved and "d_model: 64" in saved and "n_layers: 2" in saved  # resolved model
    assert lmforge_main(["plot", str(run)]) == 0
    for name in ("loss.png", "lr.png", "throughput.png"):
        assert (run / "plots" / name).stat().st_size > 1000
