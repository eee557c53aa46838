"""The dedup step: exact documents by key, paragraphs (Bloom filter, exact set, or word n-grams), and
near-duplicate documents (MinHash LSH). Results are Dolma attribute files in ``attributes/<name>/``.

Deterministic whatever the process count: phase 1 hashes every shard in parallel (resumable, one
marker per shard); phase 2 walks the shards in the global (file, line) order in one process, so the copy
kept is always the first one in that order (dolma shares one filter between racing workers, so which copy
survives depends on scheduling). Phase 2 is numpy work on hashes only, so it stays cheap.

Attributes (only duplicates are listed; the first copy never is):
- ``<paragraphs.attribute_name>`` (default ``bff_duplicate_paragraph_spans``, as dolma): ``[start, end, 1]``
  per duplicate paragraph (always present, possibly empty, as dolma writes it). With ``method: ngram`` the
  score is the fraction of the paragraph's n-grams seen before.
- ``<exact_documents.attribute_name>``: ``[[0, len(text), 1.0]]`` for a repeated key.
- ``<minhash.attribute_name>``: ``[[0, len(text), 1.0]]`` for a document sharing an LSH band with an
  earlier one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import sys
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lmforge.curate.bloom import BloomFilter
from lmforge.curate.config import DedupConfig, ExecutionConfig
from lmforge.curate.fingerprints import (
    band_hashes,
    dedup_paragraphs,
    hash128,
    minhash_signature,
    split_hashes,
    word_ngram_hashes,
)
from lmforge.curate.layout import attribute_dir, attribute_path, source_of
from lmforge.curate.shards import (
    Execution,
    ShardTask,
    file_size,
    fingerprint,
    merged_stats,
    remove_file,
    remove_stale_temporaries,
    run_shards,
)
from lmforge.curate.stats import StepStats
from lmforge.documents import ReadStats, expand_document_paths, read_documents
from lmforge.io import atomic_write, exists, join, open_file, read_json, write_json

HASH_VERSION = "xxh3-128/v1"


def _doc_key(doc: dict[str, Any], key: str) -> str | None:
    if key == "text":
        return doc["text"]
    node: Any = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if node is None else json.dumps(node, sort_keys=True, ensure_ascii=False)


def _hash_shard(task: ShardTask) -> dict[str, Any]:
    """Phase 1: hash one document file into ``<state>/hashes/<key>.npz``."""
    p = task.params
    (doc_path,) = task.inputs
    read = ReadStats()
    stats = StepStats()
    ids: list[Any] = []
    sources: list[str] = []
    text_lens: list[int] = []
    para_doc: list[int] = []
    para_span: list[tuple[int, int]] = []
    para_hash: list[tuple[int, int]] = []
    gram_para: list[np.ndarray] = []
    gram_hash: list[np.ndarray] = []
    key_hash: list[tuple[int, int]] = []
    has_key: list[bool] = []
    bands: list[list[int]] = []
    par, exact, mh = p["paragraphs"], p["exact_documents"], p["minhash"]
    for i, (_, doc) in enumerate(read_documents(doc_path, on_error=p["on_error"], stats=read)):
        text = doc["text"]
        ids.append(doc.get("id"))
        sources.append(source_of(doc_path, doc))
        text_lens.append(len(text))
        stats.keep(sources[-1], len(text.encode("utf-8", "surrogatepass")))
        if par is not None:
            for s, e, key in dedup_paragraphs(
                text, par["skip_empty"], par["min_words"], par["span_convention"] == "dolma"
            ):
                if par["method"] == "ngram":
                    grams = word_ngram_hashes(key.split(), par["ngram_size"])
                    if len(grams) == 0:
                        continue
                    gram_para.append(np.full(len(grams), len(para_span), dtype=np.int64))
                    gram_hash.append(grams)
                else:
                    para_hash.append(hash128(key))
                para_doc.append(i)
                para_span.append((s, e))
        if exact is not None:
            value = _doc_key(doc, exact["key"])
            has_key.append(value is not None)
            key_hash.append(hash128(value) if value is not None else (0, 0))
        if mh is not None:
            shingles = word_ngram_hashes(text.split(), mh["ngram_size"])
            bands.append(band_hashes(minhash_signature(shingles, mh["num_perm"], mh["seed"]), mh["bands"]))
    stats.add_read_stats(source_of(doc_path), read)
    h1, h2 = split_hashes(para_hash)
    k1, k2 = split_hashes(key_hash)
    arrays = {
        "text_len": np.array(text_lens, dtype=np.int64),
        "para_doc": np.array(para_doc, dtype=np.int64),
        "para_span": np.array(para_span, dtype=np.int64).reshape(-1, 2),
        "para_h1": h1,
        "para_h2": h2,
        "gram_para": np.concatenate(gram_para) if gram_para else np.zeros(0, dtype=np.int64),
        "gram_hash": np.concatenate(gram_hash) if gram_hash else np.zeros(0, dtype=np.uint64),
        "key_h1": k1,
        "key_h2": k2,
        "has_key": np.array(has_key, dtype=bool),
        "bands": np.array(bands, dtype=np.uint64).reshape(len(bands), mh["bands"] if mh else 0),
        "meta": np.frombuffer(json.dumps({"ids": ids, "sources": sources}).encode(), dtype=np.uint8),
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with atomic_write(task.outputs[0], "wb", compression=False) as f:
        f.write(buf.getvalue())
    return {"stats": stats.to_json()}


def _load_hashes(path: str) -> dict[str, np.ndarray]:
    with open_file(path, "rb", compression=False) as f:
        data = np.load(io.BytesIO(f.read()), allow_pickle=False)
        return {k: data[k] for k in data.files}


class _ExactSet:
    """Exact 128-bit membership (memory grows with distinct items), same interface as the Bloom filter."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    def check_and_add(self, h1: np.ndarray, h2: np.ndarray, read_only: bool = False) -> np.ndarray:
        keys = np.stack([h1, h2], axis=1).tobytes()
        out = np.zeros(len(h1), dtype=bool)
        for i in range(len(h1)):
            k = keys[16 * i : 16 * i + 16]
            if k in self.seen:
                out[i] = True
            elif not read_only:
                self.seen.add(k)
        return out


