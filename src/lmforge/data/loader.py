"""The stateful training data loader: global batches in a fixed order, each rank reading only its slice.

Global batch ``k`` is the next ``global_batch_size`` instances of the epoch's order; rank ``r`` of ``W``
takes the ``r``-th contiguous slice of it. Nothing depends on the world size or on ``num_workers`` (threads
that only read), so a run restarted on a different number of GPUs sees the same data. An epoch ends when
fewer instances are left than a global batch asks for (the remainder is skipped); the next epoch reshuffles.
"""

from __future__ import annotations

import concurrent.futures
import itertools
from typing import Any

import numpy as np
import torch

from lmforge.config import ConfigError
from lmforge.data.config import DataConfig
from lmforge.data.dataset import (
    MemmapDataset,
    manifest_checksums,
    manifests_for,
    resolve_dtype,
    resolve_eos,
    resolve_token_files,
)
from lmforge.data.order import EpochOrder, mixture_instances, shuffled

STATE_VERSION = 1


class DatasetChangedError(ValueError):
    """The data differ from those a checkpoint was trained on."""


def document_lengths(tokens: np.ndarray, eos_token_id: int) -> np.ndarray:
    """Lengths of the documents (or document pieces) in one instance; a document ends after each EOS."""
    ends = np.flatnonzero(tokens == eos_token_id) + 1
    if len(ends) == 0 or ends[-1] != len(tokens):
        ends = np.append(ends, len(tokens))
    return np.diff(ends, prepend=0)


