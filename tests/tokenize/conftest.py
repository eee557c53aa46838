"""A tiny corpus and a tiny BPE tokenizer trained on it (seconds), shared by the tokenization tests."""

from __future__ import annotations

import random

import pytest

from lmforge.documents import write_documents
from lmforge.tokenize.train import train_tokenizer

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "his",
    "her",
    "data",
    "model",
    "token",
    "train",
    "open",
    "science",
    "language",
    "corpus",
    "über",
    "naïve",
    "café",
    "東京",
    "数据",
    "résumé",
    "1234",
    "42",
    "3.14",
    "def",
    "return",
    "class",
    "x_y",
    "|||EMAIL_ADDRESS|||",
    "|||PHONE_NUMBER|||",
    "|||IP_ADDRESS|||",
    "\n",
    "\n\n",
    "\t",
]


def make_documents(source: str, n: int, seed: int, min_words: int = 5, max_words: int = 120) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(min_words, max_words))]
        docs.append(
            {"id": f"{source}-{i}", "text": " ".join(words), "source": source, "added": "", "metadata": {}}
        )
    return docs


def write_corpus(root, sources: dict[str, tuple[int, int]]) -> list[str]:
    """sources: name -> (files, documents per file); writes documents/<name>/<k>.jsonl.gz."""
    paths = []
    for s_index, (name, (files, per_file)) in enumerate(sorted(sources.items())):
        for k in range(files):
            path = root / "documents" / name / f"{k:04d}.jsonl.gz"
            write_documents(str(path), make_documents(name, per_file, seed=1000 * s_index + k))
            paths.append(str(path))
    return paths


@pytest.fixture(scope="session")
def tokenizer_path(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("tokenizer")
    write_corpus(root, {"train": (2, 150)})
    out = str(root / "tokenizer.json")
    train_tokenizer(str(root / "documents" / "**" / "*.jsonl.gz"), 400, out)
    return out


@pytest.fixture
def corpus(tmp_path) -> list[str]:
    return write_corpus(tmp_path, {"web": (3, 40), "books": (1, 25), "code": (2, 30)})
