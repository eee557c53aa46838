"""A small, real corpus from text every Python installation ships, written as Dolma documents.

Three sources, so that per-source perplexity means something:

- ``stdlib-code``: the standard library's modules, verbatim source code;
- ``stdlib-docs``: the same modules' docstrings and comments, as prose;
- ``python-topics``: the interpreter's documentation topics (``pydoc_data.topics``, what ``help()`` shows).

Everything is deterministic for one installation: files are visited in sorted order, ids are stable
(``<source>/<relative path>``), ``added``/``created`` come from the interpreter's build date rather than the
clock, and gzip headers carry no timestamp or file name, so two builds are byte-identical. A stable hash of
the id sends about ``eval_fraction`` of documents to ``eval/<source>/`` (held out for per-source perplexity;
at least one per source when ``eval_fraction`` > 0); the rest go to ``documents/<source>/``.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import sys
import sysconfig
import tokenize
from collections.abc import Iterator
from typing import Any

from lmforge.io import atomic_write, write_json

SOURCES = ("stdlib-code", "stdlib-docs", "python-topics")
# Test suites are large, repetitive and full of deliberately broken code; site-packages is not the stdlib.
SKIPPED_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"})


@dataclasses.dataclass
class CorpusStats:
    documents: dict[str, int] = dataclasses.field(default_factory=dict)
    eval_documents: dict[str, int] = dataclasses.field(default_factory=dict)
    bytes: dict[str, int] = dataclasses.field(default_factory=dict)
    skipped_files: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def stdlib_root() -> str:
    return sysconfig.get_paths()["stdlib"]


def stdlib_files(root: str | None = None) -> list[str]:
    """Relative paths of the standard library's ``.py`` files, sorted, tests and site-packages excluded."""
    root = root or stdlib_root()
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in files:
            if name.endswith(".py"):
                found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(p.replace(os.sep, "/") for p in found)


def module_name(relative_path: str) -> str:
    parts = relative_path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def docstrings_and_comments(source: str) -> list[str]:
    """The prose of a module: its docstrings (module, classes, functions) and comment blocks, in order.

    Consecutive comment lines are joined into one paragraph; shebangs, encoding lines and lint pragmas are
    dropped because they are not prose.
    """
    pieces: list[tuple[int, str]] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and doc.strip():
                line = getattr(node, "lineno", 0)
                name = getattr(node, "name", None)
                pieces.append((line, f"{name}: {doc.strip()}" if name else doc.strip()))
    block: list[str] = []
    block_line = 0
    last_line = -2
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string.lstrip("#").strip()
        row = tok.start[0]
        if not text or text.startswith(("!", "-*-", "noqa", "type:", "pragma", "fmt:")):
            continue
        if row != last_line + 1 and block:
            pieces.append((block_line, " ".join(block)))
            block = []
        if not block:
            block_line = row
        block.append(text)
        last_line = row
    if block:
        pieces.append((block_line, " ".join(block)))
    pieces.sort(key=lambda item: item[0])
    return [text for _, text in pieces]


