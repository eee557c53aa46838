"""Sharded training checkpoints with torch.distributed.checkpoint (DCP).

Layout of one checkpoint ``save_folder/stepN/``::

    .metadata, __R_0.distcp     DCP shards of {"model": ..., "optim": ...} (every rank writes its own)
    trainer_state.json          step, tokens seen, data-loader state, loss-spike window, ... (rank 0)
    rank_states/rankR.json      per-rank RNG and data-loader state (restored when the world size matches)
    config.yaml                 the resolved training config
    tokenizer.json              when the config names a tokenizer

It is written to ``stepN-tmp`` and renamed to ``stepN`` only once every rank has finished, so a folder named
``stepN`` is always complete; ``latest`` (a text file holding ``stepN``) is updated after the rename. DCP
stores tensors by parameter name and global shape, so a checkpoint saved at one world size loads at another.
No pickle of ours: tensors go through DCP, everything else is JSON; DCP's own ``.metadata`` pickle is read
with an allow-list unpickler (lmforge.distributed.safe_metadata), never a plain ``pickle.load``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import re
import shutil
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch import nn

from lmforge.io import InputError, exists, is_remote, join, open_file, read_json, write_json, write_text


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """DCP warns on every single-process save/load; that is our deliberate no-process-group mode."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninit")
        yield


STEP_PATTERN = re.compile(r"^step(\d+)$")
LATEST = "latest"
TRAINER_STATE = "trainer_state.json"
CONFIG = "config.yaml"
TOKENIZER = "tokenizer.json"


def _dist_ready() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _rank() -> int:
    return torch.distributed.get_rank() if _dist_ready() else 0


def _barrier() -> None:
    if _dist_ready():
        torch.distributed.barrier()


# ------------------------------------------------------------------------------------------ discovery


def checkpoint_step(path: str) -> int | None:
    match = STEP_PATTERN.match(os.path.basename(os.path.normpath(path)))
    return int(match.group(1)) if match else None


def is_complete_checkpoint(path: str) -> bool:
    return (
        checkpoint_step(path) is not None
        and os.path.isfile(os.path.join(path, ".metadata"))
        and os.path.isfile(os.path.join(path, TRAINER_STATE))
    )


def list_checkpoints(save_folder: str) -> list[str]:
    """Complete ``stepN`` folders of a run, oldest first (``stepN-tmp`` leftovers are ignored)."""
    if not os.path.isdir(save_folder):
        return []
    found = []
    for name in os.listdir(save_folder):
        path = os.path.join(save_folder, name)
        if is_complete_checkpoint(path):
            found.append((checkpoint_step(path), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(save_folder: str) -> str | None:
    """The newest complete checkpoint. ``latest`` is a hint; the folder scan is the authority (a kill
    between the rename and the pointer update leaves the pointer one checkpoint behind)."""
    found = list_checkpoints(save_folder)
    return found[-1] if found else None


def resolve_checkpoint(path: str) -> str | None:
    """A ``stepN`` folder itself, or a run folder's newest complete checkpoint; None if neither. A remote
    run folder (a ``remote_save_folder``) is resolved through its ``latest`` pointer, which the upload writes
    only after the checkpoint it names is complete."""
    path = os.fspath(path)
    if is_remote(path):
        if checkpoint_step(path) is not None:
            return path
        pointer = join(path.rstrip("/"), LATEST)
        if not exists(pointer):
            return None
        with open_file(pointer, "rt", compression=False) as f:
            name = f.read().strip()
        return join(path.rstrip("/"), name) if STEP_PATTERN.match(name) else None
    if is_complete_checkpoint(path):
        return path
    if os.path.isdir(path):
        return latest_checkpoint(path)
    return None


# -------------------------------------------------------------------------------------- RNG as JSON


def _tensor_b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _b64_tensor(s: str) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(s), dtype=np.uint8).copy())


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": _tensor_b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = _tensor_b64(torch.cuda.get_rng_state())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_b64_tensor(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(_b64_tensor(state["cuda"]))


# ------------------------------------------------------------------------------------------- saving


def _state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    if optimizer is None:
        return {"model": get_model_state_dict(model)}
    model_sd, optim_sd = get_state_dict(model, optimizer)
    return {"model": model_sd, "optim": optim_sd}


def save_checkpoint(
    save_folder: str,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    rank_state: dict[str, Any],
    config_yaml: str,
    tokenizer_path: str | None = None,
    keep: int = -1,
    remote_save_folder: str | None = None,
) -> str:
    """Collective: every rank calls it. Returns the final ``stepN`` path."""
    rank = _rank()
    final = os.path.join(save_folder, f"step{step}")
    tmp = f"{final}-tmp"
    if rank == 0:
        if os.path.exists(tmp):  # left by a run killed while saving this step
            shutil.rmtree(tmp)
        os.makedirs(os.path.join(tmp, "rank_states"))
    _barrier()
    with _quiet():
        dcp.save(_state_dicts(model, optimizer), checkpoint_id=tmp, no_dist=not _dist_ready())
    write_json(os.path.join(tmp, "rank_states", f"rank{rank}.json"), rank_state, indent=None)
    if rank == 0:
        write_json(os.path.join(tmp, TRAINER_STATE), trainer_state)
        write_text(os.path.join(tmp, CONFIG), config_yaml)
        if tokenizer_path and os.path.isfile(tokenizer_path):
            shutil.copyfile(tokenizer_path, os.path.join(tmp, TOKENIZER))
    _barrier()
    if rank == 0:
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
        write_text(os.path.join(save_folder, LATEST), f"step{step}\n")
        prune_checkpoints(save_folder, keep)
        if remote_save_folder:
            upload_checkpoint(final, remote_save_folder)
    _barrier()
    return final


