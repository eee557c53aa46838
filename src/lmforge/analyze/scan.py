"""The per-shard work of an analysis: one streaming read of one file, returning mergeable partial results.

Pass 1 (:func:`scan_shard`) counts everything; pass 2 (:func:`recount_shard`, only when n-grams are
reported) counts the n-gram candidates exactly. Both are module-level functions of one picklable task, as
the executors require. Per-document work is kept to C-level string operations; everything per word runs
vectorised over batches of documents (see :mod:`lmforge.analyze.hashing`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from lmforge.analyze.contamination import ContaminationScanner, DocRef, presence_map
from lmforge.analyze.duplicates import DuplicateRecorder, Spill
from lmforge.analyze.hashing import ngram_hashes, normalized_word_bytes, text_hash, word_hashes
from lmforge.analyze.ngrams import CountMinSketch, ExactCounter, HeavyHitters
from lmforge.analyze.options import AnalyzeOptions
from lmforge.analyze.pii import PII_KINDS, count_pii_batch
from lmforge.analyze.stats import SourceStats, default_source
from lmforge.documents import ReadStats, read_documents
from lmforge.io import join, open_file

MAX_BATCH_DOCUMENTS = 4096
MAX_BATCH_CHARS = 16 << 20


@dataclasses.dataclass
class ShardTask:
    path: str
    shard: int
    options: AnalyzeOptions
    work_dir: str
    eval_hashes_path: str | None = None  # sorted unique evaluation n-gram hashes (.npy)
    eval_sizes: tuple[int, ...] = ()
    candidates_path: str | None = None  # pass 2: n-gram candidates per size (.npz)


@dataclasses.dataclass
class ShardResult:
    path: str
    shard: int
    read: dict[str, int]
    rejections: list[dict[str, Any]]
    sources: dict[str, SourceStats]
    candidates: dict[int, tuple[np.ndarray, np.ndarray]]  # n -> (hashes, sketch estimates)
    document_spill: Spill | None
    paragraph_spill: Spill | None
    contamination: dict[str, Any]
    cpu_seconds: float


@dataclasses.dataclass
class RecountResult:
    shard: int
    counts: dict[int, np.ndarray]
    texts: dict[int, dict[int, str]]
    cpu_seconds: float


# Per-process caches: a pool worker handles many shards, and loading a tokenizer or an index once is enough.
_TOKENIZERS: dict[str, Any] = {}
_ARRAYS: dict[str, Any] = {}


def _tokenizer(name: str) -> Any:
    if name not in _TOKENIZERS:
        from lmforge.tokenize.tokenizer import load_tokenizer

        _TOKENIZERS[name] = load_tokenizer(name)
    return _TOKENIZERS[name]


def _load_array(path: str) -> Any:
    if path not in _ARRAYS:
        while len(_ARRAYS) >= 4:  # a long-lived worker may see many runs: keep only the latest few
            _ARRAYS.pop(next(iter(_ARRAYS)))
        with open_file(path, "rb", compression=False) as f:
            loaded = np.load(f, allow_pickle=False)
            _ARRAYS[path] = {k: loaded[k] for k in loaded.files} if hasattr(loaded, "files") else loaded
    return _ARRAYS[path]


class _Batch:
    """Documents waiting for the vectorised steps (tokens, n-grams, contamination)."""

    def __init__(self) -> None:
        self.words: list[bytes] = []
        self.word_counts: list[int] = []
        self.refs: list[DocRef] = []
        self.texts: list[str] = []
        self.stats: list[SourceStats] = []
        self.chars = 0
        self.pii_texts: list[str] = []
        self.pii_encoded: list[bytes] = []
        self.pii_stats: list[SourceStats] = []

    def full(self, options: AnalyzeOptions) -> bool:
        return (
            len(self.words) >= options.batch_words
            or len(self.refs) >= MAX_BATCH_DOCUMENTS
            or len(self.pii_texts) >= MAX_BATCH_DOCUMENTS
            or self.chars >= MAX_BATCH_CHARS
        )

    def ngrams(self, sizes: set[int]) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], np.ndarray]:
        hashes = word_hashes(self.words)
        doc_of_word = np.repeat(np.arange(len(self.word_counts)), self.word_counts)
        return {n: ngram_hashes(hashes, n, doc_of_word) for n in sorted(sizes)}, doc_of_word


class _Pending:
    """Lengths waiting to be added to the histograms in one vectorised call."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], list[int]] = {}

    def add(self, source: str, metric: str, value: int) -> None:
        self.values.setdefault((source, metric), []).append(value)

    def flush(self, sources: dict[str, SourceStats]) -> None:
        for (source, metric), values in self.values.items():
            sources[source].lengths[metric].add_many(values)
        self.values.clear()


