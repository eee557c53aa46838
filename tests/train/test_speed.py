"""MFU: the published peak chosen for a GPU name, the monitor's window arithmetic, and the trainer's rows."""

from __future__ import annotations

import json
import os

import pytest
import torch

from lmforge.nn.flops import flops_per_token
from lmforge.train.speed import SpeedMonitor, device_peak_flops, published_peak
from lmforge.train.trainer import train


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA H100 80GB HBM3", 989e12),  # SXM
        ("NVIDIA H100 PCIe", 756e12),  # not the SXM number although the name contains "H100"
        ("NVIDIA H200", 989e12),
        ("NVIDIA GH200 480GB", 989e12),
        ("NVIDIA L40S", 362e12),
        ("NVIDIA L40", 181e12),  # not an L4
        ("NVIDIA L4", 121e12),
        ("NVIDIA GeForce RTX 4090", None),  # unknown: the trainer measures a matmul instead
    ],
)
def test_published_bf16_peak_by_device_name(name, peak):
    assert published_peak(name) == peak


def test_cpu_peak_is_measured_in_the_run_dtype():
    peak, source = device_peak_flops(torch.device("cpu"), "fp32")
    assert peak > 1e6 and source == "measured float32 matmul peak (cpu)"


def test_cpu_peak_keeps_trying_for_its_minimum_time(monkeypatch):
    import lmforge.train.speed as speed

    clock = iter(range(10_000))  # a fake clock: every reading is 1 s after the previous one
    monkeypatch.setattr(speed.time, "perf_counter", lambda: float(next(clock)))
    calls = []
    real_matmul = torch.Tensor.__matmul__
    monkeypatch.setattr(torch.Tensor, "__matmul__", lambda a, b: calls.append(1) or real_matmul(a, b))
    speed.measured_matmul_peak.__wrapped__(torch.float32, size=8, repeats=2, min_seconds=9.5)
    # warm-up + products until >= 9.5 fake seconds since the start (3 readings per product)
    assert len(calls) == 1 + 4
    calls.clear()
    speed.measured_matmul_peak.__wrapped__(torch.float32, size=8, repeats=2, min_seconds=0.0)
    assert len(calls) == 1 + 2


def test_monitor_averages_the_window_since_the_last_report():
    monitor = SpeedMonitor(flops_per_token=1000.0, peak_flops=1e6)
    monitor.record(100, 0.5)
    monitor.record(300, 0.5)
    assert monitor.report() == {"tokens_per_s": 400.0, "mfu": 0.4}
    monitor.record(50, 1.0)  # a new window: the previous steps are not mixed in
    assert monitor.report() == {"tokens_per_s": 50.0, "mfu": 0.05}
    assert monitor.report() == {}


def test_trainer_mfu_uses_the_model_flops_and_the_configured_peak(make_config):
    config = make_config(max_steps=3, save_interval=None, peak_flops=1e9)
    train(config)
    with open(os.path.join(config.save_folder, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    per_token = flops_per_token(config.model_config(), config.data.seq_len)
    for row in rows:
        assert row["mfu"] == pytest.approx(row["tokens_per_s"] * per_token / 1e9, rel=1e-12)


def test_mfu_above_100_percent_is_explained_once(make_config, capsys):
    # A CPU peak measured on a busy machine gave rows with mfu 1.17 and no word of why.
    train(make_config(max_steps=3, save_interval=None, peak_flops=1000.0))
    err = capsys.readouterr().err
    assert err.count("is above 100%: the peak 1e+03 FLOP/s (config.peak_flops) is below what this run") == 1
    train(make_config(max_steps=2, save_interval=None, peak_flops=1e30))
    assert "above 100%" not in capsys.readouterr().err
