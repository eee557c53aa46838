"""Tracing a global batch back to its documents through the token files' metadata (``<name>.csv.gz``)."""

from __future__ import annotations

import csv
import dataclasses
import functools
from typing import Any

import numpy as np

from lmforge.data.loader import DataLoader
from lmforge.io import InputError, exists, open_file
from lmforge.tokenize.writer import METADATA_HEADER, metadata_path


@dataclasses.dataclass
class DocumentPiece:
    instance: int  # instance id in the global order
    token_file: str
    file_span: tuple[int, int]  # tokens of this piece in the token file [start, end)
    document_span: tuple[int, int]  # the same tokens counted from the document's first token
    document_tokens: int  # length of the whole document (EOS included)
    id: str
    source: str
    input: str
    line: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Metadata:
    """Rows of one metadata file, searchable by token position."""

    def __init__(self, path: str) -> None:
        rows: list[dict[str, str]] = []
        line = 1  # the header
        try:
            with open_file(path, "rt") as f:
                reader = csv.DictReader(f)
                missing = set(METADATA_HEADER) - set(reader.fieldnames or ())
                if missing:
                    raise InputError(path, 1, f"not a token metadata file: no column {sorted(missing)}")
                for row in reader:
                    line = reader.line_num
                    for column in ("start", "end", "line"):
                        if not (row[column] or "").isdigit():
                            raise InputError(path, line, f"{column} is not a count: {row[column]!r}")
                    rows.append(row)
        except (EOFError, OSError, UnicodeDecodeError, csv.Error) as err:
            if isinstance(err, FileNotFoundError):
                raise
            # a copy cut short or a foreign file: name it rather than show gzip's traceback
            raise InputError(path, line + 1, f"truncated or corrupt metadata ({err})") from None
        self.rows = rows
        self.starts = np.array([int(r["start"]) for r in rows], dtype=np.int64)
        self.ends = np.array([int(r["end"]) for r in rows], dtype=np.int64)

    def overlapping(self, start: int, stop: int) -> list[int]:
        first = int(np.searchsorted(self.ends, start, side="right"))
        last = int(np.searchsorted(self.starts, stop, side="left"))
        return list(range(first, last))


@functools.lru_cache(maxsize=64)
def _metadata(token_file: str) -> _Metadata | None:
    path = metadata_path(token_file)
    return _Metadata(path) if exists(path) else None


def trace_instances(loader: DataLoader, instance_ids: np.ndarray) -> list[DocumentPiece]:
    """The document pieces making up each instance, in batch order (files without metadata give a piece
    with an empty id)."""
    pieces = []
    seq_len = loader.dataset.seq_len
    for instance in instance_ids.tolist():
        file_index, start = loader.dataset.locate(instance)
        token_file = loader.dataset.files[file_index].path
        stop = start + seq_len
        meta = _metadata(token_file)
        if meta is None:
            pieces.append(DocumentPiece(instance, token_file, (start, stop), (0, 0), 0, "", "", "", 0))
            continue
        for row_index in meta.overlapping(start, stop):
            row = meta.rows[row_index]
            doc_start, doc_end = int(row["start"]), int(row["end"])
            a, b = max(start, doc_start), min(stop, doc_end)
            pieces.append(
                DocumentPiece(
                    instance=instance,
                    token_file=token_file,
                    file_span=(a, b),
                    document_span=(a - doc_start, b - doc_start),
                    document_tokens=doc_end - doc_start,
                    id=row["id"],
                    source=row["source"],
                    input=row["input"],
                    line=int(row["line"]),
                )
            )
    return pieces


def trace_batch(loader: DataLoader, k: int, global_batch_size: int) -> list[DocumentPiece]:
    return trace_instances(loader, loader.global_batch_instances(k, global_batch_size))
