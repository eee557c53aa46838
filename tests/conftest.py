"""Shared test set-up: small, deterministic, CPU-only."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

# Tests run in pytest's importlib mode (test files in different folders may share a basename, e.g. two
# test_ray.py); each folder's helper modules (analyze_fixtures.py, hf_twins.py, ...) are made importable here.
for _folder in sorted(Path(__file__).parent.iterdir()):
    if _folder.is_dir() and not _folder.name.startswith((".", "_")) and str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _deterministic_torch():
    import torch

    torch.manual_seed(0)
    yield


@pytest.fixture
def no_hang():
    """Fail the test after 60 s instead of hanging the suite (a pool waiting for a lost worker never returns)."""

    def alarm(signum, frame):
        raise TimeoutError("the test hung for 60 s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def moto_s3(monkeypatch):
    """An s3fs filesystem on a local moto server (no network), with the AWS variables pointing at it."""
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()
