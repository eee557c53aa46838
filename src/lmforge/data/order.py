"""The global order of instances: one permutation per (seed, epoch), saved with the run.

Epoch ``e`` visits ``epoch_instances(e)`` (every instance once, or a mixture's resampled list) in the order
of a permutation drawn from ``numpy.random.default_rng([seed, e])``. The order is saved as
``<work_dir>/data/global_indices_e{e:04d}.npy`` (a real ``.npy``, loaded as a memmap) with a JSON sidecar
naming the dataset fingerprint and seed; a missing or mismatched file is re-created identically. Saving
pins the order even if a future numpy changed its random streams.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from lmforge.io import InputError, atomic_write, exists, is_remote, join, open_file, read_json, write_json


def index_dtype(n: int) -> np.dtype:
    return np.dtype(np.uint32) if n < 1 << 32 else np.dtype(np.int64)


def mixture_instances(
    offsets: list[int], counts: list[int], weights: list[float], seed: int, epoch: int
) -> np.ndarray:
    """Instance ids of one epoch of a mixture: source ``s`` (ids ``offsets[s] .. offsets[s] + counts[s]``)
    contributes ``round(weights[s] * counts[s])`` instances: every one ``floor(w)`` times, plus a seeded
    subset (different each epoch) for the fraction."""
    parts = []
    for s, (offset, count, weight) in enumerate(zip(offsets, counts, weights)):
        target = round(weight * count)
        if target == 0 or count == 0:
            continue
        whole, extra = divmod(target, count)
        ids = np.arange(offset, offset + count, dtype=np.int64)
        parts.extend([ids] * whole)
        if extra:
            rng = np.random.default_rng([seed, epoch, s, 0x6D6978])  # "mix": independent of the shuffle
            parts.append(np.sort(rng.permutation(count)[:extra]) + offset)
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts)


def shuffled(instances: np.ndarray | int, seed: int, epoch: int) -> np.ndarray:
    """``instances`` (an array, or ``range(n)`` given as ``n``) in the order of epoch ``epoch``."""
    rng = np.random.default_rng([seed, epoch])
    if isinstance(instances, (int, np.integer)):
        return rng.permutation(int(instances)).astype(index_dtype(int(instances)), copy=False)
    top = int(instances.max()) + 1 if len(instances) else 0
    return instances[rng.permutation(len(instances))].astype(index_dtype(top), copy=False)


class EpochOrder:
    """Cached access to each epoch's order, computed by ``make(epoch)`` and saved under ``work_dir``."""

    def __init__(self, make: Callable[[int], np.ndarray], seed: int, fingerprint: str, work_dir: str | None):
        self.make = make
        self.seed = seed
        self.fingerprint = fingerprint
        self.folder = join(work_dir, "data") if work_dir else None
        self._epoch: int | None = None
        self._order: np.ndarray | None = None

    def paths(self, epoch: int) -> tuple[str, str]:
        assert self.folder is not None
        stem = join(self.folder, f"global_indices_e{epoch:04d}")
        return stem + ".npy", stem + ".json"

    def __call__(self, epoch: int) -> np.ndarray:
        if self._epoch != epoch or self._order is None:
            self._order = self._load_or_make(epoch)
            self._epoch = epoch
        return self._order

    def _load_or_make(self, epoch: int) -> np.ndarray:
        expected = {"seed": self.seed, "epoch": epoch, "fingerprint": self.fingerprint}
        if self.folder is None:
            return self.make(epoch)
        npy, meta = self.paths(epoch)
        if exists(npy) and exists(meta):
            recorded = read_json(meta)
            if {k: recorded.get(k) for k in expected} == expected:
                try:
                    if not is_remote(npy):
                        order = np.load(npy, mmap_mode="r", allow_pickle=False)
                    else:
                        with open_file(npy, "rb", compression=False) as f:
                            order = np.load(io.BytesIO(f.read()), allow_pickle=False)
                except (ValueError, EOFError) as err:
                    order = None
                    reason = str(err)
                else:
                    reason = f"{len(order)} instances, {meta} records {recorded.get('instances')}"
                if order is not None and recorded.get("instances") in (None, len(order)):
                    return order
                # written atomically, so damaged later (a copy cut short); re-creating it silently would
                # give up the pin on the order that the file exists for
                raise InputError(
                    npy,
                    None,
                    f"unreadable epoch order ({reason}); delete it and {meta} to re-create it from the seed",
                )
        order = self.make(epoch)
        buffer = io.BytesIO()
        np.save(buffer, order)
        with atomic_write(npy, "wb", compression=False) as f:
            f.write(buffer.getvalue())
        write_json(meta, {**expected, "instances": len(order), "dtype": str(order.dtype)})
        return order
