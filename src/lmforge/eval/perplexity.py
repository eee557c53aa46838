"""Paloma-style perplexity: every document on its own, per domain, per source and overall.

Per document we keep the summed log-likelihood (nats) of its tokens, its token count, its UTF-8 byte count
and its word count (lm-eval's: pieces of ``re.split(r"\\s+", text)``). A group's metrics come from the sums
of its documents (a token-weighted *micro* average):
- ``token_perplexity`` = exp(nll / tokens), ``loss`` = nll / tokens (mean token loss, nats)
- ``bits_per_byte`` = nll / bytes / ln 2 (comparable across tokenizers), ``byte_perplexity`` = exp(nll/bytes)
- ``word_perplexity`` = exp(nll / words)
A *source* is the macro average of its domains' metrics (Paloma weighs domains equally), and ``overall``
reports both the macro average over all domains and the micro average over all documents.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from torch import nn

from lmforge.eval.scoring import Scorer
from lmforge.eval.tokenizer import EvalTokenizer
from lmforge.eval.windows import rolling_windows

METRICS = ("token_perplexity", "loss", "bits_per_byte", "byte_perplexity", "word_perplexity")


@dataclasses.dataclass
class EvalDocument:
    id: str
    text: str
    source: str
    domain: str
    path: str = ""
    line: int = 0


@dataclasses.dataclass
class DocumentScore:
    id: str
    source: str
    domain: str
    logprob: float
    tokens: int
    bytes: int
    words: int
    windows: int


def count_words(text: str) -> int:
    return len(re.split(r"\s+", text))


def _field(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


DOCUMENT_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".jsonl.zstd")


def read_eval_documents(
    patterns: str | Sequence[str], domain_field: str = "source", counts: dict[str, int] | None = None
) -> list[EvalDocument]:
    """Dolma documents from files matching ``patterns``; empty texts are skipped (nothing to score).

    ``source`` is the document's ``source`` field (else its folder's name); ``domain`` is ``domain_field``
    (a dotted path such as ``metadata.lang``; by default the source itself). ``counts`` (if given) receives
    ``read`` and ``empty`` so that read = scored + empty.
    """
    from lmforge.documents import read_documents
    from lmforge.io import expand_paths

    counts = counts if counts is not None else {}
    counts.update(read=0, empty=0)
    docs: list[EvalDocument] = []
    paths = expand_paths(list(patterns) if not isinstance(patterns, str) else patterns)
    for path in [p for p in paths if p.endswith(DOCUMENT_SUFFIXES)]:
        folder = os.path.basename(os.path.dirname(path)) or "unknown"
        for line, doc in read_documents(path):
            counts["read"] += 1
            if not doc["text"]:
                counts["empty"] += 1
                continue
            source = str(doc.get("source") or folder)
            domain = source if domain_field == "source" else str(_field(doc, domain_field) or "unknown")
            docs.append(
                EvalDocument(str(doc.get("id", f"{path}:{line}")), doc["text"], source, domain, path, line)
            )
    return docs


class DocumentWindows:
    """Documents tokenized and cut into windows once, scoreable many times (in-loop evaluation)."""

    def __init__(
        self,
        docs: Sequence[EvalDocument],
        tokenizer: EvalTokenizer,
        max_seq_len: int,
        stride: int | None = None,
    ) -> None:
        self.docs = list(docs)
        self.max_seq_len = max_seq_len
        self.requests: list[tuple[list[int], list[int]]] = []
        self.owner: list[int] = []
        self.token_counts: list[int] = []
        encoded = tokenizer.encode_batch([d.text for d in self.docs]) if self.docs else []
        for i, tokens in enumerate(encoded):
            windows = rolling_windows(tokens, tokenizer.prefix_id, max_seq_len, stride)
            self.requests += windows
            self.owner += [i] * len(windows)
            self.token_counts.append(len(tokens))

    def score(self, model: nn.Module, batch_size: int = 8, progress: bool = True) -> list[DocumentScore]:
        scorer = Scorer(
            model,
            self.max_seq_len,
            batch_size=batch_size,
            share_context=False,
            progress=progress,
            need_greedy=False,
        )
        results = scorer.score(self.requests, desc="perplexity windows")
        logprob = [0.0] * len(self.docs)
        windows = [0] * len(self.docs)
        for owner, result in zip(self.owner, results):
            logprob[owner] += result.logprob
            windows[owner] += 1
        return [
            DocumentScore(
                d.id,
                d.source,
                d.domain,
                logprob[i],
                self.token_counts[i],
                len(d.text.encode("utf-8")),
                count_words(d.text),
                windows[i],
            )
            for i, d in enumerate(self.docs)
        ]


def metrics_from_sums(nll: float, tokens: int, n_bytes: int, words: int) -> dict[str, float]:
    def exp(x: float) -> float:
        return math.exp(x) if x < 700 else math.inf

    return {
        "token_perplexity": exp(nll / max(tokens, 1)),
        "loss": nll / max(tokens, 1),
        "bits_per_byte": nll / max(n_bytes, 1) / math.log(2),
        "byte_perplexity": exp(nll / max(n_bytes, 1)),
        "word_perplexity": exp(nll / max(words, 1)),
    }


def _group(scores: Iterable[DocumentScore]) -> dict[str, Any]:
    scores = list(scores)
    nll = -sum(s.logprob for s in scores)
    sums = {
        "documents": len(scores),
        "tokens": sum(s.tokens for s in scores),
        "bytes": sum(s.bytes for s in scores),
        "words": sum(s.words for s in scores),
    }
    return {**metrics_from_sums(nll, sums["tokens"], sums["bytes"], sums["words"]), **sums}


def _macro(groups: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {m: sum(g[m] for g in groups) / len(groups) for m in METRICS}
    out["domains"] = len(groups)
    return out


def domain_key(score: DocumentScore | EvalDocument) -> str:
    return score.source if score.domain == score.source else f"{score.source}/{score.domain}"


def aggregate(scores: Sequence[DocumentScore]) -> dict[str, Any]:
    """``{"overall": {"micro", "macro"}, "sources": {src: macro + domain list}, "domains": {key: metrics}}``."""
    by_domain: dict[str, list[DocumentScore]] = {}
    for s in scores:
        by_domain.setdefault(domain_key(s), []).append(s)
    domains = {key: _group(group) for key, group in sorted(by_domain.items())}
    by_source: dict[str, list[str]] = {}
    for key, group in sorted(by_domain.items()):
        by_source.setdefault(group[0].source, []).append(key)
    sources = {
        src: {**_macro([domains[k] for k in keys]), "domain_keys": keys} for src, keys in by_source.items()
    }
    overall = {"micro": _group(scores), "macro": _macro(list(domains.values())) if domains else {}}
    return {"overall": overall, "sources": sources, "domains": domains}
