"""Writing token files and their per-document metadata, atomically, with rollover at a token budget.

Token files are raw arrays (no header) named ``*.npy`` as OLMo reads them: ``np.memmap(path, dtype)``.
Beside each, ``<name>.csv.gz`` has a header line ``start,end,id,source,input,line`` then one row per
document: the document's tokens are ``tokens[start:end]`` (its EOS is the last one). The gzip header carries
no timestamp or file name, so identical content gives identical bytes.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
from typing import IO, Any

import numpy as np

from lmforge.io import atomic_write, join

METADATA_HEADER = ("start", "end", "id", "source", "input", "line")


def metadata_path(token_path: str) -> str:
    """``part-00000-000.npy`` -> ``part-00000-000.csv.gz``."""
    stem = token_path[: -len(".npy")] if token_path.endswith(".npy") else token_path
    return stem + ".csv.gz"


class _OpenFile:
    """One token file and its metadata being written under temporary names."""

    def __init__(self, out_dir: str, name: str) -> None:
        self.name = name
        self.stack = contextlib.ExitStack()
        self.tokens_out: IO[bytes] = self.stack.enter_context(
            atomic_write(join(out_dir, name), "wb", compression=False)
        )
        raw_meta = self.stack.enter_context(
            atomic_write(join(out_dir, metadata_path(name)), "wb", compression=False)
        )
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw_meta, compresslevel=6, mtime=0)
        self.stack.callback(gz.close)  # runs before the atomic renames (LIFO)
        self.meta_text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        self.stack.callback(self.meta_text.detach)
        self.stack.callback(self.meta_text.flush)
        self.csv = csv.writer(self.meta_text, lineterminator="\n")
        self.csv.writerow(METADATA_HEADER)
        self.sha = hashlib.sha256()
        self.tokens = 0
        self.documents = 0


class TokenFileWriter:
    """Writes the token stream of one input file as ``{prefix}-000.npy``, ``{prefix}-001.npy``, ...

    A new file starts when the next document would push the current one past ``max_tokens_per_file``;
    documents are never split across files (a single document longer than the budget gets a file alone).
    Nothing appears under a final name until :meth:`close` succeeds.
    """

    def __init__(
        self, out_dir: str, prefix: str, dtype: str, max_tokens_per_file: int, input_path: str
    ) -> None:
        self.out_dir = out_dir
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        self.max_tokens = max_tokens_per_file
        self.input_path = input_path
        self.current: _OpenFile | None = None
        self.pending: list[_OpenFile] = []  # complete but not yet renamed: renamed together in close()

    def _open_next(self) -> _OpenFile:
        index = len(self.pending) + (1 if self.current is not None else 0)
        if self.current is not None:
            self.pending.append(self.current)
        self.current = _OpenFile(self.out_dir, f"{self.prefix}-{index:03d}.npy")
        return self.current

    def add(
        self, tokens: np.ndarray, lengths: np.ndarray, ids: list[str], sources: list[str], lines: list[int]
    ) -> None:
        ends = np.cumsum(lengths)
        first = 0
        while first < len(lengths):
            out = self.current if self.current is not None else self._open_next()
            base = int(ends[first - 1]) if first else 0
            room = self.max_tokens - out.tokens
            # documents first..last-1 fit in the room left (at least one if the file is still empty)
            last = int(np.searchsorted(ends, base + room, side="right"))
            if last == first:
                if out.tokens > 0:
                    self._open_next()
                    continue
                last = first + 1
            stop = int(ends[last - 1])
            chunk = np.ascontiguousarray(tokens[base:stop], dtype=self.dtype)
            out.tokens_out.write(chunk.data)
            out.sha.update(chunk.data)
            starts = out.tokens + (np.concatenate(([base], ends[first : last - 1])) - base)
            stops = out.tokens + (ends[first:last] - base)
            out.csv.writerows(
                (int(s), int(e), ids[i], sources[i], self.input_path, lines[i])
                for i, s, e in zip(range(first, last), starts, stops)
            )
            out.tokens += stop - base
            out.documents += last - first
            first = last

    def close(self) -> list[dict[str, Any]]:
        """Finish every file (rename into place) and describe them for the manifest."""
        files = [*self.pending, *([self.current] if self.current is not None else [])]
        records = []
        for f in files:
            f.stack.close()
            records.append(
                {
                    "path": f.name,
                    "metadata": metadata_path(f.name),
                    "tokens": f.tokens,
                    "documents": f.documents,
                    "sha256": f.sha.hexdigest(),
                }
            )
        self.pending, self.current = [], None
        return records

    def abort(self) -> None:
        """Drop every file in progress (temporary names are removed, final names never appear)."""
        for f in [*self.pending, *([self.current] if self.current is not None else [])]:
            with contextlib.suppress(Exception):
                f.stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
        self.pending, self.current = [], None