def scan_shard(task: ShardTask) -> ShardResult:
    """Pass 1 over one file: counts, lengths, languages, URLs, PII, duplicate records, n-gram candidates,
    contamination matches."""
    started = time.process_time()
    options = task.options
    if options.languages:
        from lmforge.curate.taggers.language import detect_language
    tokenizer = _tokenizer(options.tokenizer) if options.tokenizer else None
    read = ReadStats()
    sources: dict[str, SourceStats] = {}
    local_sources: dict[str, int] = {}
    pending = _Pending()
    documents, paragraphs = DuplicateRecorder(), DuplicateRecorder()
    sketch = CountMinSketch(options.sketch_depth, options.sketch_width_log2) if options.top_k else None
    heavy = {n: HeavyHitters(sketch, options.ngram_candidates) for n in options.ngram_sizes} if sketch else {}
    contamination = None
    if task.eval_hashes_path:
        eval_hashes = _load_array(task.eval_hashes_path)
        present_key = task.eval_hashes_path + "#present"
        if present_key not in _ARRAYS:
            _ARRAYS[present_key] = presence_map(eval_hashes)
        contamination = ContaminationScanner(
            eval_hashes, task.eval_sizes, options.contamination_max_docs, _ARRAYS[present_key]
        )
    sizes = set(heavy) | set(task.eval_sizes if contamination else ())
    fallback_source = default_source(task.path)
    batch = _Batch()

    def flush() -> None:
        nonlocal batch
        for stats, counts in zip(batch.pii_stats, count_pii_batch(batch.pii_texts, batch.pii_encoded)):
            for kind, found in zip(PII_KINDS, counts):
                if found:
                    stats.pii_matches[kind] += found
                    stats.pii_documents[kind] += 1
        if tokenizer is not None and batch.texts:
            encodings = tokenizer.encode_batch_fast(batch.texts, add_special_tokens=False)
            for stats, ref, encoding in zip(batch.stats, batch.refs, encodings):
                stats.tokens += len(encoding.ids)
                pending.add(ref[1], "tokens", len(encoding.ids))
        if sizes and batch.refs:
            grams, doc_of_word = batch.ngrams(sizes)
            for n, hitters in heavy.items():
                hitters.update(grams[n][0])
            if contamination is not None:
                contamination.update(grams, doc_of_word, batch.refs)
        pending.flush(sources)  # per batch: a shard's memory must not grow with its document count
        batch = _Batch()

    for line_no, doc in read_documents(task.path, options.on_error, read):
        text: str = doc["text"]
        source = doc.get(options.source_field)
        source = fallback_source if source is None or source == "" else str(source)
        stats = sources.get(source)
        if stats is None:
            stats = sources[source] = SourceStats()
            local_sources[source] = len(local_sources)
        encoded = text.encode("utf-8", "surrogatepass")
        n_words = len(text.split())
        stats.documents += 1
        stats.bytes += len(encoded)
        stats.words += n_words
        pending.add(source, "bytes", len(encoded))
        pending.add(source, "words", n_words)
        if n_words == 0:
            stats.empty_documents += 1
        # paragraphs: lines with a non-whitespace byte, hashed as UTF-8 bytes (no per-line str.encode)
        lines = [line for line in encoded.split(b"\n") if line and not line.isspace()]
        stats.paragraphs += len(lines)
        if options.duplicates:
            source_id = local_sources[source]
            documents.add([text_hash(encoded)], [min(len(encoded), 0xFFFFFFFF)], source_id, line_no)
            paragraphs.add(list(map(text_hash, lines)), list(map(len, lines)), source_id, line_no)
        if options.pii:
            batch.pii_texts.append(text)
            batch.pii_encoded.append(encoded)
            batch.pii_stats.append(stats)
        if options.languages:
            sample = text if options.language_max_chars is None else text[: options.language_max_chars]
            language, _ = detect_language(sample)
            stats.languages[language] += 1
            stats.language_bytes[language] += len(encoded)
        metadata = doc.get("metadata")
        url = metadata.get("url") if isinstance(metadata, dict) else None
        if url is None:
            url = doc.get("url")
        if url is not None:
            stats.add_url(url)
        if sizes or tokenizer is not None:
            batch.refs.append((str(doc.get("id", "")), source, task.path, line_no))
            batch.stats.append(stats)
            if tokenizer is not None:
                batch.texts.append(text)
            if sizes:
                words = normalized_word_bytes(text, encoded)
                batch.words += words
                batch.word_counts.append(len(words))
                for n in heavy:
                    stats.ngram_totals[n] += max(0, len(words) - n + 1)
        batch.chars += len(text)
        if batch.full(options):
            flush()
    flush()

    names = list(local_sources)
    document_spill = paragraph_spill = None
    if options.duplicates:
        base = join(task.work_dir, "duplicates")
        doc_path = join(base, f"documents-{task.shard:06d}.npy")
        para_path = join(base, f"paragraphs-{task.shard:06d}.npy")
        document_spill = Spill(
            doc_path, task.shard, documents.write(doc_path, options.dedup_partitions), names
        )
        paragraph_spill = Spill(
            para_path, task.shard, paragraphs.write(para_path, options.dedup_partitions), names
        )
    return ShardResult(
        path=task.path,
        shard=task.shard,
        read={
            "lines": read.lines,
            "documents": read.documents,
            "rejected": read.rejected,
            "bytes": read.bytes,
        },
        rejections=[r.to_dict() for r in read.rejections],
        sources=sources,
        candidates={n: (h.hashes, h.estimates) for n, h in heavy.items()},
        document_spill=document_spill,
        paragraph_spill=paragraph_spill,
        contamination={
            "matches": contamination.matches if contamination else {},
            "doc_counts": contamination.doc_counts if contamination else {},
            "documents": contamination.documents_hit if contamination else 0,
            "documents_by_source": contamination.documents_hit_by_source if contamination else {},
        },
        cpu_seconds=time.process_time() - started,
    )


