"""Run one function over many shards (files), locally in a process pool or on a Ray cluster.

Used by curation, tokenization and analysis. Results come back in input order whatever the executor and
process count, so anything derived from them is deterministic. Each task must be a module-level function
(picklable) that reads its shard, writes its outputs atomically, and returns a small JSON-able result.
"""

from __future__ import annotations

import multiprocessing
import pickle  # only to round-trip a worker's exception, as the pool itself does
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal, TypeVar

from tqdm.auto import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")
ExecutorName = Literal["local", "ray"]


def _mp_context() -> multiprocessing.context.BaseContext:
    # "spawn" would re-import torch in every worker (seconds each); "fork" is safe here because workers
    # only read files and run pure-Python / Rust code, and are started before any threads we own.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def map_shards(
    fn: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    processes: int = 1,
    executor: ExecutorName = "local",
    ray_address: str | None = None,
    desc: str | None = None,
    progress: bool = True,
) -> list[Result]:
    """``[fn(item) for item in items]``, in parallel, results in input order, with a progress bar."""
    items = list(items)
    if not items:
        return []
    if executor == "ray":
        return _map_ray(fn, items, ray_address, desc, progress)
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'ray'")
    bar = tqdm(total=len(items), desc=desc, unit="shard", disable=not progress, leave=False)
    try:
        if processes <= 1 or len(items) == 1:
            results = []
            for item in items:
                results.append(fn(item))
                bar.update(1)
            return results
        return _map_pool(fn, items, processes, bar)
    finally:
        bar.close()


def _map_pool(fn: Callable[[Item], Result], items: list[Item], processes: int, bar: Any) -> list[Result]:
    # concurrent.futures rather than multiprocessing.Pool: when a worker dies (the out-of-memory killer, a
    # segfault in a C extension) Pool silently replaces it and waits forever for the lost task, while
    # ProcessPoolExecutor fails every pending future with BrokenProcessPool.
    pool = ProcessPoolExecutor(max_workers=min(processes, len(items)), mp_context=_mp_context())
    try:
        futures = {pool.submit(_indexed, (fn, i, item)): i for i, item in enumerate(items)}
        results_by_index: dict[int, Result] = {}
        for future in as_completed(futures):
            try:
                index, result = future.result()
            except BrokenProcessPool:
                unfinished = [_describe(items[i]) for i in futures.values() if i not in results_by_index]
                raise RuntimeError(
                    "a worker process died before finishing its shard (killed by a signal, e.g. the "
                    f"out-of-memory killer: try fewer --processes); {len(unfinished)} shards unfinished, "
                    f"e.g. {unfinished[0]}"
                ) from None
            results_by_index[index] = result
            bar.update(1)
        return [results_by_index[i] for i in range(len(items))]
    except BaseException:
        terminate_workers(pool)  # do not let the other workers finish their shards before the error is seen
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _describe(item: Any) -> str:
    for name in ("key", "path"):  # curate's ShardTask.key, analyze's ShardTask.path
        value = getattr(item, name, None)
        if isinstance(value, str):
            return value
    text = repr(item)
    return text if len(text) <= 200 else text[:199] + "…"


def terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool's workers now (a failed map should not wait for the shards still queued)."""
    # ProcessPoolExecutor has no public terminate(); its worker table is stable since Python 3.8
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def _indexed(args: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    fn, index, item = args
    try:
        return index, fn(item)
    except Exception as err:
        if _survives_pickling(err):
            raise
        # The pool unpickles a worker's exception in a thread of the parent; one that cannot be rebuilt (a
        # custom __init__ without __reduce__) would break the whole pool (or hang multiprocessing.Pool).
        raise RuntimeError(f"{type(err).__name__}: {err}") from err


def _survives_pickling(err: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return False
    return True


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def _map_ray(
    fn: Callable[[Item], Result], items: list[Item], address: str | None, desc: str | None, progress: bool
) -> list[Result]:
    import ray  # optional extra: lmforge[ray]

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    # one generic remote function taking (fn, item): ray.remote() refuses partials and callable objects
    remote = ray.remote(_apply)
    fn_ref = ray.put(fn)
    refs = [remote.remote(fn_ref, item) for item in items]
    index_of = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(items)
    pending = list(refs)
    with tqdm(total=len(items), desc=desc, unit="shard", disable=not progress, leave=False) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    results[index_of[ref]] = ray.get(ref)
                except ray.exceptions.RayTaskError as err:
                    # re-raise the task's own exception (an InputError says file:line: reason), not Ray's
                    # wrapper, whose message starts with the remote traceback
                    if isinstance(err.cause, Exception):
                        raise err.cause from None
                    raise
                bar.update(1)
    return results
