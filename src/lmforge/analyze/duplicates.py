"""Exact duplicate rates of documents and paragraphs, within and across sources, in bounded memory.

Each shard worker records one 18-byte record per document and per paragraph (xxh3-64 of the exact text, the
source, the line and the size in bytes), sorts them by hash and writes them as a ``.npy`` file under the
work folder, noting where each of ``P`` hash-prefix partitions starts. The parent then processes one
partition at a time, reading that slice of every shard file: peak memory is about ``18 B * items / P``
(64 partitions by default, so 1 billion paragraphs need ~300 MB), independent of how many shards there
are, and counts are exact up to 64-bit hash collisions.

Definitions (for documents and, separately, paragraphs = non-blank lines):

* ``duplicate_rate``: share of items that are a further copy of an item seen before (anywhere);
* per source, ``within_rate``: the same, counting only copies inside that source;
* per source, ``cross_share``: share of the source's items whose exact text also occurs in another source;
* ``shared``: for each pair of sources, the number of distinct texts occurring in both.
"""

from __future__ import annotations

import dataclasses
import io
from array import array
from typing import Any

import numpy as np

from lmforge.io import makedirs, open_file

RECORD = np.dtype([("hash", "<u8"), ("source", "<u2"), ("line", "<u4"), ("nbytes", "<u4")])
MAX_MATRIX_SOURCES = 64  # the source-pair matrix uses a 64-bit mask of sources per text


class DuplicateRecorder:
    """Collects one shard's records compactly: hash and size per item, source and line once per document."""

    def __init__(self) -> None:
        self.hashes = array("Q")
        self.sizes = array("I")
        self.counts = array("I")  # items per document
        self.sources = array("H")  # per document
        self.lines = array("I")  # per document

    def add(self, hashes: list[int], sizes: list[int], source: int, line: int) -> None:
        self.hashes.extend(hashes)
        self.sizes.extend(sizes)
        self.counts.append(len(hashes))
        self.sources.append(source)
        self.lines.append(line)

    def __len__(self) -> int:
        return len(self.hashes)

    def write(self, path: str, partitions: int) -> list[int]:
        """Write the records sorted by hash to ``path``; return the ``partitions + 1`` partition offsets."""
        counts = np.frombuffer(self.counts, dtype=np.uint32) if self.counts else np.zeros(0, np.uint32)
        records = np.empty(len(self.hashes), dtype=RECORD)
        records["hash"] = np.frombuffer(self.hashes, dtype=np.uint64) if self.hashes else 0
        records["nbytes"] = np.frombuffer(self.sizes, dtype=np.uint32) if self.sizes else 0
        if len(self.counts):
            records["source"] = np.repeat(np.frombuffer(self.sources, dtype=np.uint16), counts)
            records["line"] = np.repeat(np.frombuffer(self.lines, dtype=np.uint32), counts)
        records = records[np.argsort(records["hash"], kind="stable")]
        buffer = io.BytesIO()
        np.save(buffer, records, allow_pickle=False)
        # a scratch file read back by this run only: no fsync/rename (a rerun rewrites it anyway)
        makedirs(path.rsplit("/", 1)[0])
        with open_file(path, "wb", compression=False) as f:
            f.write(buffer.getbuffer())
        return partition_offsets(records["hash"], partitions)


def partition_offsets(sorted_hashes: np.ndarray, partitions: int) -> list[int]:
    bits = partitions.bit_length() - 1
    bounds = np.arange(partitions + 1, dtype=np.uint64)
    prefixes = sorted_hashes >> np.uint64(64 - bits) if bits else np.zeros_like(sorted_hashes)
    return np.searchsorted(prefixes, bounds, side="left").tolist()


def read_records(path: str, start: int, stop: int) -> np.ndarray:
    """Records ``[start, stop)`` of a spill file, reading only that byte range (works through fsspec)."""
    if stop <= start:
        return np.empty(0, dtype=RECORD)
    with open_file(path, "rb", compression=False) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(f)
        else:
            np.lib.format.read_array_header_2_0(f)
        f.seek(f.tell() + start * RECORD.itemsize)
        data = f.read((stop - start) * RECORD.itemsize)
    return np.frombuffer(data, dtype=RECORD)


@dataclasses.dataclass
class Spill:
    """Where one shard's records of one kind are, and the local -> global source-id mapping it needs."""

    path: str
    shard: int
    offsets: list[int]
    sources: list[str]  # local source id -> name


