"""Find the documents that contain a phrase or match a regular expression (what people use WIMBD's
Elasticsearch index for), by streaming over the files in parallel: no index to build, nothing to host.

A phrase is matched as an exact substring (case-insensitively with ``ignore_case``); ``regex=True`` takes
a Python regular expression. Counts cover every document; only the first ``limit`` hits, in file order,
are listed.

A regular expression can backtrack catastrophically (``(a|aa)+b`` on a long run of ``a`` takes longer than
the universe's age), and Python's ``re`` cannot be interrupted. Regexes therefore run on the ``regex``
package (``re``-compatible syntax), whose matcher takes a time limit: a document on which the expression
runs longer than ``regex_timeout`` seconds stops the search with its ``file:line``, instead of hanging it.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from lmforge.analyze.stats import default_source
from lmforge.documents import OnError, ReadStats, expand_document_paths, read_documents
from lmforge.executor import ExecutorName, map_shards

SNIPPET_CONTEXT = 60
DEFAULT_REGEX_TIMEOUT = 10.0  # seconds per document; far above any sane pattern on a 10 MB document


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
    regex_timeout: float | None = DEFAULT_REGEX_TIMEOUT


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


def _regex_module() -> Any:
    """The ``regex`` package (time-limited matching), or ``re`` where it is not installed."""
    try:
        import regex  # lmforge[curate]
    except ImportError:
        return re
    return regex


def compile_pattern(pattern: str, regex: bool, ignore_case: bool) -> Any:
    """The compiled pattern to use, or None when a plain substring test does the job (exact,
    case-sensitive phrase). A user's regex is compiled by the ``regex`` package when it is installed."""
    if not pattern:
        raise ValueError("the search pattern is empty")
    if regex:
        module = _regex_module()
        try:
            return module.compile(pattern, module.IGNORECASE if ignore_case else 0)
        except module.error as err:
            raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None
    return re.compile(re.escape(pattern), re.IGNORECASE) if ignore_case else None


def _matches(compiled: Any, text: str, timeout: float | None) -> Iterator[Any]:
    if timeout is None or isinstance(compiled, re.Pattern):  # escaped phrases cannot backtrack
        return compiled.finditer(text)
    return compiled.finditer(text, timeout=timeout)  # the limit covers the whole iteration


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
            try:
                matches = _matches(compiled, text, task.regex_timeout)
                match = next(matches, None)
                if match is None:
                    continue
                count = 1 + sum(1 for _ in matches)
            except TimeoutError:
                raise ValueError(
                    f"{task.path}:{line_no}: the regular expression ran longer than {task.regex_timeout:g} s "
                    "on this document (catastrophic backtracking, e.g. a nested quantifier like (a+)+ or "
                    "(a|aa)+?); simplify it, or allow more time with --regex-timeout"
                ) from None
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
    regex_timeout: float | None = DEFAULT_REGEX_TIMEOUT,
) -> SearchResult:
    """Count the documents under ``paths`` containing ``pattern`` and list the first ``limit`` of them.

    ``regex_timeout``: seconds a regular expression may run on one document (None: no limit) before the
    search stops with that document's ``file:line``."""
    if limit < 0:
        raise ValueError(f"limit (--limit) must be >= 0 documents, got {limit}")
    if regex_timeout is not None and not regex_timeout > 0:
        raise ValueError(f"regex_timeout (--regex-timeout) must be > 0 seconds, got {regex_timeout:g}")
    compiled = compile_pattern(pattern, regex, ignore_case)  # fail before starting workers
    if regex and regex_timeout is not None and isinstance(compiled, re.Pattern):
        print(
            "lmforge analyze search: warning: the 'regex' package is not installed, so --regex runs without "
            "a time limit (pip install 'lmforge[curate]')",
            file=sys.stderr,
        )
    files = expand_document_paths(list(paths) if not isinstance(paths, str) else paths)
    tasks = [
        _SearchTask(p, pattern, regex, ignore_case, limit, on_error, source_field, regex_timeout)
        for p in files
    ]
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
