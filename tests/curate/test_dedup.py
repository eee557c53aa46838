import json

import pytest
from curate_testlib import doc, read_jsonl, write_docs

from lmforge.curate.bloom import StaleFilterError
from lmforge.curate.config import (
    BloomConfig,
    DedupConfig,
    DocumentDedupConfig,
    ExecutionConfig,
    MinHashConfig,
    ParagraphDedupConfig,
)
from lmforge.curate.dedup import run_dedup
from lmforge.curate.fingerprints import dedup_paragraphs


def _run(root, processes=1, **kw):
    config = DedupConfig(documents=[str(root / "documents/**/*.jsonl.gz")], **kw)
    return run_dedup(config, ExecutionConfig(processes=processes, progress=False))


def _spans(root, rel, name="dedupe", key="bff_duplicate_paragraph_spans"):
    return [row["attributes"].get(key) for row in read_jsonl(root / "attributes" / name / rel)]


def test_paragraph_dedup_keeps_the_first_copy_in_global_order(corpus):
    summary = _run(corpus)
    # global order: books/part-0, web/part-0, web/part-1 (sorted paths), lines in order
    books = _spans(corpus, "books/part-0.jsonl.gz")
    web0 = _spans(corpus, "web/part-0.jsonl.gz")
    web1 = _spans(corpus, "web/part-1.jsonl.gz")
    assert books == [[], []]  # first copy of the shared paragraph is in books, doc 5
    assert web0[0] == [[26, 89, 1]]  # the shared line (newline included)
    assert web0[1] == [[0, 63, 1]]
    assert web0[2] == []
    assert web1 == [[[15, 78, 1]], [[0, 29, 1]]]  # shared line; "Second doc has its own line.\n" seen in web0
    assert summary["total"]["modified"] == {"duplicate_paragraphs": 4}
    rows = read_jsonl(corpus / "attributes/dedupe/web/part-0.jsonl.gz")
    assert [r["id"] for r in rows] == ["0", "1", "2"]
    stats = json.loads((corpus / "attributes/dedupe/stats.json").read_text())
    assert stats["reconciles"] and stats["total"]["documents_in"] == 7


def test_same_bytes_whatever_the_process_count(tmp_path):
    texts = [f"line {i % 7}\nunique {i}\nline {(i * 3) % 5}" for i in range(60)]
    outs = []
    for processes in (1, 2):
        root = tmp_path / f"p{processes}" / "data"
        for f in range(6):
            write_docs(
                root / f"documents/s/{f}.jsonl.gz", [doc(f * 10 + j, texts[f * 10 + j]) for j in range(10)]
            )
        _run(
            root,
            processes=processes,
            exact_documents=DocumentDedupConfig(key="text"),
            minhash=MinHashConfig(),
        )
        outs.append([(root / f"attributes/dedupe/s/{f}.jsonl.gz").read_bytes() for f in range(6)])
    assert outs[0] == outs[1]


def test_exact_document_and_minhash_dedup(tmp_path):
    root = tmp_path / "data"
    base = " ".join(f"word{i}" for i in range(200))
    near = base.replace("word100", "changed")
    write_docs(
        root / "documents/s/a.jsonl.gz",
        [
            doc(0, base, metadata={"url": "u1"}),
            doc(1, "something else entirely " * 20, metadata={"url": "u2"}),
            doc(2, near, metadata={"url": "u1"}),
            doc(3, base, metadata={}),
        ],
    )
    _run(
        root,
        paragraphs=None,
        exact_documents=DocumentDedupConfig(key="metadata.url", attribute_name="dup_url"),
        minhash=MinHashConfig(num_perm=128, bands=32),
    )
    rows = [r["attributes"] for r in read_jsonl(root / "attributes/dedupe/s/a.jsonl.gz")]
    assert [("dup_url" in r) for r in rows] == [False, False, True, False]  # doc 3 has no url: not a key
    assert [("minhash_duplicate" in r) for r in rows] == [False, False, True, True]
    stats = json.loads((root / "attributes/dedupe/stats.json").read_text())
    assert stats["total"]["modified"]["missing_dedup_key"] == 1


def test_ngram_paragraph_dedup(tmp_path):
    root = tmp_path / "data"
    a = "one two three four five six seven eight"
    b = "one two three four five six nine ten"  # shares 3 of its 6 trigrams-ish with a
    write_docs(root / "documents/s/a.jsonl.gz", [doc(0, a), doc(1, b), doc(2, "x y")])
    _run(root, paragraphs=ParagraphDedupConfig(method="ngram", ngram_size=3, overlap_threshold=0.5))
    rows = _spans(root, "s/a.jsonl.gz")
    assert rows[0] == []
    assert rows[1] == [[0, len(b), 0.66667]]  # 4 of 6 trigrams seen before
    assert rows[2] == []


def test_bloom_file_incremental_and_stale(tmp_path):
    root = tmp_path / "data"
    write_docs(root / "documents/s/a.jsonl.gz", [doc(0, "alpha para\nbeta para")])
    bloom = BloomConfig(file=str(tmp_path / "bloom.bin"), expected_count=1000)
    _run(root, bloom=bloom)
    # a second run over new files, loading the saved filter: alpha was seen in the first run
    root2 = tmp_path / "more" / "data"
    write_docs(root2 / "documents/s/b.jsonl.gz", [doc(1, "alpha para\ngamma para")])
    run_dedup(
        DedupConfig(documents=[str(root2 / "documents/**/*.gz")], bloom=bloom),
        ExecutionConfig(progress=False),
    )
    assert _spans(root2, "s/b.jsonl.gz") == [[[0, 11, 1]]]
    # the same inputs again with force: the filter already holds them, so it is refused
    with pytest.raises(StaleFilterError, match="already contains"):
        run_dedup(
            DedupConfig(documents=[str(root2 / "documents/**/*.gz")], bloom=bloom),
            ExecutionConfig(progress=False, force=True),
        )
    # other settings: refused too, unless allowed
    other = DedupConfig(
        documents=[str(root / "documents/**/*.gz")], bloom=bloom, paragraphs=ParagraphDedupConfig(min_words=3)
    )
    with pytest.raises(StaleFilterError, match="other dedup settings"):
        run_dedup(other, ExecutionConfig(progress=False, force=True))
    bloom.allow_stale = True
    run_dedup(other, ExecutionConfig(progress=False, force=True))