def _ngram_h2(h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (h * np.uint64(0x9E3779B97F4A7C15)) ^ (h >> np.uint64(29))


@dataclasses.dataclass
class _Phase2:
    config: DedupConfig
    paragraph_set: Any
    doc_keys: set[bytes] = dataclasses.field(default_factory=set)
    bands_seen: set[int] = dataclasses.field(default_factory=set)
    new_items: int = 0  # items not seen before, i.e. added to the paragraph set / Bloom filter

    def shard(self, data: dict[str, np.ndarray], out_path: str, stats: StepStats) -> None:
        cfg = self.config
        meta = json.loads(data["meta"].tobytes())
        ids, sources = meta["ids"], meta["sources"]
        n_docs = len(ids)
        text_len = data["text_len"]
        read_only = cfg.bloom.read_only
        per_doc: list[dict[str, list[list[Any]]]] = [{} for _ in range(n_docs)]
        if cfg.paragraphs is not None:
            name = cfg.paragraphs.attribute_name
            for d in per_doc:
                d[name] = []
            spans = data["para_span"]
            if cfg.paragraphs.method == "ngram":
                grams = data["gram_hash"]
                seen = self.paragraph_set.check_and_add(grams, _ngram_h2(grams), read_only)
                self.new_items += int(len(seen) - seen.sum())
                n_par = len(spans)
                total = np.bincount(data["gram_para"], minlength=n_par)
                hits = np.bincount(data["gram_para"], weights=seen, minlength=n_par)
                frac = hits / np.maximum(total, 1)
                dup = np.flatnonzero(frac >= cfg.paragraphs.overlap_threshold)
                scores = frac
            else:
                seen = self.paragraph_set.check_and_add(data["para_h1"], data["para_h2"], read_only)
                self.new_items += int(len(seen) - seen.sum())
                dup = np.flatnonzero(seen)
                scores = None
            docs = data["para_doc"]
            for j in dup.tolist():
                score = 1 if scores is None else round(float(scores[j]), 5)
                per_doc[docs[j]][name].append([int(spans[j, 0]), int(spans[j, 1]), score])
                stats.source(sources[docs[j]]).modified["duplicate_paragraphs"] += 1
        if cfg.exact_documents is not None:
            name = cfg.exact_documents.attribute_name
            keys = np.stack([data["key_h1"], data["key_h2"]], axis=1).tobytes()
            for i in range(n_docs):
                if not data["has_key"][i]:
                    stats.source(sources[i]).modified["missing_dedup_key"] += 1
                    continue
                k = keys[16 * i : 16 * i + 16]
                if k in self.doc_keys:
                    per_doc[i][name] = [[0, int(text_len[i]), 1.0]]
                    stats.source(sources[i]).modified["duplicate_documents"] += 1
                else:
                    self.doc_keys.add(k)
        if cfg.minhash is not None:
            name = cfg.minhash.attribute_name
            for i, row in enumerate(data["bands"].tolist()):
                if any(b in self.bands_seen for b in row):
                    per_doc[i][name] = [[0, int(text_len[i]), 1.0]]
                    stats.source(sources[i]).modified["near_duplicate_documents"] += 1
                self.bands_seen.update(row)
        with atomic_write(out_path, "wt") as f:
            for doc_id, attrs in zip(ids, per_doc):
                f.write(json.dumps({"id": doc_id, "attributes": attrs}, ensure_ascii=False))
                f.write("\n")


def _settings(config: DedupConfig) -> dict[str, Any]:
    return {
        "hash": HASH_VERSION,
        "paragraphs": dataclasses.asdict(config.paragraphs) if config.paragraphs else None,
        "exact_documents": dataclasses.asdict(config.exact_documents) if config.exact_documents else None,
        "minhash": dataclasses.asdict(config.minhash) if config.minhash else None,
    }


def run_dedup(config: DedupConfig, execution: ExecutionConfig) -> dict[str, Any]:
    files = expand_document_paths(config.documents)
    out_dir = attribute_dir(files[0], config.name)
    state = join(out_dir, ".lmforge-state", "dedup")
    settings = {**_settings(config), "on_error": execution.on_error}
    outputs = [attribute_path(path, config.name) for path in files]
    step_marker = join(state, "step.json")
    step_print = fingerprint({**settings, "bloom": dataclasses.asdict(config.bloom)}, files)
    saves_bloom = (
        config.paragraphs is not None
        and config.paragraphs.method != "exact"
        and bool(config.bloom.file)
        and not config.bloom.read_only
    )
    if not execution.force and exists(step_marker) and all(exists(p) for p in outputs):
        marker = read_json(step_marker)
        if marker.get("fingerprint") == step_print and (
            marker.get("bloom_saved", True) or _bloom_saved_by(config.bloom.file, step_print)
        ):
            if not marker.get("bloom_saved", True):  # killed after saving the filter: finish the bookkeeping
                write_json(step_marker, {**marker, "bloom_saved": True})
                _remove_hashes(files, state)
            return {**marker["summary"], "skipped_shards": len(files)}

    # phase 1: hash shards in parallel (resumable)
    params = {**settings, "on_error": execution.on_error}
    tasks = [
        ShardTask(
            key=path,
            inputs=(path,),
            outputs=(_hashes_path(state, path),),
            params=params,
        )
        for path in files
    ]
    results, skipped = run_shards(
        _hash_shard, tasks, state_dir=join(state, "phase1"), settings=settings, execution=Execution.from_config(execution),
        desc="dedup: hash",
    )  # fmt: skip
    stats = merged_stats(results)

    # phase 2: one pass in global order
    bloom: BloomFilter | None = None
    paragraph_set: Any = None
    input_ids = [f"{p}:{file_size(p)}" for p in files]
    settings_id = hashlib.sha256(json.dumps(_settings(config), sort_keys=True).encode()).hexdigest()
    if config.paragraphs is not None:
        if config.paragraphs.method == "exact":
            paragraph_set = _ExactSet()
        else:
            if config.bloom.file and exists(config.bloom.file):
                bloom = BloomFilter.load(config.bloom.file)
                bloom.check_fresh(settings_id, input_ids, config.bloom.allow_stale, config.bloom.file)
            else:
                bloom = BloomFilter.for_capacity(
                    config.bloom.expected_count, config.bloom.false_positive_rate, settings=settings_id
                )
            paragraph_set = bloom
    phase2 = _Phase2(config, paragraph_set)
    remove_stale_temporaries(outputs)
    bar = tqdm(
        total=len(files), desc="dedup: mark", unit="shard", disable=not execution.progress, leave=False
    )
    for task, out_path in zip(tasks, outputs):
        phase2.shard(_load_hashes(task.outputs[0]), out_path, stats)
        bar.update(1)
    bar.close()
    summary = stats.to_dict("dedup", name=config.name, files=len(files))
    if bloom is not None:
        summary["bloom"] = _bloom_report(bloom, phase2.new_items, config)
        if "warning" in summary["bloom"]:
            summary["warnings"] = [summary["bloom"]["warning"]]
            print(f"lmforge curate dedup: warning: {summary['bloom']['warning']}", file=sys.stderr)
    write_json(join(out_dir, "stats.json"), summary)
    # The marker is written before the filter is saved and says whether it was: a run killed between the
    # two either redoes phase 2 with the old filter (not saved) or recognises its own save (``last_run``),
    # never meets a filter that already holds its inputs and refuses it as stale.
    marker = {"fingerprint": step_print, "summary": summary, "bloom_saved": not saves_bloom}
    write_json(step_marker, marker)
    if saves_bloom:
        assert bloom is not None and config.bloom.file
        bloom.meta["inputs"] = sorted(set(bloom.meta.get("inputs", [])) | set(input_ids))
        bloom.meta["last_run"] = step_print
        bloom.save(config.bloom.file)
        write_json(step_marker, {**marker, "bloom_saved": True})
    _remove_hashes(files, state)  # the hashes are only needed to resume an unfinished phase 2
    return {**summary, "skipped_shards": skipped}


def _bloom_report(bloom: BloomFilter, new_items: int, config: DedupConfig) -> dict[str, Any]:
    """Size, fill and the false-positive rate the filter now has; a warning when it has outgrown its sizing
    (more distinct items than ``expected_count``), since every false positive drops a unique paragraph."""
    items = int(bloom.meta.get("items", 0)) + (0 if config.bloom.read_only else new_items)
    bloom.meta["items"] = items  # saved with the filter: incremental runs keep counting
    expected = int(bloom.meta.get("expected_count", config.bloom.expected_count))
    target = float(bloom.meta.get("false_positive_rate", config.bloom.false_positive_rate))
    estimate = bloom.expected_false_positive_rate(items)
    report: dict[str, Any] = {
        "m_bits": bloom.m,
        "k": bloom.k,
        "file": config.bloom.file,
        "items": items,
        "expected_count": expected,
        "target_false_positive_rate": target,
        "estimated_false_positive_rate": estimate,
    }
    if estimate > target:
        report["warning"] = (
            f"the Bloom filter holds {items} distinct items, more than it was sized for ({expected}): its "
            f"false-positive rate is now about {estimate:.2g} (target {target:g}), so some unique paragraphs "
            "are flagged as duplicates; rerun with a larger --expected-count (dedup.bloom.expected_count)"
        )
    return report


def _hashes_path(state: str, path: str) -> str:
    return join(state, "hashes", hashlib.sha1(path.encode()).hexdigest()[:20] + ".npz")


def _remove_hashes(files: list[str], state: str) -> None:
    for path in files:
        hashes = _hashes_path(state, path)
        if exists(hashes):
            remove_file(hashes)


def _bloom_saved_by(path: str | None, step_print: str) -> bool:
    """Whether the filter at ``path`` was last saved by the run with this fingerprint."""
    return bool(path) and exists(path) and BloomFilter.read_meta(path).get("last_run") == step_print
