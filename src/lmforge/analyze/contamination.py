"""Contamination: which evaluation examples have word n-grams that occur in the corpus, and where.

Evaluation sets are files of JSON objects: either task data in the Hugging Face field layout
(``<task>.<split>.jsonl.gz``, e.g. ``arc_easy.validation.jsonl.gz`` with ``question`` and
``choices.text``) or Dolma documents (a ``text`` field). Each text field of an example is a *segment*;
segments are normalised like the corpus (lower-cased ``\\w+`` words) and cut into ``n``-grams (13 by
default, the GPT-3 convention), or ``short_n``-grams (8) when a segment is shorter than ``n`` words;
segments shorter than ``short_n`` words (answer labels, single-word choices) are too common to say
anything and are skipped. N-grams never straddle two segments, so question + answer concatenations do
not create n-grams that no document could contain.

An example is *contaminated* when at least one of its n-grams occurs in the corpus (and at least
``min_share`` of them, if set). The corpus side is a sorted-array membership test per batch of documents
in the analysis pass; the parent then maps matched n-grams back to examples and lists the documents.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lmforge.analyze.hashing import ngram_hashes, normalized_word_bytes, normalized_words, word_hashes
from lmforge.io import expand_paths, iter_lines, parse_json_line

# Text fields per task, in the Hugging Face layouts of the standard sets (dotted paths reach into dicts;
# list values contribute one segment per string). Unknown tasks fall back to every string field.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "arc_easy": ("question", "choices.text"),
    "arc_challenge": ("question", "choices.text"),
    "boolq": ("passage", "question"),
    "hellaswag": ("ctx", "endings"),
    "piqa": ("goal", "sol1", "sol2"),
    "winogrande": ("sentence", "option1", "option2"),
    "openbookqa": ("question_stem", "choices.text"),
    "sciq": ("support", "question", "correct_answer", "distractor1", "distractor2", "distractor3"),
    "social_iqa": ("context", "question", "answerA", "answerB", "answerC"),
    "copa": ("premise", "choice1", "choice2"),
    "commonsense_qa": ("question", "choices.text"),
    "cb": ("premise", "hypothesis"),
    "rte": ("sentence1", "sentence2"),
    "mrpc": ("sentence1", "sentence2"),
    "sst2": ("sentence",),
    "nq_open": ("question", "answer"),
    "mmlu": ("question", "choices"),
}
# never text, even when auto-detecting fields
NON_TEXT_KEYS = frozenset(
    {"id", "idx", "ind", "label", "answerKey", "split", "split_type", "source_id", "subject", "metadata"}
)
_PART_FILE = re.compile(r"part-\d+$")
_SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".jsonl.zstd", ".json.gz", ".jsonl", ".json")


@dataclasses.dataclass
class EvalSet:
    name: str  # "arc_easy.validation", or the folder of Dolma part files
    task: str
    paths: list[str]
    segments: list[list[str]]  # per example
    ids: list[str]


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def set_name(path: str) -> str:
    """``arc_easy.validation`` for task files; ``web`` for Dolma parts ``.../web/part-0000.jsonl.gz``."""
    parts = path.replace(os.sep, "/").rstrip("/").split("/")
    stem = _strip_suffix(parts[-1])
    return parts[-2] if _PART_FILE.fullmatch(stem) and len(parts) > 1 else stem


def _values(obj: Any, dotted: str) -> list[str]:
    for key in dotted.split("."):
        if not isinstance(obj, Mapping) or key not in obj:
            return []
        obj = obj[key]
    return _strings(obj)


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, Sequence):
        return [s for item in obj for s in _strings(item)]
    return []


def example_segments(row: Mapping[str, Any], fields: Sequence[str] | None) -> list[str]:
    """The text segments of one example: the listed fields, else ``text`` (Dolma), else every string."""
    if fields:
        return [s for field in fields for s in _values(row, field)]
    if isinstance(row.get("text"), str):
        return [row["text"]]
    out: list[str] = []
    for key, value in row.items():
        if key in NON_TEXT_KEYS:
            continue
        if isinstance(value, Mapping):
            out += [s for k, v in value.items() if k not in NON_TEXT_KEYS for s in _strings(v)]
        else:
            out += _strings(value)
    return out


def load_eval_sets(
    location: str | Sequence[str], fields: Mapping[str, Sequence[str]] | None = None
) -> list[EvalSet]:
    """Read every evaluation file under a folder (or matching globs) into :class:`EvalSet` objects.

    ``fields`` maps a task (the file-name part before the first dot, or a set name) to its text fields,
    overriding :data:`TASK_FIELDS`. Bad lines raise :class:`~lmforge.io.InputError` naming file and line.
    """
    locations = [location] if isinstance(location, str) else list(location)
    sets: dict[str, EvalSet] = {}
    for loc in locations:
        for path in expand_paths(loc):
            if not path.endswith(_SUFFIXES):
                continue
            name = set_name(path)
            task = os.path.basename(name).split(".")[0]
            chosen = (fields or {}).get(name) or (fields or {}).get(task) or TASK_FIELDS.get(task)
            eval_set = sets.setdefault(name, EvalSet(name, task, [], [], []))
            eval_set.paths.append(path)
            for line_no, raw in iter_lines(path):
                if not raw.strip():
                    continue
                row = parse_json_line(path, line_no, raw)
                eval_set.segments.append(example_segments(row, chosen))
                ident = row.get("id", row.get("idx", row.get("ind")))
                eval_set.ids.append(
                    str(ident) if ident is not None else f"{os.path.basename(path)}:{line_no}"
                )
    if not sets:
        raise FileNotFoundError(f"no evaluation files (*.jsonl[.gz]) in {locations}")
    return [sets[name] for name in sorted(sets)]


@dataclasses.dataclass
class EvalIndex:
    """Every evaluation n-gram with the example it belongs to, sorted by hash."""

    n: int
    short_n: int
    gram_hashes: np.ndarray  # uint64, one row per (example, distinct n-gram)
    gram_sets: np.ndarray  # int32 index into the sets
    gram_examples: np.ndarray  # int64 example index within its set
    example_totals: list[np.ndarray]  # per set: distinct n-grams per example (0: too short)

    @property
    def unique_hashes(self) -> np.ndarray:
        return np.unique(self.gram_hashes)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n, self.short_n) if self.short_n != self.n else (self.n,)


def segment_ngrams(text: str, n: int, short_n: int) -> np.ndarray:
    """The n-gram hashes one text segment contributes (``n``-grams, ``short_n``-grams if short, or none)."""
    words = normalized_words(text)
    size = n if len(words) >= n else short_n if len(words) >= short_n else 0
    if not size:
        return np.empty(0, dtype=np.uint64)
    return ngram_hashes(word_hashes(words), size)[0]


def build_eval_index(sets: Sequence[EvalSet], n: int = 13, short_n: int = 8) -> EvalIndex:
    """Index every example's distinct n-grams (vectorised over all segments of all sets at once)."""
    words: list[bytes] = []
    segment_lengths: list[int] = []
    segment_sets: list[int] = []
    segment_examples: list[int] = []
    for s, eval_set in enumerate(sets):
        for e, segments in enumerate(eval_set.segments):
            for text in segments:
                segment_words = normalized_word_bytes(text)
                words += segment_words
                segment_lengths.append(len(segment_words))
                segment_sets.append(s)
                segment_examples.append(e)
    lengths = np.array(segment_lengths, dtype=np.int64)
    segment_of_word = np.repeat(np.arange(len(lengths)), lengths)
    hashes = word_hashes(words)
    parts = []
    # segments of >= n words give n-grams; segments of short_n..n-1 words give short_n-grams
    for size, low, high in [(n, n, None)] + ([(short_n, short_n, n)] if short_n < n else []):
        grams, starts = ngram_hashes(hashes, size, segment_of_word)
        segment = segment_of_word[starts]
        keep = lengths[segment] >= low
        if high is not None:
            keep &= lengths[segment] < high
        parts.append((grams[keep], segment[keep]))
    grams = np.concatenate([g for g, _ in parts]) if parts else np.empty(0, np.uint64)
    segment = np.concatenate([sg for _, sg in parts]) if parts else np.empty(0, np.int64)
    set_of = np.array(segment_sets, dtype=np.int32)[segment]
    example_of = np.array(segment_examples, dtype=np.int64)[segment]
    # one row per (set, example, distinct n-gram), sorted by hash
    order = np.lexsort((grams, example_of, set_of))
    grams, set_of, example_of = grams[order], set_of[order], example_of[order]
    distinct = np.ones(len(grams), dtype=bool)
    distinct[1:] = (
        (grams[1:] != grams[:-1]) | (example_of[1:] != example_of[:-1]) | (set_of[1:] != set_of[:-1])
    )
    grams, set_of, example_of = grams[distinct], set_of[distinct], example_of[distinct]
    totals = []
    for s, eval_set in enumerate(sets):
        totals.append(np.bincount(example_of[set_of == s], minlength=len(eval_set.segments)).astype(np.int64))
    by_hash = np.argsort(grams, kind="stable")
    return EvalIndex(
        n=n,
        short_n=short_n,
        gram_hashes=grams[by_hash],
        gram_sets=set_of[by_hash],
        gram_examples=example_of[by_hash],
        example_totals=totals,
    )