class DataLoader:
    def __init__(
        self,
        config: DataConfig,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        work_dir: str | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.seed = int(config.seed if config.seed is not None else seed)
        sources = config.mixture or []
        groups = [s.paths for s in sources] if sources else [config.paths]
        files_by_source = [resolve_token_files(paths) for paths in groups]
        files = [f for group in files_by_source for f in group]
        manifests = manifests_for(files)
        self.manifests = manifests  # what `lmforge tokenize` recorded (the trainer checks its tokenizer)
        self.dtype = resolve_dtype(config.dtype, manifests)
        self.eos_token_id = resolve_eos(config.eos_token_id, manifests)
        if config.generate_doc_lengths and self.eos_token_id is None:
            raise ConfigError(
                "data.eos_token_id", "needed for generate_doc_lengths (no manifest.json beside the files)"
            )
        masks = resolve_token_files(config.label_mask_paths) if config.label_mask_paths else None
        self.dataset = MemmapDataset(files, config.seq_len, self.dtype, masks)
        fingerprint = self.dataset.fingerprint(manifest_checksums(files))
        if sources:
            # each source's instances form one contiguous id range of the combined dataset
            file_counts = [len(g) for g in files_by_source]
            file_starts = np.concatenate(([0], np.cumsum(file_counts)))
            self.source_offsets = [int(self.dataset.offsets[i]) for i in file_starts[:-1]]
            self.source_counts = [
                int(self.dataset.offsets[b] - self.dataset.offsets[a])
                for a, b in itertools.pairwise(file_starts)
            ]
            self.source_names = [s.name or f"source{i}" for i, s in enumerate(sources)]
            weights = [s.weight for s in sources]
            fingerprint += ":" + ",".join(f"{c}x{w:g}" for c, w in zip(file_counts, weights))
            self.instances_per_epoch = sum(round(w * c) for w, c in zip(weights, self.source_counts))
        else:
            self.instances_per_epoch = len(self.dataset)
        self.fingerprint = fingerprint
        if self.instances_per_epoch == 0:
            raise ConfigError(
                "data.paths", f"no instance of {config.seq_len} tokens in {len(files)} token files"
            )
        self._order = EpochOrder(self._epoch_order, self.seed, fingerprint, work_dir)
        self.epoch = 0
        self.instances_consumed = 0  # in the current epoch
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------------------------------ order

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.config.mixture:
            return shuffled(len(self.dataset), self.seed, epoch)
        weights = [s.weight for s in self.config.mixture]
        ids = mixture_instances(self.source_offsets, self.source_counts, weights, self.seed, epoch)
        return shuffled(ids, self.seed, epoch)

    def global_batch_instances(self, k: int, global_batch_size: int) -> np.ndarray:
        """Instance ids of global batch ``k`` if every batch so far had ``global_batch_size`` instances."""
        per_epoch = self.instances_per_epoch // global_batch_size
        if per_epoch == 0:
            raise ConfigError(
                "global_batch_size",
                f"global batch {global_batch_size} exceeds {self.instances_per_epoch} instances/epoch",
            )
        epoch, within = divmod(k, per_epoch)
        start = within * global_batch_size
        return np.asarray(self._order(epoch)[start : start + global_batch_size], dtype=np.int64)

    # ---------------------------------------------------------------------------------------- batches

    def next_batch(self, global_batch_size: int) -> dict[str, torch.Tensor]:
        """This rank's slice of the next global batch (see the module docstring)."""
        if global_batch_size % self.world_size:
            raise ValueError(
                f"global batch {global_batch_size} is not divisible by world size {self.world_size}"
            )
        if global_batch_size > self.instances_per_epoch:
            raise ConfigError(
                "global_batch_size",
                f"global batch {global_batch_size} exceeds {self.instances_per_epoch} instances/epoch",
            )
        per_rank = global_batch_size // self.world_size
        global_ids = self.advance(global_batch_size)
        return self.read_instances(global_ids[self.rank * per_rank : (self.rank + 1) * per_rank])

    def advance(self, global_batch_size: int) -> np.ndarray:
        """Move past the next global batch without reading it; returns its instance ids (all ranks')."""
        if global_batch_size > self.instances_per_epoch:
            raise ConfigError(
                "global_batch_size",
                f"global batch {global_batch_size} exceeds {self.instances_per_epoch} instances/epoch",
            )
        if self.instances_consumed + global_batch_size > self.instances_per_epoch:
            self.epoch += 1
            self.instances_consumed = 0
        start = self.instances_consumed
        self.instances_consumed += global_batch_size
        return np.asarray(self._order(self.epoch)[start : start + global_batch_size], dtype=np.int64)

    def read_instances(self, ids: np.ndarray) -> dict[str, torch.Tensor]:
        if self.config.num_workers > 0 and len(ids) > 1:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.config.num_workers, "lmforge-data")
            pairs = list(self._pool.map(self.dataset.read, ids.tolist()))
        else:
            pairs = [self.dataset.read(i) for i in ids.tolist()]
        tokens = np.stack([p[0] for p in pairs]).astype(np.int64)
        batch = {"input_ids": torch.from_numpy(tokens), "index": torch.from_numpy(ids.copy())}
        if self.dataset.label_masks is not None:
            batch["label_mask"] = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(bool))
        if self.config.generate_doc_lengths:
            assert self.eos_token_id is not None
            lengths = [document_lengths(row, self.eos_token_id) for row in tokens]
            doc_lens = np.zeros((len(lengths), max(len(x) for x in lengths)), dtype=np.int64)
            for row, x in zip(doc_lens, lengths):
                row[: len(x)] = x
            batch["doc_lens"] = torch.from_numpy(doc_lens)
        return batch

    # ------------------------------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "instances_consumed": self.instances_consumed,
            "seed": self.seed,
            "fingerprint": self.fingerprint,
            "instances_per_epoch": self.instances_per_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        changed = []
        if state.get("fingerprint") != self.fingerprint:
            changed.append(
                f"dataset fingerprint {state.get('fingerprint')} -> {self.fingerprint} "
                f"({state.get('instances_per_epoch')} -> {self.instances_per_epoch} instances per epoch)"
            )
        if int(state.get("seed", self.seed)) != self.seed:
            changed.append(f"data seed {state.get('seed')} -> {self.seed}")
        if changed and not self.config.allow_dataset_change:
            raise DatasetChangedError(
                "the training data differ from the checkpoint's: "
                + "; ".join(changed)
                + ". Resuming would not continue the same stream; set data.allow_dataset_change=true "
                "to continue anyway (the position in the epoch is kept, the order is that of the new data)."
            )
        self.epoch = int(state["epoch"])
        self.instances_consumed = min(int(state["instances_consumed"]), self.instances_per_epoch)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
