"""Run a step shard by shard with completion markers, on the local pool or Ray (``map_shards``).

A worker writes its outputs atomically, then a marker (``<state_dir>/<key hash>.json``) holding the
shard's fingerprint and its counts. A rerun skips every shard whose marker has the same fingerprint and
whose outputs exist, and rebuilds the step's stats from the markers, so a run killed half-way and rerun
ends with the same bytes as one uninterrupted run. The fingerprint covers the step's settings and the
input files' names and sizes: change either and the shard runs again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import fsspec

from lmforge.curate.stats import StepStats
from lmforge.executor import ExecutorName, map_shards
from lmforge.io import exists, is_remote, join, read_json, write_json


@dataclasses.dataclass(frozen=True)
class ShardTask:
    key: str  # unique within the step (usually the input's path relative to documents/)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: Any = None  # the step's settings (picklable)


@dataclasses.dataclass
class Execution:
    processes: int = 1
    executor: ExecutorName = "local"
    ray_address: str | None = None
    progress: bool = True
    force: bool = False  # ignore completion markers

    @classmethod
    def from_config(cls, config: Any) -> Execution:
        """From an :class:`lmforge.curate.config.ExecutionConfig`."""
        return cls(
            processes=config.processes,
            executor=config.executor,
            ray_address=config.ray_address,
            progress=config.progress,
            force=config.force,
        )


def file_size(path: str) -> int:
    if is_remote(path):
        fs, fs_path = fsspec.core.url_to_fs(path)
        return int(fs.size(fs_path))
    return os.path.getsize(path[len("file://") :] if path.startswith("file://") else path)


def remove_file(path: str) -> None:
    if is_remote(path):
        fs, fs_path = fsspec.core.url_to_fs(path)
        fs.rm(fs_path)
    else:
        os.remove(path[len("file://") :] if path.startswith("file://") else path)


def fingerprint(settings: Any, inputs: Sequence[str]) -> str:
    blob = json.dumps(
        {"settings": settings, "inputs": [[p, file_size(p)] for p in inputs]}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def marker_path(state_dir: str, key: str) -> str:
    return join(state_dir, hashlib.sha1(key.encode()).hexdigest()[:20] + ".json")


def remove_stale_temporaries(outputs: Sequence[str]) -> None:
    """Delete temporary files a killed run left beside these outputs (``.<name>*.tmp-*``, local only:
    remote outputs are staged in the local temp folder)."""
    for output in outputs:
        if is_remote(output):
            continue
        local = output[len("file://") :] if output.startswith("file://") else output
        pattern = os.path.join(
            os.path.dirname(local) or ".", "." + glob.escape(os.path.basename(local)) + "*.tmp-*"
        )
        for path in glob.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def _run_and_mark(
    worker: Callable[[ShardTask], dict[str, Any]], state_dir: str, prints: dict[str, str], task: ShardTask
) -> dict[str, Any]:
    remove_stale_temporaries(task.outputs)
    result = worker(task)
    write_json(marker_path(state_dir, task.key), {"key": task.key, "fingerprint": prints[task.key], **result})
    return result


def _finished(state_dir: str, task: ShardTask, print_: str) -> dict[str, Any] | None:
    path = marker_path(state_dir, task.key)
    if not exists(path):
        return None
    try:
        marker = read_json(path)
    except (OSError, ValueError):
        return None
    outputs = [*task.outputs, *marker.get("outputs", [])]
    if marker.get("fingerprint") != print_ or not all(exists(p) for p in outputs):
        return None
    return marker


def run_shards(
    worker: Callable[[ShardTask], dict[str, Any]],
    tasks: Sequence[ShardTask],
    *,
    state_dir: str,
    settings: Any,
    execution: Execution,
    desc: str,
) -> tuple[list[dict[str, Any]], int]:
    """Run ``worker`` on each unfinished task; returns (every task's result in task order, tasks skipped).

    ``worker`` must be a module-level function (or a partial of one) returning a JSON-able dict; its
    ``"stats"`` entry, if any, is a :meth:`StepStats.to_json` dict.
    """
    prints = {t.key: fingerprint(settings, t.inputs) for t in tasks}
    results: dict[str, dict[str, Any]] = {}
    todo: list[ShardTask] = []
    for task in tasks:
        marker = None if execution.force else _finished(state_dir, task, prints[task.key])
        if marker is None:
            todo.append(task)
        else:
            results[task.key] = {k: v for k, v in marker.items() if k not in ("key", "fingerprint")}
    fn = functools.partial(_run_and_mark, worker, state_dir, {t.key: prints[t.key] for t in todo})
    for task, result in zip(
        todo,
        map_shards(
            fn,
            todo,
            processes=execution.processes,
            executor=execution.executor,
            ray_address=execution.ray_address,
            desc=desc,
            progress=execution.progress,
        ),
    ):
        results[task.key] = result
    return [results[t.key] for t in tasks], len(tasks) - len(todo)


def merged_stats(results: Sequence[dict[str, Any]]) -> StepStats:
    stats = StepStats()
    for result in results:
        if "stats" in result:
            stats.merge(StepStats.from_json(result["stats"]))
    return stats
