"""Dolma documents -> OLMo token files: planning, the ordered parallel pipeline, resume and the manifest.

The reader (this process) splits every input file into batches of raw lines; ``processes`` workers parse and
encode batches; results are written strictly in input order. Batches are formed from the input alone, so the
output is byte-identical whatever the process count. Input file ``j`` (in sorted order) becomes
``part-{j:05d}-{k:03d}.npy`` files; when all of them are in place a marker ``.progress/part-{j:05d}.json``
records the result, so a rerun after a kill skips finished inputs and redoes only the rest. At most
``2 * processes + 2`` batches are in flight, so memory stays flat however large the corpus.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from tokenizers import Tokenizer
from tqdm.auto import tqdm

from lmforge.documents import OnError, expand_document_paths
from lmforge.io import (
    InputError,
    exists,
    is_remote,
    iter_lines,
    join,
    makedirs,
    read_json,
    unique_paths,
    write_json,
)
from lmforge.tokenize.encode import Batch, EncodedBatch, Encoder
from lmforge.tokenize.parallel import encode_in_order
from lmforge.tokenize.tokenizer import (
    eos_token_id,
    load_tokenizer,
    pad_token_id,
    resolve_tokenizer_file,
    tokenizer_sha256,
    vocab_size,
)
from lmforge.tokenize.writer import TokenFileWriter

FORMAT = "lmforge-tokens/1"
MANIFEST = "manifest.json"
PROGRESS_DIR = ".progress"
DEFAULT_MAX_TOKENS_PER_FILE = 1 << 29  # 512 Mi tokens: 1 GiB files in uint16
DEFAULT_BATCH_BYTES = 1 << 20  # raw JSONL bytes per worker task: ~0.3 s of encoding, little IPC overhead
MAX_REJECTS_LISTED = 1000
Dtype = Literal["auto", "uint16", "uint32"]
log = logging.getLogger(__name__)


def choose_dtype(requested: str, n_vocab: int) -> str:
    """uint16 when every id fits (vocabulary <= 65 536), else uint32; an explicit choice is checked."""
    if requested == "auto":
        return "uint16" if n_vocab <= 1 << 16 else "uint32"
    if requested not in ("uint16", "uint32"):
        raise ValueError(f"dtype must be auto, uint16 or uint32, got {requested!r}")
    if requested == "uint16" and n_vocab > 1 << 16:
        raise ValueError(f"the tokenizer has {n_vocab} ids, too many for uint16; use uint32 or auto")
    return requested


def _input_size(path: str) -> int:
    if is_remote(path):
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(path)
        return int(fs.size(fs_path))
    return os.path.getsize(path[len("file://") :] if path.startswith("file://") else path)


@dataclasses.dataclass
class _EndOfFile:
    """Marks the end of one input file in the ordered stream (with a stream error, if the file was cut)."""

    file_index: int
    stream_error: InputError | None = None


@dataclasses.dataclass
class _FileProgress:
    index: int
    path: str
    size: int
    writer: TokenFileWriter
    documents_in: int = 0
    tokenized: int = 0
    empty: int = 0
    rejected: int = 0
    tokens: int = 0
    text_bytes: int = 0
    sources: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # source -> [documents, tokens]
    rejects: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, result: EncodedBatch, on_error: OnError) -> None:
        if result.rejections and on_error == "fail":
            line, reason = result.rejections[0]
            raise InputError(self.path, line, reason)
        self.writer.add(result.tokens, result.lengths, result.ids, result.sources, result.lines)
        n_docs = len(result.lengths)
        self.documents_in += n_docs + result.empty + len(result.rejections)
        self.tokenized += n_docs
        self.empty += result.empty
        self.rejected += len(result.rejections)
        self.tokens += int(result.lengths.sum())
        self.text_bytes += result.text_bytes
        for source, length in zip(result.sources, result.lengths.tolist()):
            counts = self.sources.setdefault(source, [0, 0])
            counts[0] += 1
            counts[1] += length
        for line, reason in result.rejections:
            if len(self.rejects) < MAX_REJECTS_LISTED:
                self.rejects.append({"path": self.path, "line": line, "reason": reason})

    def reject_stream(self, err: InputError) -> None:
        self.documents_in += 1
        self.rejected += 1
        if len(self.rejects) < MAX_REJECTS_LISTED:
            self.rejects.append({"path": err.path, "line": err.line, "reason": err.reason})

    def result(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        for f in files:
            f["input"] = self.path
        return {
            "index": self.index,
            "input": self.path,
            "input_size": self.size,
            "documents_in": self.documents_in,
            "tokenized": self.tokenized,
            "empty": self.empty,
            "rejected": self.rejected,
            "tokens": self.tokens,
            "text_bytes": self.text_bytes,
            "sources": {s: {"documents": c[0], "tokens": c[1]} for s, c in sorted(self.sources.items())},
            "files": files,
            "rejects": self.rejects,
        }


def _batches(index: int, path: str, batch_bytes: int) -> Iterator[Batch | _EndOfFile]:
    """Consecutive non-blank lines of one file in batches of about ``batch_bytes``, then the end marker."""
    lines: list[tuple[int, bytes]] = []
    size = 0
    try:
        for line_no, raw in iter_lines(path):
            if not raw.strip():
                continue  # blank lines are not documents (as in lmforge.documents.read_documents)
            lines.append((line_no, raw))
            size += len(raw)
            if size >= batch_bytes:
                yield Batch(index, path, lines)
                lines, size = [], 0
    except InputError as err:
        if lines:
            yield Batch(index, path, lines)
        yield _EndOfFile(index, err)
        return
    if lines:
        yield Batch(index, path, lines)
    yield _EndOfFile(index)


def _settings_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _progress_path(output: str, index: int) -> str:
    return join(output, PROGRESS_DIR, f"part-{index:05d}.json")


def _finished_result(
    output: str, index: int, path: str, size: int, fingerprint: str
) -> dict[str, Any] | None:
    """The recorded result of input ``index`` if a previous run finished it with the same settings."""
    marker = _progress_path(output, index)
    if not exists(marker):
        return None
    record = read_json(marker)
    result = record.get("result", {})
    if (
        record.get("settings") != fingerprint
        or result.get("input") != path
        or result.get("input_size") != size
    ):
        return None
    if not all(exists(join(output, f[key])) for f in result["files"] for key in ("path", "metadata")):
        return None
    return result


def _remove_stale_parts(output: str, index: int, keep: list[dict[str, Any]]) -> None:
    """Parts of input ``index`` left by an earlier run with other settings (e.g. a smaller file budget)."""
    if is_remote(output):
        return
    wanted = {name for f in keep for name in (f["path"], f["metadata"])}
    for path in glob.glob(os.path.join(output, f"part-{index:05d}-*")):
        if os.path.basename(path) not in wanted:
            os.remove(path)


def _remove_stale_temporaries(output: str) -> None:
    """Temporary files a killed run left behind (atomic writes never leave them on a clean exit)."""
    if is_remote(output):
        return
    for tmp in glob.glob(os.path.join(output, ".part-*.tmp-*")):
        os.remove(tmp)


def tokenize_documents(
    inputs: str | Sequence[str],
    tokenizer: str,
    output: str,
    *,
    processes: int = 1,
    dtype: Dtype = "auto",
    max_tokens_per_file: int = DEFAULT_MAX_TOKENS_PER_FILE,
    eos_id: int | None = None,
    on_error: OnError = "fail",
    strip_whitespace: bool = False,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: bool = True,
) -> dict[str, Any]:
    """Tokenize every document under ``inputs`` into ``output``; returns the manifest (also in manifest.json).

    ``inputs``: files, folders or globs (local or fsspec); ``tokenizer``: a tokenizer.json, a folder holding
    one, or a hub name. ``strip_whitespace`` tokenizes ``text.strip()`` as dolma's tokens command does
    (off by default: the tokens are exactly ``encode(text) + [eos]``). See docs/tokenization.md.
    """
    if max_tokens_per_file < 1:
        raise ValueError("max_tokens_per_file must be positive")
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    # unique_paths: the same file named by two overlapping --input patterns is tokenized once
    paths = unique_paths(expand_document_paths(inputs if isinstance(inputs, str) else list(inputs)))
    tok = load_tokenizer(tokenizer)
    n_vocab = vocab_size(tok)
    token_dtype = choose_dtype(dtype, n_vocab)
    eos = eos_token_id(tok, eos_id)
    settings = {
        "format": FORMAT,
        "tokenizer_sha256": tokenizer_sha256(tokenizer),
        "dtype": token_dtype,
        "eos_token_id": eos,
        "max_tokens_per_file": max_tokens_per_file,
        "strip_whitespace": strip_whitespace,
    }
    # What decides the bytes of the output; batch size and process count do not, and on_error is checked
    # per input (an input finished without rejects is valid under both policies).
    fingerprint = _settings_fingerprint(settings)
    settings["on_error"] = on_error
    makedirs(output)
    makedirs(join(output, PROGRESS_DIR))
    _remove_stale_temporaries(output)

    sizes = [_input_size(p) for p in paths]
    results: dict[int, dict[str, Any]] = {}
    todo = []
    for index, (path, size) in enumerate(zip(paths, sizes)):
        done = _finished_result(output, index, path, size, fingerprint)
        if done is not None and not (on_error == "fail" and done["rejected"]):
            results[index] = done
        else:
            todo.append(index)

    started = time.perf_counter()
    if todo:
        _run_pipeline(
            [(i, paths[i], sizes[i]) for i in todo],
            output,
            settings,
            fingerprint,
            tok,
            processes,
            batch_bytes,
            on_error,
            results,
            progress,
        )
    elapsed = time.perf_counter() - started

    manifest = _manifest(
        tokenizer, settings, n_vocab, pad_token_id(tok), [results[i] for i in range(len(paths))]
    )
    write_json(join(output, MANIFEST), manifest)
    log.info(
        "tokenized %d of %d input files in %.1f s (%d finished by an earlier run)",
        len(todo),
        len(paths),
        elapsed,
        len(paths) - len(todo),
    )
    return manifest


def _run_pipeline(
    todo: list[tuple[int, str, int]],
    output: str,
    settings: dict[str, Any],
    fingerprint: str,
    tok: Tokenizer,
    processes: int,
    batch_bytes: int,
    on_error: OnError,
    results: dict[int, dict[str, Any]],
    progress: bool,
) -> None:
    # Each worker encodes on one core: processes, not Rust threads, are the unit of parallelism, and forked
    # children must not inherit a Rust thread pool.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    eos, token_dtype = settings["eos_token_id"], settings["dtype"]
    stream = (item for index, path, _ in todo for item in _batches(index, path, batch_bytes))
    open_files: dict[int, _FileProgress] = {}
    # Progress in text bytes tokenized and documents: input sizes are compressed, so no byte total is known.
    bar = tqdm(unit="B", unit_scale=True, desc="tokenize", disable=not progress, leave=False)
    files_done, documents_done = 0, 0
    info = {index: (path, size) for index, path, size in todo}

    def consume(item: EncodedBatch | _EndOfFile) -> None:
        index = item.file_index
        if index not in open_files:
            path, size = info[index]
            writer = TokenFileWriter(
                output, f"part-{index:05d}", token_dtype, settings["max_tokens_per_file"], path
            )
            open_files[index] = _FileProgress(index, path, size, writer)
        state = open_files[index]
        nonlocal files_done, documents_done
        if isinstance(item, EncodedBatch):
            state.add(item, on_error)
            documents_done += len(item.lengths)
            bar.update(item.text_bytes)
            bar.set_postfix(files=f"{files_done}/{len(todo)}", docs=documents_done, refresh=False)
            return
        if item.stream_error is not None:
            if on_error == "fail":
                raise item.stream_error
            state.reject_stream(item.stream_error)
        result = state.result(state.writer.close())
        _remove_stale_parts(output, index, result["files"])
        write_json(_progress_path(output, index), {"settings": fingerprint, "result": result})
        results[index] = result
        del open_files[index]
        files_done += 1

    try:
        if processes <= 1:
            encoder = Encoder(tok, eos, token_dtype, settings["strip_whitespace"])
            for item in stream:
                consume(encoder.encode(item) if isinstance(item, Batch) else item)
        else:
            encode_in_order(stream, consume, (tok, eos, token_dtype, settings["strip_whitespace"]), processes)
    except BaseException:
        for state in open_files.values():
            state.writer.abort()
        raise
    finally:
        bar.close()


def _manifest(
    tokenizer: str, settings: dict[str, Any], n_vocab: int, pad_id: int | None, inputs: list[dict[str, Any]]
) -> dict[str, Any]:
    keys = ("documents_in", "tokenized", "empty", "rejected", "tokens", "text_bytes")
    totals: dict[str, int] = {key: sum(r[key] for r in inputs) for key in keys}
    totals["input_files"] = len(inputs)
    totals["token_files"] = sum(len(r["files"]) for r in inputs)
    sources: dict[str, dict[str, int]] = {}
    for r in inputs:
        for source, counts in r["sources"].items():
            merged = sources.setdefault(source, {"documents": 0, "tokens": 0})
            merged["documents"] += counts["documents"]
            merged["tokens"] += counts["tokens"]
    rejects = [rej for r in inputs for rej in r["rejects"]][:MAX_REJECTS_LISTED]
    return {
        "format": FORMAT,
        "tokenizer": {
            "name": str(tokenizer),
            "file": os.path.basename(resolve_tokenizer_file(tokenizer)),
            "sha256": settings["tokenizer_sha256"],
            "vocab_size": n_vocab,
        },
        "dtype": settings["dtype"],
        "eos_token_id": settings["eos_token_id"],
        "pad_token_id": pad_id,
        "max_tokens_per_file": settings["max_tokens_per_file"],
        "on_error": settings["on_error"],
        "strip_whitespace": settings["strip_whitespace"],
        "totals": totals,
        "sources": dict(sorted(sources.items())),
        "files": [f for r in inputs for f in r["files"]],
        "inputs": [
            {
                k: r[k]
                for k in ("input", "input_size", "documents_in", "tokenized", "empty", "rejected", "tokens")
            }
            for r in inputs
        ],
        "rejects": rejects,
    }
