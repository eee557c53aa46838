"""Corpus analysis (what WIMBD answers, offline): statistics, n-grams, duplicates, PII, contamination, search.

``analyze_corpus(paths, output)`` makes one streaming, parallel pass over Dolma documents and returns (and
writes) a report; ``search_corpus(pattern, paths)`` counts and lists matching documents. See
docs/analysis.md.
"""

from lmforge.analyze.corpus import analyze_corpus
from lmforge.analyze.options import AnalyzeOptions
from lmforge.analyze.search import SearchHit, SearchResult, search_corpus

__all__ = ["AnalyzeOptions", "SearchHit", "SearchResult", "analyze_corpus", "search_corpus"]