def prune_checkpoints(save_folder: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` complete checkpoints (``keep <= 0``: keep everything)."""
    if keep <= 0:
        return []
    found = list_checkpoints(save_folder)
    removed = found[:-keep]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def upload_checkpoint(local_dir: str, remote_folder: str) -> str:
    """Copy a finished checkpoint to ``remote_folder`` (any fsspec URL); ``latest`` goes last, so a remote
    reader never sees a pointer to a partial upload."""
    import fsspec

    name = os.path.basename(os.path.normpath(local_dir))
    fs, root = fsspec.core.url_to_fs(remote_folder)
    target = f"{root.rstrip('/')}/{name}"
    for dirpath, _, files in os.walk(local_dir):
        rel = os.path.relpath(dirpath, local_dir)
        for file in files:
            dest = target if rel == "." else f"{target}/{rel}"
            fs.makedirs(dest, exist_ok=True)
            fs.put_file(os.path.join(dirpath, file), f"{dest}/{file}")
    with fs.open(f"{root.rstrip('/')}/{LATEST}", "wb") as f:
        f.write(f"{name}\n".encode())
    return target


# ------------------------------------------------------------------------------------------- loading


def _reader(path: str) -> Any:
    # DCP's own readers pickle.load the .metadata file; these unpickle it with an allow-list
    from lmforge.distributed.safe_metadata import SafeFileSystemReader, safe_fsspec_reader

    reader = safe_fsspec_reader(path) if is_remote(path) else SafeFileSystemReader(path)
    if exists(join(path, ".metadata")):
        # checked here, so a refused or corrupt index is one InputError, not DCP's logged collective failure
        reader.read_metadata()
    return reader


def _load_dcp(state: dict[str, Any], path: str, no_dist: bool) -> None:
    """``dcp.load`` with its failures (a missing shard, shapes that do not fit the config) as one InputError.

    DCP raises ``CheckpointException``, a ``BaseException``: it would slip past every ``except Exception``
    and print each rank's traceback instead of the reason.
    """
    from torch.distributed.checkpoint.api import CheckpointException

    try:
        with _quiet():
            dcp.load(state, storage_reader=_reader(path), no_dist=no_dist)
    except CheckpointException as err:
        reasons = sorted(
            {str(exc).splitlines()[0] if str(exc) else type(exc).__name__ for exc, _ in err.failures.values()}
        )
        raise InputError(path, None, "; ".join(reasons) or "checkpoint load failed") from None


def _read_json(path: str) -> Any:
    return read_json(path) if is_remote(path) or os.path.isfile(path) else None


def load_checkpoint(
    path: str, model: nn.Module, optimizer: torch.optim.Optimizer | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Collective: load model (+ optimizer) shards in place, resharding to the current world size.

    Returns the trainer state and this rank's saved state (None when the checkpoint was written by fewer
    ranks than this one; the caller then falls back to rank 0's data-loader state and fresh RNG).
    """
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    state = _state_dicts(model, optimizer)
    _load_dcp(state, path, no_dist=not _dist_ready())
    if optimizer is None:
        set_model_state_dict(model, state["model"])
    else:
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    sep = "/" if is_remote(path) else os.sep
    trainer_state = _read_json(sep.join([path.rstrip("/"), TRAINER_STATE]))
    rank_state = _read_json(sep.join([path.rstrip("/"), "rank_states", f"rank{_rank()}.json"]))
    return trainer_state, rank_state


def checkpoint_model_config(path: str) -> Any:
    from lmforge.config import ConfigError, load_yaml
    from lmforge.models.folder import model_config_from_dict

    data = load_yaml(os.path.join(path, CONFIG))
    if "model" not in data:
        raise ConfigError("model", f"{path}/{CONFIG} has no 'model' section")
    return model_config_from_dict(data["model"])


def load_model_from_checkpoint(
    path: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> nn.Module:
    """The plain (unsharded) model of a training checkpoint, in this process only (no process group used)."""
    from lmforge.nn.init import build_model

    resolved = resolve_checkpoint(path)
    if resolved is None:
        raise FileNotFoundError(f"{path}: not a training checkpoint or a run folder with one")
    model = build_model(checkpoint_model_config(resolved), device="cpu", seed=None, dtype=torch.float32)
    state = {"model": model.state_dict()}
    _load_dcp(state, resolved, no_dist=True)
    model.load_state_dict(state["model"])
    return model.to(device=device, dtype=dtype or torch.float32)


def checkpoint_tokenizer(path: str) -> str | None:
    candidate = os.path.join(path, TOKENIZER)
    return candidate if os.path.isfile(candidate) else None


def read_trainer_state(path: str) -> dict[str, Any]:
    return read_json(os.path.join(path, TRAINER_STATE))
