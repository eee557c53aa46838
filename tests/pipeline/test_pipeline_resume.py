"""A pipeline killed mid-training (SIGKILL to its whole process group: the pipeline and the trainer) and
rerun skips the finished stages, resumes training from its checkpoint, and ends with the same artifacts as
a run that was never interrupted."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

pytestmark = pytest.mark.slow

COMPARED = ("tokenizer/tokenizer.json", "hf/config.json", "samples.json")


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _weights_digest(path: str) -> str:
    """Tensor names, dtypes, shapes and bytes: safetensors writes its metadata mapping in arbitrary key order,
    so two files with the same weights need not be byte-identical."""
    from safetensors.torch import load_file

    digest = hashlib.sha256()
    for name, tensor in sorted(load_file(path).items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _tokens_digest(run_dir: str) -> str:
    folder = os.path.join(run_dir, "tokens", "train")
    digest = hashlib.sha256()
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".npy")):
        digest.update(name.encode() + b"\0" + _digest(os.path.join(folder, name)).encode())
    return digest.hexdigest()


def _eval_numbers(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "eval", "results.json")) as f:
        results = json.load(f)
    return {"perplexity": results["perplexity"], "tasks": results["tasks"]}


def _pipeline(config: str) -> list[str]:
    return [sys.executable, "-m", "lmforge", "pipeline", config]


def _run(config: str, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(_pipeline(config), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"pipeline failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _checkpoint_steps(run_dir: str) -> list[int]:
    train = os.path.join(run_dir, "train")
    if not os.path.isdir(train):
        return []
    return sorted(int(n[4:]) for n in os.listdir(train) if n.startswith("step") and n[4:].isdigit())


def test_killed_pipeline_resumes_and_matches_an_uninterrupted_run(write_config, tmp_path):
    # enough steps that training outlasts the moment the first checkpoints land (the model is tiny)
    train = {"max_steps": 300, "save_interval": 25, "log_interval": 25}
    reference_cfg, reference_dir = write_config("reference", train=train)
    killed_cfg, killed_dir = write_config("killed", train=train)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    _run(reference_cfg, env)

    log = open(tmp_path / "killed.log", "wb")  # noqa: SIM115 - closed below, after the kill
    proc = subprocess.Popen(
        _pipeline(killed_cfg), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if any(step >= 25 for step in _checkpoint_steps(killed_dir)):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the pipeline finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job: pipeline and trainer, as when a node dies
    proc.wait()
    log.close()
    with open(os.path.join(killed_dir, "pipeline_manifest.json")) as f:
        stages = json.load(f)["stages"]
    assert stages["train"]["status"] == "running"
    assert [n for n, r in stages.items() if r["status"] == "done"] == [
        "corpus",
        "curate",
        "analyze",
        "tokenizer",
        "tokenize",
    ]
    killed_at = max(_checkpoint_steps(killed_dir))
    assert 25 <= killed_at < 300

    rerun = _run(killed_cfg, env)
    assert rerun.stderr.count("skipped (up to date)") == 5  # corpus, curate, analyze, tokenizer, tokenize
    assert "train - pretrain the model (last attempt running; resuming)" in rerun.stderr
    assert f"from step {killed_at}" in rerun.stdout  # the trainer resumed from its checkpoint
    with open(os.path.join(killed_dir, "pipeline_manifest.json")) as f:
        stages = json.load(f)["stages"]
    assert all(r["status"] == "done" for r in stages.values())
    assert stages["corpus"]["attempts"] == stages["tokenize"]["attempts"] == 1
    assert stages["train"]["attempts"] == 2

    for rel in COMPARED:
        assert _digest(os.path.join(killed_dir, rel)) == _digest(os.path.join(reference_dir, rel)), rel
    assert _tokens_digest(killed_dir) == _tokens_digest(reference_dir)
    for weights in ("hf/model.safetensors",):
        assert _weights_digest(os.path.join(killed_dir, weights)) == _weights_digest(
            os.path.join(reference_dir, weights)
        )
    assert _eval_numbers(killed_dir) == _eval_numbers(reference_dir)
