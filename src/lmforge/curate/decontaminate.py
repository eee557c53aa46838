"""The decontaminate step: find paragraphs and documents whose word n-grams overlap evaluation data.

Evaluation data: JSONL task files in Hugging Face layout (the strings of ``eval_fields``, looked up
recursively in lists and dicts, so ``choices.text`` counts) or Dolma documents (``text``). Words are
lower-cased ``\\w+`` runs, so punctuation and case do not hide an overlap. An evaluation text with at
least ``ngram_size`` words contributes its n-grams; a shorter one (>= ``min_eval_words`` words)
contributes itself as one gram of its own length, matched against document windows of that length.

Attributes in ``attributes/<name>/`` (keys ``<name>__ngram_overlap__<attr>``):
- ``paragraph``: ``[start, end, overlap]`` for each paragraph with overlap > ``paragraph_threshold``
  (overlap = share of the paragraph's words inside a document n-gram found in the evaluation data; the
  document's n-grams run across line breaks, so an evaluation text split over lines is still found);
- ``document``: share of the document's characters in such paragraphs;
- ``contaminated``: ``[0, len, 1.0]`` when ``document`` > ``document_threshold``.

With ``action: remove`` the step also writes cleaned documents to ``<output>/<relative path>``:
contaminated documents dropped, contaminated paragraphs removed from the others.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import re
from typing import Any

import numpy as np

from lmforge.config import ConfigError
from lmforge.curate.config import DecontaminateConfig, ExecutionConfig
from lmforge.curate.fingerprints import hash64
from lmforge.curate.layout import (
    attribute_dir,
    attribute_key,
    attribute_path,
    source_of,
    split_documents_path,
)
from lmforge.curate.segment import split_paragraphs
from lmforge.curate.shards import Execution, ShardTask, merged_stats, run_shards
from lmforge.curate.stats import StepStats
from lmforge.documents import ReadStats, expand_document_paths, read_documents
from lmforge.io import atomic_write, iter_lines, join, open_file, parse_json_line, write_json

_WORD = re.compile(r"\w+")
_MULT = np.uint64(0x100000001B3)


def normalized_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _gram_hashes(words: list[str], n: int) -> np.ndarray:
    if len(words) < n or n <= 0:
        return np.zeros(0, dtype=np.uint64)
    word_hashes = np.fromiter((hash64(w) for w in words), dtype=np.uint64, count=len(words))
    return _windows(word_hashes, n)


def _windows(word_hashes: np.ndarray, n: int) -> np.ndarray:
    count = len(word_hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.full(count, np.uint64(n), dtype=np.uint64)  # the length is part of the gram's identity
    with np.errstate(over="ignore"):
        for j in range(n):
            acc = acc * _MULT + word_hashes[j : j + count]
    return acc


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def eval_texts(path: str, fields: list[str]) -> list[str]:
    """The evaluation strings of one JSONL file (task data or Dolma documents)."""
    texts = []
    for line_no, raw in iter_lines(path):  # bad lines are named file:line, never a JSON traceback
        if not raw.strip():
            continue
        row = parse_json_line(path, line_no, raw)
        for field in fields:
            texts.extend(_strings(row.get(field)))
    return texts


def build_eval_index(config: DecontaminateConfig) -> tuple[np.ndarray, list[int], int]:
    """(sorted unique gram hashes, the short gram lengths used, number of eval texts)."""
    grams: list[np.ndarray] = []
    short_lengths: set[int] = set()
    n_texts = 0
    # a folder contributes its JSONL files only (shared/data/eval also holds a README.md)
    for path in expand_document_paths(config.eval):
        for text in eval_texts(path, config.eval_fields):
            words = normalized_words(text)
            if len(words) >= config.ngram_size:
                grams.append(_gram_hashes(words, config.ngram_size))
            elif len(words) >= config.min_eval_words:
                grams.append(_gram_hashes(words, len(words)))
                short_lengths.add(len(words))
            else:
                continue
            n_texts += 1
    index = np.unique(np.concatenate(grams)) if grams else np.zeros(0, dtype=np.uint64)
    return index, sorted(short_lengths), n_texts


@functools.lru_cache(maxsize=2)
def _load_index(path: str) -> np.ndarray:
    with open_file(path, "rb", compression=False) as f:
        return np.load(io.BytesIO(f.read()), allow_pickle=False)


def _member(grams: np.ndarray, index: np.ndarray) -> np.ndarray:
    if len(index) == 0 or len(grams) == 0:
        return np.zeros(len(grams), dtype=bool)
    pos = np.minimum(np.searchsorted(index, grams), len(index) - 1)
    return index[pos] == grams


def paragraph_overlaps(
    text: str, index: np.ndarray, ngram_size: int, short_lengths: list[int]
) -> list[tuple[int, int, float]]:
    """``(start, end, overlap)`` for every paragraph with words, where overlap is the share of the
    paragraph's words covered by a document n-gram (windows run across line breaks) found in the index."""
    matches = list(_WORD.finditer(text))
    paragraphs = split_paragraphs(text)
    if not matches or not paragraphs:
        return []
    word_hashes = np.fromiter(
        (hash64(m.group().lower()) for m in matches), dtype=np.uint64, count=len(matches)
    )
    covered = np.zeros(len(matches) + 1, dtype=np.int64)  # difference array of covered word ranges
    for n in [ngram_size, *short_lengths]:
        found = np.flatnonzero(_member(_windows(word_hashes, n), index))
        np.add.at(covered, found, 1)
        np.add.at(covered, found + n, -1)
    is_covered = np.cumsum(covered[:-1]) > 0
    starts = np.fromiter((m.start() for m in matches), dtype=np.int64, count=len(matches))
    para_starts = np.array([s for s, _ in paragraphs], dtype=np.int64)
    para_of_word = np.searchsorted(para_starts, starts, side="right") - 1
    words_per_para = np.bincount(para_of_word, minlength=len(paragraphs))
    covered_per_para = np.bincount(para_of_word, weights=is_covered, minlength=len(paragraphs))
    return [
        (s, e, float(covered_per_para[i] / words_per_para[i]))
        for i, (s, e) in enumerate(paragraphs)
        if words_per_para[i]
    ]