def test_paragraph_spans_conventions():
    text = "é\ncd\n"
    assert dedup_paragraphs(text) == [(0, 2, "é"), (2, 5, "cd")]
    assert dedup_paragraphs("ab\ncd") == [(0, 3, "ab"), (3, 5, "cd")]
    # dolma 1.2.1 compares a character offset with the UTF-8 byte length (see docs/curation.md)
    assert dedup_paragraphs("alpha\nbeta\n", dolma_spans=True) == [(0, 6, "alpha"), (6, 10, "beta")]
    assert dedup_paragraphs("éé\nxy\nzw", dolma_spans=True)[-1] == (6, 9, "zw")
    assert dedup_paragraphs(" \n\nx", skip_empty=True) == [(3, 4, "x")]


@pytest.mark.parametrize("killed", ["before the filter is saved", "after the filter is saved"])
def test_a_run_killed_around_the_bloom_save_resumes(tmp_path, monkeypatch, killed):
    import lmforge.curate.dedup as dedup
    from lmforge.curate.bloom import BloomFilter

    root = tmp_path / "data"
    write_docs(root / "documents/s/a.jsonl.gz", [doc(0, "alpha\nbeta"), doc(1, "beta\ngamma")])
    clean = tmp_path / "clean" / "data"
    write_docs(clean / "documents/s/a.jsonl.gz", [doc(0, "alpha\nbeta"), doc(1, "beta\ngamma")])
    bloom = BloomConfig(file=str(tmp_path / "bloom.bin"), expected_count=1000)
    saved = {"done": False}
    original_save, original_write_json = BloomFilter.save, dedup.write_json

    def save(self, path):
        if killed == "before the filter is saved":
            raise RuntimeError("killed")
        original_save(self, path)
        saved["done"] = True

    def write_json(path, data):
        if saved["done"] and str(path).endswith("step.json"):
            raise RuntimeError("killed")  # the filter is on disk, the step is not recorded as finished
        original_write_json(path, data)

    monkeypatch.setattr(BloomFilter, "save", save)
    monkeypatch.setattr(dedup, "write_json", write_json)
    with pytest.raises(RuntimeError, match="killed"):
        _run(root, bloom=bloom)
    monkeypatch.undo()
    resumed = _run(root, bloom=bloom)  # used to be refused: "Bloom filter already contains 1 of these inputs"
    assert _spans(root, "s/a.jsonl.gz") == [[], [[0, 5, 1]]]
    assert resumed["total"]["modified"] == {"duplicate_paragraphs": 1}
    assert not list((root / "attributes/dedupe/.lmforge-state/dedup/hashes").glob("*"))
    _run(clean, bloom=BloomConfig(file=str(tmp_path / "clean.bin"), expected_count=1000))
    assert (root / "attributes/dedupe/s/a.jsonl.gz").read_bytes() == (
        clean / "attributes/dedupe/s/a.jsonl.gz"
    ).read_bytes()
    # the saved filter holds the inputs once: a further run over them is refused as usual
    with pytest.raises(StaleFilterError, match="already contains"):
        run_dedup(
            DedupConfig(documents=[str(root / "documents/**/*.jsonl.gz")], bloom=bloom),
            ExecutionConfig(progress=False, force=True),
        )


def test_an_outgrown_bloom_filter_is_reported(tmp_path, capsys):
    root = tmp_path / "data"
    write_docs(root / "documents/s/a.jsonl.gz", [doc(i, f"paragraph {i}\nparagraph {i}") for i in range(300)])
    small = _run(root, bloom=BloomConfig(expected_count=20, false_positive_rate=1e-3))
    report = small["bloom"]
    assert report["items"] == 300  # distinct paragraphs added; the 300 repeats are not new items
    assert report["estimated_false_positive_rate"] > 1e-3
    assert "holds 300 distinct items, more than it was sized for (20)" in small["warnings"][0]
    assert "larger --expected-count" in capsys.readouterr().err
    stats = json.loads((root / "attributes/dedupe/stats.json").read_text())
    assert stats["warnings"] == small["warnings"]
    fine = _run(root, bloom=BloomConfig(expected_count=1000, false_positive_rate=1e-3), name="fine")
    assert fine["bloom"]["items"] == 300 and fine["bloom"]["estimated_false_positive_rate"] <= 1e-3
    assert "warnings" not in fine
    # the count travels with a saved filter, so incremental runs keep adding to it
    saved = BloomConfig(file=str(tmp_path / "f.bin"), expected_count=1000)
    _run(root, bloom=saved, name="first")
    more = tmp_path / "more/data"
    write_docs(more / "documents/s/b.jsonl.gz", [doc(i, f"paragraph {i}\nnew {i}") for i in range(300)])
    assert _run(more, bloom=saved)["bloom"]["items"] == 600  # 300 new paragraphs, 300 seen in the first run
