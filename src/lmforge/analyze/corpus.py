"""``analyze_corpus``: one parallel pass over a corpus (plus a cheap exact n-gram recount), merged into a report.

Shards (files) are processed by :func:`lmforge.executor.map_shards` in groups; each group's partial
results are merged into the running totals before the next group starts, so the parent holds at most one
group of shard results at a time. Merging is by addition in shard order, so the report does not depend on
the executor or the number of processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from lmforge import __version__
from lmforge.analyze.contamination import build_eval_index, load_eval_sets, summarize_contamination
from lmforge.analyze.duplicates import Spill, summarize_duplicates
from lmforge.analyze.hashing import text_hash
from lmforge.analyze.ngrams import final_candidates, merge_candidates
from lmforge.analyze.options import AnalyzeOptions
from lmforge.analyze.scan import RecountResult, ShardResult, ShardTask, recount_shard, scan_shard
from lmforge.analyze.stats import SourceStats
from lmforge.documents import expand_document_paths, read_documents
from lmforge.executor import map_shards
from lmforge.io import atomic_write, is_remote, join

MAX_REJECTIONS_REPORTED = 1000


class _Totals:
    """The running merge of shard results."""

    def __init__(self, options: AnalyzeOptions) -> None:
        self.options = options
        self.read = {"files": 0, "lines": 0, "documents": 0, "rejected": 0, "bytes": 0}
        self.rejections: list[dict[str, Any]] = []
        self.sources: dict[str, SourceStats] = {}
        self.pools: dict[int, dict[int, int]] = {n: {} for n in options.ngram_sizes}
        self.document_spills: list[Spill] = []
        self.paragraph_spills: list[Spill] = []
        self.matches: dict[int, list[Any]] = {}
        self.doc_counts: dict[int, int] = {}
        self.contaminated_documents = 0
        self.contaminated_by_source: dict[str, int] = {}
        self.cpu_seconds = 0.0

    def add(self, result: ShardResult) -> None:
        self.read["files"] += 1
        for key, value in result.read.items():
            self.read[key] += value
        room = MAX_REJECTIONS_REPORTED - len(self.rejections)
        self.rejections += result.rejections[: max(room, 0)]
        for name, stats in result.sources.items():
            self.sources.setdefault(name, SourceStats()).merge(stats)
        for n, (hashes, estimates) in result.candidates.items():
            self.pools[n] = merge_candidates(self.pools[n], hashes, estimates, self.options.ngram_pool)
        if result.document_spill is not None:
            self.document_spills.append(result.document_spill)
        if result.paragraph_spill is not None:
            self.paragraph_spills.append(result.paragraph_spill)
        contamination = result.contamination
        for gram, refs in contamination["matches"].items():
            listed = self.matches.setdefault(gram, [])
            listed += refs[: max(self.options.contamination_max_docs - len(listed), 0)]
        for gram, count in contamination["doc_counts"].items():
            self.doc_counts[gram] = self.doc_counts.get(gram, 0) + count
        self.contaminated_documents += contamination["documents"]
        for source, count in contamination["documents_by_source"].items():
            self.contaminated_by_source[source] = self.contaminated_by_source.get(source, 0) + count
        self.cpu_seconds += result.cpu_seconds


def _groups(items: list[ShardTask], size: int) -> list[list[ShardTask]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _run(fn: Any, tasks: list[ShardTask], options: AnalyzeOptions, desc: str) -> Any:
    # groups of shards bound the parent's memory; each group still keeps every process busy
    group_size = max(64, 16 * options.processes)
    for group in _groups(tasks, group_size):
        yield from map_shards(
            fn,
            group,
            processes=options.processes,
            executor=options.executor,
            ray_address=options.ray_address,
            desc=desc,
            progress=options.progress,
        )


def _save_array(path: str, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    if len(arrays) == 1 and "array" in arrays:
        np.save(buffer, arrays["array"], allow_pickle=False)
    else:
        np.savez(buffer, **arrays)
    with atomic_write(path, "wb", compression=False) as f:
        f.write(buffer.getbuffer())


def _top_ngrams(
    files: list[str], totals: _Totals, tasks: list[ShardTask], work_dir: str, options: AnalyzeOptions
) -> dict[str, Any]:
    candidates = {n: final_candidates(totals.pools[n], options.ngram_pool) for n in options.ngram_sizes}
    path = join(work_dir, "ngram-candidates.npz")
    _save_array(path, **{f"n{n}": c for n, c in candidates.items()})
    counts = {n: np.zeros(len(c), dtype=np.int64) for n, c in candidates.items()}
    texts: dict[int, dict[int, str]] = {n: {} for n in candidates}
    recount_tasks = [dataclasses.replace(t, candidates_path=path, eval_hashes_path=None) for t in tasks]
    result: RecountResult
    for result in _run(recount_shard, recount_tasks, options, "analyze: n-gram recount"):
        totals.cpu_seconds += result.cpu_seconds
        for n in candidates:
            counts[n] += result.counts[n]
            for h, text in result.texts[n].items():
                texts[n].setdefault(h, text)
    out: dict[str, Any] = {}
    for n in options.ngram_sizes:
        total = sum(s.ngram_totals[n] for s in totals.sources.values())
        rows = [
            (int(c), texts[n].get(int(h), ""))
            for h, c in zip(candidates[n].tolist(), counts[n].tolist())
            if c > 0
        ]
        rows.sort(key=lambda row: (-row[0], row[1]))
        out[str(n)] = {
            "total": total,
            "candidates": len(candidates[n]),
            "top": [
                {"ngram": t, "count": c, "share": c / total if total else 0.0}
                for c, t in rows[: options.top_k]
            ],
        }
    return out


def _attach_snippets(
    files: list[str], duplicates: dict[str, Any], options: AnalyzeOptions, width: int = 200
) -> None:
    """Give each most-duplicated document / paragraph its file, line, id and text (one partial read per file)."""
    wanted: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind in ("documents", "paragraphs"):
        for group in duplicates.get(kind, {}).get("top", []):
            group["path"] = files[group["first"]["shard"]]
            group["line"] = group["first"]["line"]
            wanted.setdefault(group["path"], []).append((kind, group))
    for path, groups in wanted.items():
        by_line: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for kind, group in groups:
            by_line.setdefault(group["line"], []).append((kind, group))
        last = max(by_line)
        for line_no, doc in read_documents(path, "skip"):
            for kind, group in by_line.get(line_no, []):
                group["id"] = str(doc.get("id", ""))
                text = doc["text"]
                if kind == "paragraphs":
                    target = int(group["hash"], 16)
                    text = next(
                        (
                            p
                            for p in text.split("\n")
                            if text_hash(p.encode("utf-8", "surrogatepass")) == target
                        ),
                        "",
                    )
                text = " ".join(text.split())
                group["text"] = text if len(text) <= width else text[: width - 1] + "…"
            if line_no >= last:
                break


def analyze_corpus(
    paths: str | Sequence[str],
    output: str | None = None,
    options: AnalyzeOptions | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Analyse Dolma documents and return the report as a dict; with ``output``, also write
    ``report.json``, ``report.md``, ``report.html`` and ``plots/`` there.

    ``overrides`` set :class:`AnalyzeOptions` fields (``analyze_corpus(paths, out, processes=4)``).
    """
    options = dataclasses.replace(options or AnalyzeOptions(), **overrides)
    options.validate()
    patterns = [paths] if isinstance(paths, str) else list(paths)
    files = expand_document_paths(patterns)
    started = time.time()
    temporary = output is None or (is_remote(output) and options.executor == "local")
    work_dir = tempfile.mkdtemp(prefix="lmforge-analyze-") if temporary else join(output, "_work")
    try:
        eval_sets, index, eval_path = [], None, None
        if options.eval_data:
            eval_sets = load_eval_sets(options.eval_data, options.eval_fields)
            index = build_eval_index(eval_sets, options.contamination_n, options.contamination_short_n)
            eval_path = join(work_dir, "eval-ngrams.npy")
            _save_array(eval_path, array=index.unique_hashes)
        tasks = [
            ShardTask(
                path=path,
                shard=i,
                options=options,
                work_dir=work_dir,
                eval_hashes_path=eval_path,
                eval_sizes=index.sizes if index is not None else (),
            )
            for i, path in enumerate(files)
        ]
        totals = _Totals(options)
        for result in _run(scan_shard, tasks, options, "analyze"):
            totals.add(result)
        source_names = sorted(totals.sources)
        overall = SourceStats()
        for name in source_names:
            overall.merge(totals.sources[name])

        report: dict[str, Any] = {
            "lmforge_version": __version__,
            "inputs": {"patterns": patterns, "files": len(files)},
            "options": dataclasses.asdict(options),
            "read": {**totals.read, "rejections": totals.rejections},
            "totals": overall.to_dict(),
            "sources": {name: totals.sources[name].to_dict() for name in source_names},
        }
        if options.duplicates:
            report["duplicates"] = {
                "documents": summarize_duplicates(
                    totals.document_spills, source_names, options.dedup_partitions, options.top_duplicates
                ),
                "paragraphs": summarize_duplicates(
                    totals.paragraph_spills, source_names, options.dedup_partitions, options.top_duplicates
                ),
            }
            _attach_snippets(files, report["duplicates"], options)
        if options.top_k and options.ngram_sizes:
            report["ngrams"] = _top_ngrams(files, totals, tasks, work_dir, options)
        if index is not None:
            report["contamination"] = {
                "n": options.contamination_n,
                "short_n": options.contamination_short_n,
                "min_share": options.contamination_min_share,
                "corpus_documents_with_overlap": totals.contaminated_documents,
                "corpus_documents_with_overlap_by_source": dict(
                    sorted(totals.contaminated_by_source.items())
                ),
                "sets": summarize_contamination(
                    eval_sets,
                    index,
                    totals.matches,
                    totals.doc_counts,
                    min_share=options.contamination_min_share,
                    max_docs=options.contamination_max_docs,
                    max_examples=options.contamination_max_examples,
                ),
            }
        wall = time.time() - started
        megabytes = overall.bytes / 1e6
        report["timing"] = {
            "wall_seconds": wall,
            "cpu_seconds_workers": totals.cpu_seconds,
            "text_megabytes": megabytes,
            "megabytes_per_cpu_second": megabytes / totals.cpu_seconds if totals.cpu_seconds else None,
            "processes": options.processes,
            "executor": options.executor,
        }
    finally:
        _remove_tree(work_dir)
    if output is not None:
        from lmforge.analyze.report import write_report

        write_report(report, output, plots=options.plots)
    return report


def _remove_tree(path: str) -> None:
    if is_remote(path):
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(path)
        with contextlib.suppress(FileNotFoundError):
            fs.rm(fs_path, recursive=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