def recount_shard(task: ShardTask) -> RecountResult:
    """Pass 2 over one file: exact counts (and the text) of the n-gram candidates chosen after pass 1."""
    started = time.process_time()
    options = task.options
    assert task.candidates_path is not None
    candidates = _load_array(task.candidates_path)
    counters = {n: ExactCounter(candidates[f"n{n}"]) for n in options.ngram_sizes}
    words: list[bytes] = []
    counts: list[int] = []

    def flush() -> None:
        if not words:
            return
        hashes = word_hashes(words)
        doc_of_word = np.repeat(np.arange(len(counts)), counts)
        for n, counter in counters.items():
            grams, starts = ngram_hashes(hashes, n, doc_of_word)
            counter.update(grams, starts, words, n)
        words.clear()
        counts.clear()

    for _, doc in read_documents(task.path, options.on_error, ReadStats()):
        doc_words = normalized_word_bytes(doc["text"])
        words.extend(doc_words)
        counts.append(len(doc_words))
        if len(words) >= options.batch_words or len(counts) >= MAX_BATCH_DOCUMENTS:
            flush()
    flush()
    return RecountResult(
        shard=task.shard,
        counts={n: c.counts for n, c in counters.items()},
        texts={n: c.texts for n, c in counters.items()},
        cpu_seconds=time.process_time() - started,
    )