FILTER_BITS = 24
DocRef = tuple[str, str, str, int]  # (document id, source, file, line)


def presence_map(eval_hashes: np.ndarray) -> np.ndarray:
    """A 2^24-entry map of the hashes' top bits: one gather rejects almost every corpus n-gram, so the
    binary search only runs on the few that may be evaluation n-grams."""
    present = np.zeros(1 << FILTER_BITS, dtype=bool)
    present[eval_hashes >> np.uint64(64 - FILTER_BITS)] = True
    return present


class ContaminationScanner:
    """Worker side: which evaluation n-grams occur in a batch of documents, and in which documents."""

    def __init__(
        self, eval_hashes: np.ndarray, sizes: Sequence[int], max_docs: int, present: np.ndarray | None = None
    ) -> None:
        self.eval_hashes = eval_hashes
        self.present = presence_map(eval_hashes) if present is None else present
        self.sizes = tuple(sizes)
        self.max_docs = max_docs
        self.matches: dict[int, list[DocRef]] = {}  # eval n-gram -> first documents containing it
        self.doc_counts: dict[int, int] = {}  # eval n-gram -> number of documents containing it
        self.documents_hit = 0
        self.documents_hit_by_source: dict[str, int] = {}

    def update(
        self,
        grams: Mapping[int, tuple[np.ndarray, np.ndarray]],
        doc_of_word: np.ndarray,
        refs: Sequence[DocRef],
    ) -> None:
        if self.eval_hashes.size == 0:
            return
        pairs = []
        for n in self.sizes:
            batch, starts = grams[n]
            maybe = self.present[batch >> np.uint64(64 - FILTER_BITS)]
            batch, starts = batch[maybe], starts[maybe]
            if batch.size == 0:
                continue
            slot = np.searchsorted(self.eval_hashes, batch)
            slot[slot == len(self.eval_hashes)] = 0
            hit = self.eval_hashes[slot] == batch
            if hit.any():
                pairs.append(np.stack([batch[hit], doc_of_word[starts[hit]].astype(np.uint64)], axis=1))
        if not pairs:
            return
        unique_pairs = np.unique(np.concatenate(pairs), axis=0)
        for doc in np.unique(unique_pairs[:, 1]).tolist():
            self.documents_hit += 1
            source = refs[doc][1]
            self.documents_hit_by_source[source] = self.documents_hit_by_source.get(source, 0) + 1
        for gram, doc in unique_pairs.tolist():
            self.doc_counts[gram] = self.doc_counts.get(gram, 0) + 1
            listed = self.matches.setdefault(gram, [])
            if len(listed) < self.max_docs:
                listed.append(refs[doc])