class DuplicateSummary:
    """Accumulates exact statistics over partitions for one kind of item (documents or paragraphs)."""

    def __init__(self, sources: list[str], top: int = 10) -> None:
        self.sources = sources
        s = len(sources)
        self.items = np.zeros(s, dtype=np.int64)
        self.bytes = np.zeros(s, dtype=np.int64)
        self.distinct_within = np.zeros(s, dtype=np.int64)
        self.dup_bytes_within = np.zeros(s, dtype=np.int64)
        self.cross_items = np.zeros(s, dtype=np.int64)
        self.shared = np.zeros((s, s), dtype=np.int64) if s <= MAX_MATRIX_SOURCES else None
        self.distinct = 0
        self.dup_bytes = 0
        self.top = top
        self.top_groups: list[dict[str, Any]] = []

    def add_partition(
        self,
        hashes: np.ndarray,
        sources: np.ndarray,
        shards: np.ndarray,
        lines: np.ndarray,
        sizes: np.ndarray,
    ) -> None:
        if hashes.size == 0:
            return
        order = np.lexsort((lines, shards, sources, hashes))
        hashes, sources, shards, lines, sizes = (a[order] for a in (hashes, sources, shards, lines, sizes))
        n = len(self.sources)
        self.items += np.bincount(sources, minlength=n)
        self.bytes += np.bincount(sources, weights=sizes, minlength=n).astype(np.int64)

        new_group = np.empty(len(hashes), dtype=bool)
        new_group[0] = True
        new_group[1:] = hashes[1:] != hashes[:-1]
        group_starts = np.flatnonzero(new_group)
        group_of = np.cumsum(new_group) - 1
        group_sizes = np.diff(np.append(group_starts, len(hashes)))
        self.distinct += len(group_starts)
        # every copy after the first is a duplicate; all copies have the same size
        self.dup_bytes += int(((group_sizes - 1) * sizes[group_starts].astype(np.int64)).sum())

        new_pair = new_group.copy()
        new_pair[1:] |= sources[1:] != sources[:-1]
        pair_starts = np.flatnonzero(new_pair)
        pair_sizes = np.diff(np.append(pair_starts, len(hashes)))
        pair_sources = sources[pair_starts]
        self.distinct_within += np.bincount(pair_sources, minlength=n)
        self.dup_bytes_within += np.bincount(
            pair_sources, weights=(pair_sizes - 1) * sizes[pair_starts].astype(np.int64), minlength=n
        ).astype(np.int64)

        sources_per_group = np.bincount(group_of[pair_starts], minlength=len(group_starts))
        multi = sources_per_group > 1
        self.cross_items += np.bincount(sources[multi[group_of]], minlength=n)
        if self.shared is not None and multi.any():
            masks = np.left_shift(np.uint64(1), pair_sources.astype(np.uint64))
            # pair_starts include every group start, so the first pair of each group marks its mask range
            group_masks = np.bitwise_or.reduceat(masks, np.flatnonzero(new_group[pair_starts]))
            unique_masks, mask_counts = np.unique(group_masks[multi], return_counts=True)
            for mask, count in zip(unique_masks.tolist(), mask_counts.tolist()):
                members = [i for i in range(n) if mask >> i & 1]
                for a in members:
                    for b in members:
                        if a != b:
                            self.shared[a, b] += count

        if self.top:
            dup_groups = np.flatnonzero(group_sizes > 1)
            if dup_groups.size:
                best = dup_groups[np.argsort(-group_sizes[dup_groups], kind="stable")[: self.top]]
                for g in best.tolist():
                    first = int(group_starts[g])
                    members = sources[first : first + int(group_sizes[g])]
                    per_source = np.bincount(members, minlength=n)
                    self.top_groups.append(
                        {
                            "copies": int(group_sizes[g]),
                            "hash": f"{int(hashes[first]):016x}",
                            "bytes": int(sizes[first]),
                            "sources": {
                                self.sources[i]: int(c) for i, c in enumerate(per_source.tolist()) if c
                            },
                            "first": {"shard": int(shards[first]), "line": int(lines[first])},
                        }
                    )
                self.top_groups.sort(key=lambda g: (-g["copies"], g["hash"]))
                del self.top_groups[self.top :]

    def to_dict(self) -> dict[str, Any]:
        items = int(self.items.sum())
        total_bytes = int(self.bytes.sum())
        per_source = {}
        for i, name in enumerate(self.sources):
            count = int(self.items[i])
            per_source[name] = {
                "items": count,
                "distinct": int(self.distinct_within[i]),
                "within_duplicates": count - int(self.distinct_within[i]),
                "within_rate": _ratio(count - int(self.distinct_within[i]), count),
                "within_bytes_rate": _ratio(int(self.dup_bytes_within[i]), int(self.bytes[i])),
                "cross_items": int(self.cross_items[i]),
                "cross_share": _ratio(int(self.cross_items[i]), count),
            }
        out: dict[str, Any] = {
            "items": items,
            "distinct": self.distinct,
            "duplicates": items - self.distinct,
            "duplicate_rate": _ratio(items - self.distinct, items),
            "bytes": total_bytes,
            "duplicate_bytes": self.dup_bytes,
            "duplicate_bytes_rate": _ratio(self.dup_bytes, total_bytes),
            "per_source": per_source,
            "top": self.top_groups,
        }
        if self.shared is not None:
            out["shared"] = {
                a: {
                    b: int(self.shared[i, j])
                    for j, b in enumerate(self.sources)
                    if i != j and self.shared[i, j]
                }
                for i, a in enumerate(self.sources)
            }
        return out


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def summarize_duplicates(
    spills: list[Spill], sources: list[str], partitions: int, top: int = 10
) -> dict[str, Any]:
    """Exact duplicate statistics from the shards' spill files, one hash partition at a time."""
    summary = DuplicateSummary(sources, top=top)
    index_of = {name: i for i, name in enumerate(sources)}
    maps = [np.array([index_of[name] for name in spill.sources] or [0], dtype=np.int64) for spill in spills]
    for part in range(partitions):
        chunks = []
        for spill, mapping in zip(spills, maps):
            records = read_records(spill.path, spill.offsets[part], spill.offsets[part + 1])
            if records.size:
                chunks.append((records, mapping[records["source"]], spill.shard))
        if not chunks:
            continue
        summary.add_partition(
            np.concatenate([r["hash"] for r, _, _ in chunks]),
            np.concatenate([s for _, s, _ in chunks]),
            np.concatenate([np.full(len(r), shard, dtype=np.int64) for r, _, shard in chunks]),
            np.concatenate([r["line"].astype(np.int64) for r, _, _ in chunks]),
            np.concatenate([r["nbytes"].astype(np.int64) for r, _, _ in chunks]),
        )
    return summary.to_dict()
