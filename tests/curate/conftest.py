from pathlib import Path

import pytest
from curate_testlib import doc, write_docs, write_fasttext_model


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A two-source Dolma corpus with duplicates across files and sources."""
    root = tmp_path / "data"
    shared = "This paragraph appears in several documents across the corpus."
    write_docs(
        root / "documents/web/part-0.jsonl.gz",
        [
            doc(0, f"Intro one is unique here.\n{shared}\nMail me at a.person@example.com now."),
            doc(1, f"{shared}\nSecond doc has its own line."),
            doc(2, "Short."),
        ],
    )
    write_docs(
        root / "documents/web/part-1.jsonl.gz",
        [doc(3, f"Another start.\n{shared}\n"), doc(4, "Second doc has its own line.\nAnd more text.")],
    )
    write_docs(
        root / "documents/books/part-0.jsonl.gz",
        [doc(5, f"Chapter one.\n{shared}", source="books"), doc(6, "Ünïcødé line ☃.\nEnd.", source="books")],
    )
    return root


@pytest.fixture
def fasttext_model():
    return write_fasttext_model