def _snippet(segments: Sequence[str], width: int = 160) -> str:
    text = " / ".join(s.strip() for s in segments if s.strip())
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def summarize_contamination(
    sets: Sequence[EvalSet],
    index: EvalIndex,
    matches: Mapping[int, list[DocRef]],
    doc_counts: Mapping[int, int],
    *,
    min_share: float = 0.0,
    max_docs: int = 3,
    max_examples: int = 20,
) -> dict[str, Any]:
    """Per evaluation set: examples, checkable examples, contaminated examples and their documents."""
    matched_keys = np.array(sorted(matches), dtype=np.uint64)
    matched = (
        np.isin(index.gram_hashes, matched_keys)
        if matched_keys.size
        else np.zeros(len(index.gram_hashes), bool)
    )
    results: dict[str, Any] = {}
    for s, eval_set in enumerate(sets):
        in_set = index.gram_sets == s
        totals = index.example_totals[s]
        hits = np.bincount(index.gram_examples[in_set & matched], minlength=len(totals))
        shares = np.divide(hits, totals, out=np.zeros(len(totals)), where=totals > 0)
        contaminated = (hits > 0) & (shares >= min_share)
        listed = []
        matched_rows = np.flatnonzero(in_set & matched)
        matched_examples = index.gram_examples[matched_rows]
        for e in np.flatnonzero(contaminated)[:max_examples].tolist():
            grams = index.gram_hashes[matched_rows[matched_examples == e]].tolist()
            docs: list[DocRef] = []
            for gram in grams:
                for ref in matches.get(gram, []):
                    if ref not in docs and len(docs) < max_docs:
                        docs.append(ref)
            listed.append(
                {
                    "example": eval_set.ids[e],
                    "text": _snippet(eval_set.segments[e]),
                    "ngrams": int(totals[e]),
                    "matched": int(hits[e]),
                    "share": float(shares[e]),
                    "corpus_documents": max((doc_counts.get(g, 0) for g in grams), default=0),
                    "documents": [{"id": d[0], "source": d[1], "path": d[2], "line": d[3]} for d in docs],
                }
            )
        checkable = int((totals > 0).sum())
        results[eval_set.name] = {
            "task": eval_set.task,
            "files": eval_set.paths,
            "examples": len(totals),
            "checkable": checkable,
            "too_short": len(totals) - checkable,
            "contaminated": int(contaminated.sum()),
            "share": float(contaminated.sum() / len(totals)) if len(totals) else 0.0,
            "share_of_checkable": float(contaminated.sum() / checkable) if checkable else 0.0,
            "mean_matched_share": float(shares[contaminated].mean()) if contaminated.any() else 0.0,
            "examples_listed": listed,
        }
    return results
