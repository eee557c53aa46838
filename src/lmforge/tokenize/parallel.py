"""Encoding batches in worker processes, consumed strictly in input order, with a bounded number in flight.

concurrent.futures.ProcessPoolExecutor rather than multiprocessing.Pool, as in :mod:`lmforge.executor`: when a
worker dies (the out-of-memory killer, a segfault in native code) Pool quietly replaces it and waits forever
for the batch it lost, while the executor fails every pending future with BrokenProcessPool, which becomes
one :class:`WorkerDiedError` naming the input lines that were in flight.
"""

from __future__ import annotations

import collections
import multiprocessing
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from lmforge.executor import terminate_workers
from lmforge.tokenize import encode as encode_module
from lmforge.tokenize.encode import Batch, Encoder, encode_in_worker, init_worker


class WorkerDiedError(ChildProcessError):
    """A worker process ended without returning its batch (killed by a signal, e.g. out of memory).

    An OSError (ChildProcessError), so the CLI reports it as one line and exits 2 like other failures.
    """


def encode_in_order(
    stream: Iterable[Any],
    consume: Callable[[Any], None],
    encoder_args: tuple[Any, ...],
    processes: int,
) -> None:
    """``consume(encode(item))`` for each :class:`Batch` of ``stream`` (other items pass through unchanged),
    in stream order, encoding in ``processes`` workers with at most ``2 * processes + 2`` items in flight.

    ``encoder_args`` are :class:`Encoder`'s arguments (the first one a ``tokenizers.Tokenizer``).
    """
    tok, *rest = encoder_args
    if "fork" in multiprocessing.get_all_start_methods():
        # Forked workers inherit a ready encoder: no per-worker tokenizer parsing (~0.25 CPU-s each for a
        # 50k vocabulary). Safe: this process has not encoded anything, so no Rust thread pool exists yet.
        # The executor forks all its workers at the first submit, before it starts its own thread.
        encode_module._WORKER_ENCODER = Encoder(tok, *rest)
        pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    else:
        pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(tok.to_str(), *rest),
        )
    # (future, (path, first line, last line)) for batches, (item, None) for pass-through items
    in_flight: collections.deque[tuple[Any, tuple[str, int, int] | None]] = collections.deque()
    limit = 2 * processes + 2
    try:
        try:
            for item in stream:
                if isinstance(item, Batch):
                    where = (item.path, item.lines[0][0], item.lines[-1][0])
                    in_flight.append((pool.submit(encode_in_worker, item), where))
                else:
                    in_flight.append((item, None))
                while len(in_flight) > limit:
                    _consume_next(in_flight, consume)
            while in_flight:
                _consume_next(in_flight, consume)
        except BrokenProcessPool:  # from a result or, once the pool knows, from submit
            lost = [where for _, where in in_flight if where is not None]
            raise WorkerDiedError(
                f"a tokenizer worker process died ({_how_workers_died(pool)}; the out-of-memory killer "
                f"sends SIGKILL: try fewer --processes) with these lines in flight: {_describe(lost)}; "
                "finished input files are kept, nothing of the others was published: rerun the same "
                "command to resume"
            ) from None
    except BaseException:
        terminate_workers(pool)  # a failed run stops now, not after the batches still queued are encoded
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        encode_module._WORKER_ENCODER = None


def _consume_next(
    in_flight: collections.deque[tuple[Any, tuple[str, int, int] | None]], consume: Callable[[Any], None]
) -> None:
    head, where = in_flight[0]
    result = head if where is None else head.result()
    in_flight.popleft()  # only once its result is in: a dead worker's batch is still named as lost
    consume(result)


def _describe(lost: list[tuple[str, int, int]]) -> str:
    """``a.jsonl.gz lines 1-5400, b.jsonl.gz lines 1-800``: the lines of each file that were in flight."""
    spans: dict[str, list[int]] = {}
    for path, first, last in lost:
        span = spans.setdefault(path, [first, last])
        span[0], span[1] = min(span[0], first), max(span[1], last)
    return ", ".join(f"{path} lines {first}-{last}" for path, (first, last) in spans.items())


def _how_workers_died(pool: ProcessPoolExecutor) -> str:
    """``killed by SIGKILL`` or ``exit code 9``: how the first worker that did not end normally ended."""
    # The executor terminates (SIGTERM) the survivors once one has died; the odd one out is the cause.
    # No public API exposes the workers; their table is stable since Python 3.8, and this is only a message.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    codes = []
    for process in processes:
        process.join(timeout=5)
        if process.exitcode not in (None, 0):
            codes.append(process.exitcode)
    cause = next((c for c in codes if c != -signal.SIGTERM), codes[0] if codes else None)
    if cause is None:
        return "cause unknown"
    if cause < 0:
        try:
            return f"killed by {signal.Signals(-cause).name}"
        except ValueError:
            return f"killed by signal {-cause}"
    return f"exit code {cause}"
