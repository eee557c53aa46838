"""Find the documents that contain a phrase or match a regular expression (what people use WIMBD's
Elasticsearch index for), by streaming over the files in parallel: no index to build, nothing to host.

A phrase is matched as an exact substring (case-insensitively with ``ignore_case``); ``regex=True`` uses
Python's ``re``. Counts cover every document; only the first ``limit`` hits, in file order, are listed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from lmforge.analyze.stats import default_source
from lmforge.documents import OnError, ReadStats, expand_document_paths, read_documents
from lmforge.executor import ExecutorName, map_shards

SNIPPET_CONTEXT = 60


@dataclasses.dataclass
class SearchHit:
    id: str
    source: str
    path: str
    line: int
    occurrences: int
    snippet: str


@dataclasses.dataclass
class _SearchTask:
    path: str
    pattern: str
    regex: bool
    ignore_case: bool
    limit: int
    on_error: OnError
    source_field: str


@dataclasses.dataclass
class SearchResult:
    documents_scanned: int = 0
    documents_matched: int = 0
    occurrences: int = 0
    rejected: int = 0
    matched_by_source: dict[str, int] = dataclasses.field(default_factory=dict)
    hits: list[SearchHit] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hits": [dataclasses.asdict(h) for h in self.hits]}


def _snippet(text: str, start: int, end: int) -> str:
    left = max(0, start - SNIPPET_CONTEXT)
    right = min(len(text), end + SNIPPET_CONTEXT)
    body = text[left:start] + "[" + text[start:end] + "]" + text[end:right]
    body = " ".join(body.split())
    return ("…" if left else "") + body + ("…" if right < len(text) else "")


def compile_pattern(pattern: str, regex: bool, ignore_case: bool) -> re.Pattern[str] | None:
    """The regex to use, or None when a plain substring test does the job (exact, case-sensitive phrase)."""
    if not pattern:
        raise ValueError("the search pattern is empty")
    if regex:
        try:
            return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as err:
            raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None
    return re.compile(re.escape(pattern), re.IGNORECASE) if ignore_case else None


def _search_file(task: _SearchTask) -> SearchResult:
    compiled = compile_pattern(task.pattern, task.regex, task.ignore_case)
    stats = ReadStats()
    result = SearchResult()
    fallback = default_source(task.path)
    for line_no, doc in read_documents(task.path, task.on_error, stats):
        text = doc["text"]
        if compiled is None:
            # str.find / str.count run in C: the common case costs one scan per document
            first = text.find(task.pattern)
            if first < 0:
                continue
            count = text.count(task.pattern)
            span = (first, first + len(task.pattern))
        else:
            matches = compiled.finditer(text)
            match = next(matches, None)
            if match is None:
                continue
            count = 1 + sum(1 for _ in matches)
            span = match.span()
        source = doc.get(task.source_field)
        source = fallback if source is None or source == "" else str(source)
        result.documents_matched += 1
        result.occurrences += count
        result.matched_by_source[source] = result.matched_by_source.get(source, 0) + 1
        if len(result.hits) < task.limit:
            result.hits.append(
                SearchHit(str(doc.get("id", "")), source, task.path, line_no, count, _snippet(text, *span))
            )
    result.documents_scanned = stats.documents
    result.rejected = stats.rejected
    return result


def search_corpus(
    pattern: str,
    paths: str | Sequence[str],
    *,
    regex: bool = False,
    ignore_case: bool = False,
    limit: int = 20,
    processes: int = 1,
    executor: ExecutorName = "local",
    ray_address: str | None = None,
    on_error: OnError = "fail",
    source_field: str = "source",
    progress: bool = True,
) -> SearchResult:
    """Count the documents under ``paths`` containing ``pattern`` and list the first ``limit`` of them."""
    compile_pattern(pattern, regex, ignore_case)  # fail before starting workers
    files = expand_document_paths(list(paths) if not isinstance(paths, str) else paths)
    tasks = [_SearchTask(p, pattern, regex, ignore_case, limit, on_error, source_field) for p in files]
    total = SearchResult()
    for part in map_shards(
        _search_file,
        tasks,
        processes=processes,
        executor=executor,
        ray_address=ray_address,
        desc="search",
        progress=progress,
    ):
        total.documents_scanned += part.documents_scanned
        total.documents_matched += part.documents_matched
        total.occurrences += part.occurrences
        total.rejected += part.rejected
        for source, count in part.matched_by_source.items():
            total.matched_by_source[source] = total.matched_by_source.get(source, 0) + count
        total.hits += part.hits[: max(limit - len(total.hits), 0)]
    total.matched_by_source = dict(sorted(total.matched_by_source.items()))
    return total
