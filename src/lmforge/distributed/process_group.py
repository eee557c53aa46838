"""Process-group set-up and teardown for one process, ``torchrun`` or a hand-made rendezvous.

One config serves every launch: ``lmforge train`` alone is rank 0 of 1; under ``torchrun`` the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``) says where we are. The backend follows the
device: NCCL on CUDA, gloo on CPU (how the distributed tests run without a GPU).
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import os
import sys
import threading
import time

import torch
import torch.distributed as dist


@dataclasses.dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    initialized_here: bool  # whether init_distributed created the process group (and must destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; CUDA devices are per local rank."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            from lmforge.config import ConfigError  # a user setting, reported in one line by the CLI

            raise ConfigError("device", "cuda requested but no CUDA device is available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(name)


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


_launcher_watch: threading.Thread | None = None


def exit_with_launcher(rank: int, interval_s: float = 1.0) -> threading.Thread:
    """End this process soon after its launcher dies (a daemon thread watching the parent pid).

    torchrun starts each worker in a session of its own, so SIGKILL to torchrun's process group (or the
    agent dying on its own) leaves the workers running: they keep training and keep writing checkpoints and
    metrics into the run folder that the rerun of the same command is resuming from. Polling the parent is
    portable where Linux's PR_SET_PDEATHSIG is not, and fires on the parent process, not the thread that
    forked us.
    """
    launcher = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != launcher:
                print(
                    f"lmforge: rank {rank}: its launcher (pid {launcher}) is gone; exiting so that no orphan "
                    "keeps training into the run folder",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(1)  # no cleanup: a peer or the checkpoint writer may be blocked in a collective

    thread = threading.Thread(target=watch, name="lmforge-launcher-watch", daemon=True)
    thread.start()
    return thread


def init_distributed(device_name: str = "auto", need_group: bool = False, timeout_s: int = 1800) -> DistInfo:
    """Join (or create) the default process group when more than one process runs or ``need_group``.

    ``need_group``: FSDP and DDP need a group even for a single process; outside torchrun that one-rank group
    rendezvouses through an in-memory store: no port to pick (and lose to another program before binding
    it), and no ``MASTER_ADDR``/``MASTER_PORT`` left in this process's environment for a later group to reuse.
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = env_world_size()
    global _launcher_watch
    if (
        "TORCHELASTIC_RUN_ID" in os.environ and _launcher_watch is None
    ):  # torchrun's workers outlive its agent
        _launcher_watch = exit_with_launcher(rank)
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = resolve_device(device_name, local_rank)
    initialized_here = False
    if (world_size > 1 or need_group) and not dist.is_initialized():
        options: dict = {
            "backend": "nccl" if device.type == "cuda" else "gloo",
            "rank": rank,
            "world_size": world_size,
            "timeout": datetime.timedelta(seconds=timeout_s),
            "device_id": device if device.type == "cuda" else None,
        }
        if "MASTER_ADDR" in os.environ:  # torchrun, or a launcher that sets the rendezvous itself
            dist.init_process_group(**options)
        elif world_size == 1:
            dist.init_process_group(store=dist.HashStore(), **options)
        else:
            from lmforge.config import ConfigError

            # Without an address every rank would wait alone until the timeout (30 minutes).
            raise ConfigError(
                "MASTER_ADDR",
                f"WORLD_SIZE={world_size} but no rendezvous address: launch with torchrun, or set "
                "MASTER_ADDR and MASTER_PORT for every rank",
            )
        initialized_here = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank, world_size, local_rank, device, initialized_here)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def teardown(info: DistInfo, wait_for_peers: bool = True) -> None:
    """Destroy the process group this process created; with ``wait_for_peers``, once every rank has got here.

    The barrier first: ranks finish at different moments (rank 0 still writes metrics and the summary), and a
    rank that shuts its gloo connections down while a peer's last collective is still reading from them can
    take that peer down with SIGABRT after an otherwise complete run. The barrier also waits for any
    collective still in flight on this rank (gloo's barrier waits on all prior work). A rank leaving on an
    error passes ``wait_for_peers=False``: its peers may never get to the barrier.
    """
    if info.initialized_here and dist.is_initialized():
        if wait_for_peers and dist.get_world_size() > 1:
            dist.barrier()
        # Free what still refers to the group (FSDP's mesh inside a model caught in reference cycles) while the
        # interpreter is whole; freed at interpreter finalisation instead, gloo's worker threads can abort.
        gc.collect()
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (no-op in one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
