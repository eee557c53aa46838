"""The mix step: join documents with their attribute files, keep or drop with filter expressions, remove
or replace spans, sample, and write size-bounded output shards with provenance.

Per stream, input files are grouped in order into tasks of about ``max_size_in_bytes`` of input (an
input file is never split); a task writes ``<output>/<stream>-<task:05d>-<part:03d>.jsonl.gz`` and starts
a new part when the current one passes ``max_size_in_bytes`` of JSONL. Attribute files are read in
lockstep with their document file; a row whose ``id`` differs from the document's is an error naming
both files and the line (the files do not belong together).

Order of operations per document: include/exclude filters (the first matching ``exclude`` expression is
the reason recorded in stats), span replacement, empty-text check, sampling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Iterator
from typing import IO, Any

from lmforge.config import ConfigError
from lmforge.curate.config import ExecutionConfig, MixConfig
from lmforge.curate.expr import Expression, ExpressionError
from lmforge.curate.layout import attribute_path, source_of
from lmforge.curate.shards import (
    Execution,
    ShardTask,
    file_size,
    merged_stats,
    remove_file,
    remove_stale_temporaries,
    run_shards,
)
from lmforge.curate.stats import StepStats
from lmforge.documents import ReadStats, expand_document_paths, read_documents
from lmforge.io import (
    InputError,
    atomic_write,
    expand_paths,
    iter_lines,
    join,
    parse_json_line,
    write_json,
)

_SUFFIX = {"gz": ".jsonl.gz", "zst": ".jsonl.zst", "none": ".jsonl"}


def _attribute_rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, raw in iter_lines(path):
        if raw.strip():
            yield line_no, parse_json_line(path, line_no, raw)


def replace_spans(text: str, spans: list[tuple[int, int, str]]) -> tuple[str, int]:
    """Apply ``(start, end, replacement)`` edits: sorted by start (longer first on ties); a span that
    starts inside an already replaced one is skipped (dolma's rule); ends are clamped to the text.
    Returns the new text and the number of spans applied."""
    if not spans:
        return text, 0
    out: list[str] = []
    cursor = 0
    applied = 0
    n = len(text)
    for start, end, replacement in sorted(spans, key=lambda s: (s[0], -s[1])):
        start, end = max(0, start), min(end, n)
        if start < cursor or end < start:
            continue
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = end
        applied += 1
    out.append(text[cursor:])
    return "".join(out), applied


def sample_copies(rate: float, seed: int, stream: str, key: str) -> int:
    """How many times a document is written: ``floor(rate)`` plus one more with probability
    ``rate - floor(rate)``, decided by a hash of (seed, stream, key), so reruns and any process count
    agree."""
    whole = math.floor(rate)
    frac = rate - whole
    if frac == 0:
        return int(whole)
    digest = hashlib.blake2b(f"{seed}\x00{stream}\x00{key}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "little") / 2**64
    return int(whole) + (1 if u < frac else 0)


class _ShardWriter:
    """Rolls over to a new part file when the current one passes ``max_bytes`` of JSONL.

    Every part stays open (as a temporary file) until the task's ``stack`` closes: a task that fails
    half-way publishes none of its parts, not the ones it had finished before the failure."""

    def __init__(self, prefix: str, suffix: str, max_bytes: int, stack: contextlib.ExitStack) -> None:
        self.prefix, self.suffix, self.max_bytes, self.stack = prefix, suffix, max_bytes, stack
        self.part = -1
        self.file: IO[str] | None = None
        self.size = 0
        self.paths: list[str] = []
        self.documents = 0

    def _next(self) -> None:
        self.part += 1
        path = f"{self.prefix}-{self.part:03d}{self.suffix}"
        self.paths.append(path)
        self.file = self.stack.enter_context(atomic_write(path, "wt"))
        self.size = 0

    def write(self, line: str) -> None:
        if self.file is None or self.size >= self.max_bytes:
            self._next()
        assert self.file is not None
        self.file.write(line)
        self.size += len(line)
        self.documents += 1


def _mix_task(task: ShardTask) -> dict[str, Any]:
    p = task.params
    stream = p["stream"]
    includes = [Expression.parse(e) for e in stream["filter"]["include"]]
    excludes = [Expression.parse(e) for e in stream["filter"]["exclude"]]
    replacements = stream["span_replacement"]
    stats = StepStats()
    copies_written = 0
    prefix = p["prefix"]
    remove_stale_temporaries([prefix])  # parts of a killed run: .<stream>-<task>-<part>.jsonl.gz.tmp-*
    # an exception inside this block aborts every open part file (nothing half-written is published)
    with contextlib.ExitStack() as stack:
        writer = _ShardWriter(
            prefix, _SUFFIX[stream["output"]["compression"]], stream["output"]["max_size_in_bytes"], stack
        )
        seen: set[str] = set()
        for doc_path in p["documents"]:
            copies_written += _mix_file(
                doc_path, p, stream, includes, excludes, replacements, writer, stats, seen
            )
        if writer.file is None:  # keep one (empty) output so that the task's completion is checkable
            writer._next()
    _remove_stale_parts(prefix, writer.paths)
    return {
        "stats": stats.to_json(),
        "outputs": writer.paths,
        "documents_out": copies_written,
        "attribute_names_seen": sorted(seen),
    }


def _remove_stale_parts(prefix: str, keep: list[str]) -> None:
    """Delete parts an earlier run of this task wrote beyond the ones this run wrote."""
    try:
        existing = expand_paths(f"{prefix}-*")
    except FileNotFoundError:
        return
    for path in existing:
        if path not in keep and path.endswith(tuple(_SUFFIX.values())):
            remove_file(path)


def _mix_file(
    doc_path: str,
    p: dict[str, Any],
    stream: dict[str, Any],
    includes: list[Expression],
    excludes: list[Expression],
    replacements: list[dict[str, Any]],
    writer: _ShardWriter,
    stats: StepStats,
    seen: set[str],
) -> int:
    attr_paths = [attribute_path(doc_path, name) for name in stream["attributes"]]
    attr_iters = [_attribute_rows(path) for path in attr_paths]
    read = ReadStats()
    written = 0
    discard = stream["output"]["discard_fields"]
    for line_no, doc in read_documents(doc_path, on_error=p["on_error"], stats=read):
        text = doc["text"]
        source = source_of(doc_path, doc)
        nbytes = len(text.encode("utf-8", "surrogatepass"))
        attributes: dict[str, Any] = {}
        for path, rows in zip(attr_paths, attr_iters):
            try:
                attr_line, row = next(rows)
            except StopIteration:
                raise InputError(
                    path, None, f"has fewer rows than {doc_path} (ends before line {line_no})"
                ) from None
            if row.get("id") != doc.get("id"):
                raise InputError(
                    path, attr_line,
                    f"id {row.get('id')!r} does not match document {doc.get('id')!r} at {doc_path}:{line_no}",
                )  # fmt: skip
            attributes.update(row.get("attributes") or {})
        if "attributes" in doc and isinstance(doc["attributes"], dict):
            attributes = {**doc["attributes"], **attributes}
        seen.update(attributes)
        failed = next((e.source for e in includes if not e(doc, attributes)), None)
        if failed is not None:
            stats.drop(source, nbytes, f"include failed: {failed}")
            continue
        reason = next((e.source for e in excludes if e(doc, attributes)), None)
        if reason is not None:
            stats.drop(source, nbytes, f"exclude: {reason}")
            continue
        edits = []
        for rule in replacements:
            for span in attributes.get(rule["span"]) or []:
                if len(span) == 3 and isinstance(span[2], (int, float)) and span[2] >= rule["min_score"]:
                    edits.append((int(span[0]), int(span[1]), rule["replacement"]))
        if edits:
            text, applied = replace_spans(text, edits)
            stats.source(source).modified["spans_replaced"] += applied
        if stream["drop_empty"] and not text.strip():
            stats.drop(source, nbytes, "empty after span replacement")
            continue
        key = str(doc.get("id")) if doc.get("id") is not None else f"{doc_path}:{line_no}"
        rate = stream["source_sampling_rates"].get(source, stream["sampling_rate"])
        copies = sample_copies(rate, p["seed"], stream["name"], key)
        if copies == 0:
            stats.drop(source, nbytes, "sampling")
            continue
        out = {k: v for k, v in doc.items() if k not in discard}
        out["text"] = text
        if stream["provenance"]:
            metadata = dict(out.get("metadata") or {}) if isinstance(out.get("metadata"), dict) else {}
            metadata["provenance"] = {"file": doc_path, "line": line_no}
            out["metadata"] = metadata
        line = json.dumps(out, ensure_ascii=False) + "\n"
        for _ in range(copies):
            writer.write(line)
        written += copies
        if copies > 1:
            stats.source(source).modified["upsampled_extra_copies"] += copies - 1
        stats.keep(source, nbytes)
    stats.add_read_stats(source_of(doc_path), read)
    return written


def _group_files(files: list[str], max_bytes: int) -> list[list[str]]:
    """Consecutive files into groups of about ``max_bytes`` of (compressed) input; never splits one."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for path in files:
        current.append(path)
        size += file_size(path)
        if size >= max_bytes:
            groups.append(current)
            current, size = [], 0
    if current:
        groups.append(current)
    return groups


def _unseen_attribute_warnings(
    stream: Any, filters: list[tuple[str, Expression]], results: list[dict[str, Any]]
) -> list[str]:
    """Filter attributes (read by bare name) and span-replacement attributes that no document of the
    stream carries: likely misspelt. A misspelt PII span would leave every address unmasked, silently."""
    if any("attribute_names_seen" not in r for r in results):  # shards finished by an older version
        return []
    seen = {name for r in results for name in r["attribute_names_seen"]}
    where = f"misspelt, or not in the stream's attributes {list(stream.attributes)}?"
    warnings = [
        f"stream {stream.name!r}: {kind} filter {expression.source!r} reads attribute {name!r}, which no "
        f"document has, so the test comes out the same for every document ({where})"
        for kind, expression in filters
        for name in sorted(expression.attribute_names - seen)
    ]
    warnings += [
        f"stream {stream.name!r}: span_replacement[{j}] uses attribute {rule.span!r}, which no document has, "
        f"so nothing was replaced ({where} Taggers write some span attributes only where they find spans.)"
        for j, rule in enumerate(stream.span_replacement)
        if rule.span not in seen
    ]
    return warnings


def run_mix(config: MixConfig, execution: ExecutionConfig) -> dict[str, Any]:
    summaries = {}
    for stream in config.streams:
        # compile once here so a bad expression fails before any work, with its column
        filters: list[tuple[str, Expression]] = []
        for kind in ("include", "exclude"):
            for j, expression in enumerate(getattr(stream.filter, kind)):
                try:
                    filters.append((kind, Expression.parse(expression)))
                except ExpressionError as err:
                    raise ConfigError(f"mix.streams[{stream.name}].filter.{kind}[{j}]", str(err)) from None
        files = expand_document_paths(stream.documents)
        stream_dict = dataclasses.asdict(stream)
        params = {"stream": stream_dict, "seed": config.seed, "on_error": execution.on_error}
        tasks = []
        for index, group in enumerate(_group_files(files, stream.output.max_size_in_bytes)):
            prefix = join(stream.output.path, f"{stream.name}-{index:05d}")
            # inputs list the attribute files too, so that re-tagging invalidates the completion marker
            inputs = tuple(group) + tuple(attribute_path(f, a) for f in group for a in stream.attributes)
            task_params = {**params, "documents": list(group), "prefix": prefix}
            tasks.append(ShardTask(key=prefix, inputs=inputs, outputs=(), params=task_params))
        results, skipped = run_shards(
            _mix_task, tasks, state_dir=join(stream.output.path, ".lmforge-state", "mix"),
            settings={"step": "mix", **params}, execution=Execution.from_config(execution), desc=f"mix {stream.name}",
        )  # fmt: skip
        stats = merged_stats(results)
        summary = stats.to_dict(
            "mix",
            stream=stream.name,
            files=len(files),
            documents_out=sum(r["documents_out"] for r in results),
            # names relative to the output folder, so stats.json stays valid when the folder moves
            outputs=[path.rsplit("/", 1)[-1] for r in results for path in r["outputs"]],
        )
        warnings = _unseen_attribute_warnings(stream, filters, results)
        if warnings:
            summary["warnings"] = warnings
            for warning in warnings:
                print(f"lmforge curate mix: warning: {warning}", file=sys.stderr)
        write_json(join(stream.output.path, f"stats-{stream.name}.json"), summary)
        paths = [path for r in results for path in r["outputs"]]
        summaries[stream.name] = {**summary, "output_paths": paths, "skipped_shards": skipped}
    return summaries
