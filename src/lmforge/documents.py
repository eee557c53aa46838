"""Dolma documents: one JSON object a line with ``id``, ``text``, ``source``, ``added``, ``created``, ``metadata``.

Shared by curation, tokenization and analysis so that every stage validates input the same way, names the
file and line of a bad record, and keeps counts that add up (``seen = ok + rejected``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any, Literal

from lmforge.io import (
    InputError,
    atomic_write,
    expand_paths,
    isdir,
    iter_lines,
    parse_json_line,
    unique_paths,
)

OnError = Literal["fail", "skip"]

# What counts as a document file inside a folder (dolma's mixer names its last shard ``.json.gz``).
DOCUMENT_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.zstd", ".json.gz", ".json.zst")


def expand_document_paths(patterns: str | list[str]) -> list[str]:
    """:func:`lmforge.io.expand_paths` for Dolma documents.

    A folder contributes only its document files (a mixer's output folder also holds ``stats-*.json``, a
    tokenizer's its manifest); explicit files and globs are taken as given.
    """
    found: list[str] = []
    for pattern in [patterns] if isinstance(patterns, str) else list(patterns):
        files = expand_paths(pattern)
        if isdir(str(pattern)):
            files = [f for f in files if f.endswith(DOCUMENT_SUFFIXES)]
            if not files:
                raise FileNotFoundError(
                    f"no document files (*.jsonl[.gz|.zst], *.json.gz) in folder {pattern!r}"
                )
        found.extend(files)
    return unique_paths(found)  # overlapping patterns (a folder and a file in it) name a file once


@dataclasses.dataclass
class Rejection:
    path: str
    line: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "reason": self.reason}


@dataclasses.dataclass
class ReadStats:
    """Counts for one reader: every line read is either yielded (``documents``) or ``rejected``."""

    lines: int = 0
    documents: int = 0
    rejected: int = 0
    bytes: int = 0
    rejections: list[Rejection] = dataclasses.field(default_factory=list)
    max_rejections_kept: int = 1000

    def reject(self, err: InputError) -> None:
        self.rejected += 1
        if len(self.rejections) < self.max_rejections_kept:
            self.rejections.append(Rejection(err.path, err.line, err.reason))


def validate_document(path: str, line_no: int, doc: dict[str, Any]) -> dict[str, Any]:
    text = doc.get("text")
    if "text" not in doc:
        raise InputError(path, line_no, "missing 'text' field")
    if not isinstance(text, str):
        raise InputError(path, line_no, f"'text' must be a string, got {type(text).__name__}")
    return doc


def read_documents(
    path: str, on_error: OnError = "fail", stats: ReadStats | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, document)`` from a Dolma JSONL file (``.gz``/``.zst`` by suffix).

    With ``on_error="fail"`` the first bad record raises :class:`InputError` (``file:line: reason``);
    with ``"skip"`` it is counted in ``stats.rejected`` and listed in ``stats.rejections``. A truncated
    compressed file yields every complete line before the damage, then fails or records one rejection.
    Blank lines are ignored (they are not documents).
    """
    stats = stats if stats is not None else ReadStats()
    lines = iter_lines(path)
    while True:
        try:
            line_no, raw = next(lines)
        except StopIteration:
            return
        except InputError as err:
            if on_error == "fail":
                raise
            stats.reject(err)
            return
        if not raw.strip():
            continue
        stats.lines += 1
        try:
            doc = validate_document(path, line_no, parse_json_line(path, line_no, raw))
        except InputError as err:
            if on_error == "fail":
                raise
            stats.reject(err)
            continue
        stats.documents += 1
        stats.bytes += len(raw)
        yield line_no, doc


def write_documents(path: str, documents: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
    """Write documents as JSONL (compressed by suffix), atomically; returns the count."""
    count = 0
    with atomic_write(path, "wt") as f:
        for doc in documents:
            f.write(json.dumps(doc, ensure_ascii=False))
            f.write("\n")
            count += 1
    return count
