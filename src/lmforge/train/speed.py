"""Throughput and model FLOPs utilisation (MFU).

MFU = achieved model FLOPs per second per device / the device's peak. Model FLOPs come from
:func:`lmforge.nn.flops_per_token` (6N + attention, PaLM's convention, so recomputation from activation
checkpointing is *not* counted as useful work). The peak is the published dense bf16 tensor-core rate of the
GPU, or, on a CPU, a matmul rate measured once in this process for the run's dtype.
"""

from __future__ import annotations

import functools
import time

import torch

# Dense (no sparsity) bf16 peak FLOP/s per GPU, from the vendor data sheets.
PUBLISHED_BF16_PEAK: dict[str, float] = {
    "A100": 312e12,
    "A10G": 70e12,
    "L4": 121e12,
    "L40": 181e12,  # listed so that an L40 is not matched as an L4
    "L40S": 362e12,
    "H100 PCIE": 756e12,
    "H100 NVL": 835e12,
    "H100": 989e12,  # SXM
    "H200": 989e12,
    "GH200": 989e12,
    "B200": 2250e12,
}


def published_peak(device_name: str) -> float | None:
    name = device_name.upper()
    # Longest key first so "H100 PCIE" wins over "H100".
    for key in sorted(PUBLISHED_BF16_PEAK, key=len, reverse=True):
        if key in name:
            return PUBLISHED_BF16_PEAK[key]
    return None


@functools.lru_cache(maxsize=4)
def measured_matmul_peak(
    dtype: torch.dtype = torch.float32, size: int = 1024, repeats: int = 8, min_seconds: float = 0.5
) -> float:
    """Best FLOP/s of square matmuls on the CPU with the current thread count: what the cores can do.

    The best of at least ``repeats`` products and ``min_seconds`` of trying (at most 256 products): on a
    shared machine a few products can all land on a busy moment, and a low peak reads as MFU over 100%.
    """
    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0)).to(dtype)
    b = torch.randn(size, size, generator=torch.Generator().manual_seed(1)).to(dtype)
    a @ b  # warm-up (thread pool, packing)
    best = float("inf")
    began = time.perf_counter()
    for done in range(1, 257):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
        if done >= repeats and time.perf_counter() - began >= min_seconds:
            break
    return 2 * size**3 / best


def device_peak_flops(device: torch.device, precision: str) -> tuple[float, str]:
    """(peak FLOP/s, where the number comes from)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = published_peak(name)
        if peak is not None:
            return peak, f"published bf16 peak of {name}"
        return measured_cuda_peak(device), f"measured bf16 matmul peak of {name}"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return measured_matmul_peak(
        dtype
    ), f"measured {str(dtype).removeprefix('torch.')} matmul peak ({device.type})"


def measured_cuda_peak(device: torch.device, size: int = 8192) -> float:
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize(device)
    return 10 * 2 * size**3 / (time.perf_counter() - start)


class SpeedMonitor:
    """Tokens/s per device and MFU over the steps since the last report (the first step, which includes
    warm-up and compilation, is reported but not mixed into later windows)."""

    def __init__(self, flops_per_token: float, peak_flops: float) -> None:
        self.flops_per_token = flops_per_token
        self.peak_flops = peak_flops
        self._tokens = 0
        self._seconds = 0.0

    def record(self, tokens_this_rank: int, seconds: float) -> None:
        self._tokens += tokens_this_rank
        self._seconds += seconds

    def report(self) -> dict[str, float]:
        if self._seconds <= 0:
            return {}
        tokens_per_s = self._tokens / self._seconds
        self._tokens, self._seconds = 0, 0.0
        return {
            "tokens_per_s": tokens_per_s,
            "mfu": tokens_per_s * self.flops_per_token / self.peak_flops,
        }
