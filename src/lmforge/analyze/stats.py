"""Per-source corpus statistics that shard workers fill and the parent merges (by addition, in shard order)."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from lmforge.analyze.histogram import LogHistogram

LENGTH_METRICS = ("bytes", "words", "tokens")
NO_HOST = "(none)"


def _histograms() -> dict[str, LogHistogram]:
    return {metric: LogHistogram() for metric in LENGTH_METRICS}


@dataclasses.dataclass
class SourceStats:
    """Everything counted for one source (or, merged, for the whole corpus)."""

    documents: int = 0
    empty_documents: int = 0  # text is empty or whitespace only
    bytes: int = 0  # UTF-8 bytes of ``text``
    words: int = 0  # whitespace-separated words (``str.split()``), as dolma's whitespace tokenizer
    tokens: int = 0  # with the analysis tokenizer, if any
    paragraphs: int = 0  # non-blank lines
    lengths: dict[str, LogHistogram] = dataclasses.field(default_factory=_histograms)
    languages: Counter = dataclasses.field(default_factory=Counter)  # code -> documents
    language_bytes: Counter = dataclasses.field(default_factory=Counter)  # code -> bytes
    with_url: int = 0
    invalid_urls: int = 0
    schemes: Counter = dataclasses.field(default_factory=Counter)
    domains: Counter = dataclasses.field(default_factory=Counter)
    tlds: Counter = dataclasses.field(default_factory=Counter)
    pii_matches: Counter = dataclasses.field(default_factory=Counter)  # kind -> matches
    pii_documents: Counter = dataclasses.field(default_factory=Counter)  # kind -> documents with >= 1
    ngram_totals: Counter = dataclasses.field(default_factory=Counter)  # n -> number of n-grams

    def merge(self, other: SourceStats) -> None:
        for field in ("documents", "empty_documents", "bytes", "words", "tokens", "paragraphs"):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        self.with_url += other.with_url
        self.invalid_urls += other.invalid_urls
        for metric, histogram in other.lengths.items():
            self.lengths[metric].merge(histogram)
        for field in (
            "languages",
            "language_bytes",
            "schemes",
            "domains",
            "tlds",
            "pii_matches",
            "pii_documents",
            "ngram_totals",
        ):
            getattr(self, field).update(getattr(other, field))

    def add_url(self, url: Any) -> None:
        parts = url_parts(url)
        if parts is None:
            self.invalid_urls += 1
            return
        scheme, host, tld = parts
        self.with_url += 1
        self.schemes[scheme] += 1
        self.domains[host] += 1
        self.tlds[tld] += 1

    def to_dict(self, top: int = 25) -> dict[str, Any]:
        def shares(counter: Counter, total: int) -> list[dict[str, Any]]:
            return [
                {"value": key, "count": count, "share": count / total if total else 0.0}
                for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:top]
            ]

        return {
            "documents": self.documents,
            "empty_documents": self.empty_documents,
            "bytes": self.bytes,
            "words": self.words,
            "tokens": self.tokens,
            "paragraphs": self.paragraphs,
            "lengths": {
                metric: {**h.summary(), "histogram": h.coarse()}
                for metric, h in self.lengths.items()
                if h.count
            },
            "languages": [
                {**item, "bytes": self.language_bytes[item["value"]]}
                for item in shares(self.languages, self.documents)
            ],
            "urls": {
                "documents_with_url": self.with_url,
                "invalid": self.invalid_urls,
                "distinct_domains": len(self.domains),
                "schemes": shares(self.schemes, self.with_url),
                "domains": shares(self.domains, self.with_url),
                "tlds": shares(self.tlds, self.with_url),
            },
            "pii": {
                kind: {"matches": self.pii_matches[kind], "documents": self.pii_documents[kind]}
                for kind in ("email", "phone", "ip")
            },
            "ngrams": {str(n): self.ngram_totals[n] for n in sorted(self.ngram_totals)},
        }


def default_source(path: str) -> str:
    """The source of documents without a ``source`` field: their folder (``documents/<source>/x.jsonl.gz``)."""
    return os.path.basename(os.path.dirname(path.rstrip("/"))) or "unknown"


def url_parts(url: Any) -> tuple[str, str, str] | None:
    """``(scheme, host, top-level domain)`` of a URL, ``www.`` dropped; None if it is not a URL string.

    The TLD is the last label of the host (no public-suffix list: ``bbc.co.uk`` has TLD ``uk``).
    """
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        if not parts.scheme and not parts.netloc and "." in url.split("/", 1)[0]:
            parts = urlsplit("//" + url)  # "example.com/page": a host without a scheme
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    scheme = parts.scheme.lower() or NO_HOST
    host = host.removeprefix("www.") if host else NO_HOST
    if host == NO_HOST:
        tld = NO_HOST
    elif host.replace(".", "").isdigit() or ":" in host:
        tld = "(ip address)"
    else:
        tld = host.rsplit(".", 1)[-1] if "." in host else NO_HOST
    return scheme, host, tld
