"""Process groups made outside torchrun: a one-rank group needs no port, and a missing rendezvous is an error."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist

from lmforge.config import ConfigError
from lmforge.distributed.process_group import init_distributed, teardown

RENDEZVOUS = ("MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_launcher(monkeypatch):
    for name in (*RENDEZVOUS, "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def test_one_rank_groups_leave_no_rendezvous_behind(no_launcher):
    # FSDP/DDP in one process (a notebook, pytest) make a group each run; none may leave a port in the
    # environment that the next group, or a torchrun launched from here, would then reuse.
    for _ in range(2):
        info = init_distributed("cpu", need_group=True)
        assert info.initialized_here and dist.is_initialized() and info.world_size == 1
        ones = torch.ones(3)
        dist.all_reduce(ones)
        assert ones.tolist() == [1.0, 1.0, 1.0]
        teardown(info)
        assert not dist.is_initialized()
        assert not [name for name in RENDEZVOUS if name in os.environ]


def test_several_ranks_without_a_rendezvous_address_fail_at_once(no_launcher, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ConfigError, match=r"^MASTER_ADDR: WORLD_SIZE=2 but no rendezvous address"):
        init_distributed("cpu")
    assert not dist.is_initialized()


LAUNCHER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], start_new_session=True)  # as torchrun does
print(child.pid, flush=True)
time.sleep(600)
"""
WORKER = """
import time
from lmforge.distributed.process_group import exit_with_launcher
exit_with_launcher(rank=1, interval_s=0.1)
print("watching", flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is still running. An orphan that exited stays a zombie until whoever adopted it reaps
    it, and a container's first process may never do that: a zombie has ended."""
    if not os.path.isdir("/proc/self"):  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_exits_when_its_launcher_is_killed():
    # torchrun puts each worker in its own session: SIGKILL to torchrun's process group left the workers
    # training into the run folder that the rerun of the same command resumes from.
    import signal
    import subprocess
    import sys
    import time

    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, WORKER], stdout=subprocess.PIPE, text=True)
    worker_pid = int(launcher.stdout.readline())
    assert launcher.stdout.readline() == "watching\n"  # the worker knows its launcher before it is killed
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not _running(worker_pid):
            return
        time.sleep(0.1)
    os.kill(worker_pid, signal.SIGKILL)
    raise AssertionError("the worker outlived its launcher")


def test_init_distributed_watches_the_launcher_only_under_torchrun(no_launcher, monkeypatch):
    from lmforge.distributed import process_group

    started = []
    monkeypatch.setattr(process_group, "exit_with_launcher", lambda rank: started.append(rank) or "watch")
    monkeypatch.setattr(process_group, "_launcher_watch", None)
    init_distributed("cpu")
    assert started == []  # a plain process has no launcher to outlive
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "run")
    monkeypatch.setenv("RANK", "0")
    init_distributed("cpu")
    init_distributed("cpu")
    assert started == [0]  # one watcher per process, however many groups it makes
