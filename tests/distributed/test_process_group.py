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