def _decontaminate_shard(task: ShardTask) -> dict[str, Any]:
    p = task.params
    index = _load_index(p["index"])
    doc_path = task.inputs[0]
    name = p["name"]
    keys = {a: attribute_key(name, "ngram_overlap", a) for a in ("paragraph", "document", "contaminated")}
    read = ReadStats()
    stats = StepStats()
    # an exception aborts both outputs (ExitStack hands it to each atomic_write)
    with contextlib.ExitStack() as stack:
        attrs_out = stack.enter_context(atomic_write(task.outputs[0], "wt"))
        cleaned_out = (
            stack.enter_context(atomic_write(task.outputs[1], "wt")) if p["action"] == "remove" else None
        )
        for _, doc in read_documents(doc_path, on_error=p["on_error"], stats=read):
            text = doc["text"]
            source = source_of(doc_path, doc)
            nbytes = len(text.encode("utf-8", "surrogatepass"))
            overlaps = paragraph_overlaps(text, index, p["ngram_size"], p["short_lengths"])
            bad = [(s, e, round(o, 5)) for s, e, o in overlaps if o > p["paragraph_threshold"]]
            share = sum(e - s for s, e, _ in bad) / len(text) if text else 0.0
            contaminated = share > p["document_threshold"]
            attrs: dict[str, Any] = {keys["paragraph"]: [list(b) for b in bad]}
            attrs[keys["document"]] = [[0, len(text), round(share, 5)]]
            if contaminated:
                attrs[keys["contaminated"]] = [[0, len(text), 1.0]]
                stats.source(source).modified["contaminated_documents"] += 1
            if bad:
                stats.source(source).modified["contaminated_paragraphs"] += len(bad)
            attrs_out.write(json.dumps({"id": doc.get("id"), "attributes": attrs}, ensure_ascii=False) + "\n")
            if cleaned_out is None:
                stats.keep(source, nbytes)
            elif contaminated:
                stats.drop(source, nbytes, "contaminated document")
            else:
                if bad:
                    pieces, cursor = [], 0
                    for s, e, _ in bad:
                        pieces.append(text[cursor:s])
                        cursor = e
                    pieces.append(text[cursor:])
                    doc = {**doc, "text": "".join(pieces)}
                cleaned_out.write(json.dumps(doc, ensure_ascii=False) + "\n")
                stats.keep(source, nbytes)
    stats.add_read_stats(source_of(doc_path), read)
    return {"stats": stats.to_json()}


def run_decontaminate(config: DecontaminateConfig, execution: ExecutionConfig) -> dict[str, Any]:
    files = expand_document_paths(config.documents)
    out_dir = attribute_dir(files[0], config.name)
    state = join(out_dir, ".lmforge-state", "decontaminate")
    index, short_lengths, n_texts = build_eval_index(config)
    if n_texts == 0:  # e.g. a misspelt --eval-fields: the step would silently find no contamination at all
        raise ConfigError(
            "eval_fields",
            f"no evaluation text of at least {config.min_eval_words} words in fields {config.eval_fields} "
            f"of {config.eval}",
        )
    buf = io.BytesIO()
    np.save(buf, index, allow_pickle=False)
    digest = hashlib.sha256(buf.getvalue()).hexdigest()[:20]
    index_path = join(state, f"eval-index-{digest}.npy")
    with atomic_write(index_path, "wb", compression=False) as f:
        f.write(buf.getvalue())
    params = {
        "index": index_path,
        "name": config.name,
        "ngram_size": config.ngram_size,
        "short_lengths": short_lengths,
        "paragraph_threshold": config.paragraph_threshold,
        "document_threshold": config.document_threshold,
        "action": config.action,
        "on_error": execution.on_error,
    }
    tasks = []
    for path in files:
        outputs = [attribute_path(path, config.name)]
        if config.action == "remove":
            assert config.output is not None
            outputs.append(join(config.output, split_documents_path(path)[1]))
        tasks.append(ShardTask(key=path, inputs=(path,), outputs=tuple(outputs), params=params))
    settings = {"step": "decontaminate", **params}
    results, skipped = run_shards(
        _decontaminate_shard, tasks, state_dir=join(state, "shards"), settings=settings,
        execution=Execution.from_config(execution), desc="decontaminate",
    )  # fmt: skip
    stats = merged_stats(results)
    summary = stats.to_dict(
        "decontaminate",
        eval_texts=n_texts,
        eval_ngrams=len(index),
        ngram_size=config.ngram_size,
        files=len(files),
    )
    write_json(join(out_dir, "stats.json"), summary)
    if config.action == "remove" and config.output:
        write_json(join(config.output, "stats.json"), summary)
    return {**summary, "skipped_shards": skipped}