def is_held_out(doc_id: str, eval_fraction: float) -> bool:
    """Stable across runs, machines and Python versions (unlike ``hash()``)."""
    digest = hashlib.sha1(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction


def _timestamp() -> str:
    # The interpreter's build date: fixed for an installation, so rebuilding the corpus changes nothing.
    try:
        built = datetime.datetime.strptime(platform.python_build()[1], "%b %d %Y %H:%M:%S")
    except ValueError:
        built = datetime.datetime(2000, 1, 1)
    return built.replace(tzinfo=datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def iter_documents(
    root: str | None = None, stats: CorpusStats | None = None, max_bytes_per_source: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every document of the three sources, in a fixed order, each source capped at ``max_bytes_per_source``
    of text (documents that would overflow the cap are left out; files stop being read once both stdlib
    sources are full)."""
    root = root or stdlib_root()
    stats = stats if stats is not None else CorpusStats()
    stamp = _timestamp()
    version = platform.python_version()
    used: dict[str, int] = {}

    def fits(source: str, text: str) -> bool:
        size = len(text.encode("utf-8"))
        if (
            max_bytes_per_source is not None
            and used.get(source, 0) + size > max_bytes_per_source
            and used.get(source)
        ):
            return False
        used[source] = used.get(source, 0) + size
        return True

    def full(source: str) -> bool:
        return max_bytes_per_source is not None and used.get(source, 0) >= max_bytes_per_source * 0.99

    for rel in stdlib_files(root):
        if full("stdlib-code") and full("stdlib-docs"):
            break
        path = os.path.join(root, rel)
        try:
            with open(path, encoding="utf-8") as handle:
                source = handle.read()
            prose = docstrings_and_comments(source)
        except (UnicodeDecodeError, SyntaxError, tokenize.TokenError, ValueError):
            stats.skipped_files.append(rel)  # a few stdlib files are deliberately not valid UTF-8 / Python
            continue
        meta = {"path": rel, "module": module_name(rel), "python_version": version}
        if source.strip() and fits("stdlib-code", source):
            yield _doc("stdlib-code", rel, source, stamp, meta)
        text = "\n\n".join(prose)
        if prose and fits("stdlib-docs", text):
            yield _doc("stdlib-docs", rel, text, stamp, meta)
    from pydoc_data.topics import topics

    for name in sorted(topics):
        text = topics[name].strip()
        if text and fits("python-topics", text):
            yield _doc("python-topics", name, text, stamp, {"topic": name, "python_version": version})


def _doc(source: str, key: str, text: str, stamp: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{source}/{key}", "text": text, "source": source, "added": stamp, "created": stamp,
            "metadata": meta}  # fmt: skip


def _write_gzip_jsonl(path: str, docs: list[dict[str, Any]]) -> None:
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode("utf-8")
    with atomic_write(path, "wb", compression=False) as handle:
        # mtime=0 and no file name in the header: identical bytes on every build.
        handle.write(gzip.compress(payload, compresslevel=6, mtime=0))


def build_corpus(
    output_dir: str,
    *,
    eval_fraction: float = 0.05,
    max_mb_per_source: float | None = None,
    shard_mb: float = 4.0,
    root: str | None = None,
) -> CorpusStats:
    """Write ``documents/<source>/NNNN.jsonl.gz`` and ``eval/<source>/NNNN.jsonl.gz`` under ``output_dir``.

    ``max_mb_per_source`` caps each source's text (the first files in sorted order win), which keeps the
    quickstart fast on small machines. ``stats.json`` records the counts. Returns the stats.
    """
    stats = CorpusStats()
    budget = None if max_mb_per_source is None else int(max_mb_per_source * 1e6)
    buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}
    buffer_bytes: dict[tuple[str, str], int] = {}
    shard_index: dict[tuple[str, str], int] = {}

    def flush(key: tuple[str, str], keep_last: bool = False) -> None:
        split, source = key
        index = shard_index.get(key, 0)
        docs = buffers[key][:-1] if keep_last else buffers[key]
        _write_gzip_jsonl(os.path.join(output_dir, split, source, f"{index:04d}.jsonl.gz"), docs)
        shard_index[key] = index + 1
        buffers[key] = buffers[key][-1:] if keep_last else []
        buffer_bytes[key] = sum(len(d["text"].encode("utf-8")) for d in buffers[key])

    for doc in iter_documents(root, stats, budget):
        source = doc["source"]
        size = len(doc["text"].encode("utf-8"))
        held_out = is_held_out(doc["id"], eval_fraction)
        split = "eval" if held_out else "documents"
        counts = stats.eval_documents if held_out else stats.documents
        counts[source] = counts.get(source, 0) + 1
        stats.bytes[source] = stats.bytes.get(source, 0) + size
        key = (split, source)
        buffers.setdefault(key, []).append(doc)
        buffer_bytes[key] = buffer_bytes.get(key, 0) + size
        if buffer_bytes[key] >= shard_mb * 1e6 and len(buffers[key]) > 1:
            # a training shard keeps back its last document: it may still be needed as a held-out one below
            flush(key, keep_last=split == "documents")
    if eval_fraction > 0:
        # A small source (a low max_mb_per_source) can draw no held-out document at all by the hash; every
        # source gets at least one (its last training document), so per-source perplexity has data for
        # each source and the held-out folders the later stages read exist.
        for source in sorted(stats.documents):
            train_docs = buffers.get(("documents", source)) or []
            if stats.eval_documents.get(source) or stats.documents[source] < 2 or not train_docs:
                continue
            moved = train_docs.pop()
            buffers.setdefault(("eval", source), []).append(moved)
            stats.documents[source] -= 1
            stats.eval_documents[source] = 1
    for key, docs in sorted(buffers.items()):
        if docs:
            flush(key)
    write_json(
        os.path.join(output_dir, "stats.json"),
        {"python": sys.version.split()[0], "eval_fraction": eval_fraction, **stats.to_dict()},
    )
    return stats
