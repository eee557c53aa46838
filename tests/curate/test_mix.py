import hashlib
import json

import pytest
from curate_testlib import doc, read_jsonl, write_docs

from lmforge.config import ConfigError, build_config
from lmforge.curate.config import ExecutionConfig, MixConfig
from lmforge.curate.mix import replace_spans, run_mix, sample_copies
from lmforge.io import InputError


def _attrs(root, name, rel, rows):
    write_docs(root / "attributes" / name / rel, rows)


def _mix(root, tmp_path, **stream):
    base = {
        "name": "s",
        "documents": [str(root / "documents/**/*.jsonl.gz")],
        "output": {"path": str(tmp_path / "out"), "max_size_in_bytes": 10_000_000},
    }
    config = build_config(MixConfig, overrides={"streams": [{**base, **stream}], "seed": 7})
    return run_mix(config, ExecutionConfig(progress=False))["s"]


def _out(tmp_path):
    return [d for p in sorted((tmp_path / "out").glob("*.jsonl.gz")) for d in read_jsonl(p)]


@pytest.fixture
def tagged(tmp_path):
    root = tmp_path / "data"
    texts = [
        "Write to bob@example.com today.\nDuplicate line\nKeep me",
        "short",
        "Long enough document with plenty of words in it.",
        "Duplicate line\nOnly dup",
    ]
    write_docs(
        root / "documents/web/a.jsonl.gz", [doc(i, t, metadata={"url": f"u{i}"}) for i, t in enumerate(texts)]
    )
    _attrs(
        root,
        "q",
        "web/a.jsonl.gz",
        [
            {"id": str(i), "attributes": {"q__g__words": [[0, len(t), float(len(t.split()))]]}}
            for i, t in enumerate(texts)
        ],
    )
    _attrs(
        root,
        "pii",
        "web/a.jsonl.gz",
        [
            {"id": "0", "attributes": {"pii__p__EMAIL_ADDRESS": [[8, 25, 1.0]]}},
            {"id": "1", "attributes": {}},
            {"id": "2", "attributes": {"pii__p__EMAIL_ADDRESS": [[0, 4, 0.1]]}},  # below min_score
            {"id": "3", "attributes": {}},
        ],
    )
    dup = {"bff_duplicate_paragraph_spans": []}
    _attrs(
        root,
        "dedupe",
        "web/a.jsonl.gz",
        [
            {"id": "0", "attributes": dup},
            {"id": "1", "attributes": dup},
            {"id": "2", "attributes": dup},
            {"id": "3", "attributes": {"bff_duplicate_paragraph_spans": [[0, 15, 1]]}},
        ],
    )
    return root, texts


def test_filters_replacements_provenance_and_stats(tagged, tmp_path):
    root, texts = tagged
    summary = _mix(
        root,
        tmp_path,
        attributes=["q", "pii", "dedupe"],
        filter={"exclude": ["q__g__words < 2"], "include": ["doc.metadata.url != 'u9'"]},
        span_replacement=[
            {"span": "bff_duplicate_paragraph_spans", "replacement": ""},
            {"span": "pii__p__EMAIL_ADDRESS", "replacement": " |||EMAIL_ADDRESS||| "},
        ],
    )
    out = _out(tmp_path)
    assert [d["id"] for d in out] == ["0", "2", "3"]
    assert out[0]["text"] == "Write to |||EMAIL_ADDRESS||| today.\nDuplicate line\nKeep me"
    assert out[1]["text"] == texts[2]  # span below min_score is left alone
    assert out[2]["text"] == "Only dup"
    assert out[0]["metadata"]["provenance"]["line"] == 1
    assert out[2]["metadata"]["provenance"]["file"].endswith("documents/web/a.jsonl.gz")
    total = summary["total"]
    assert total["documents_in"] == 4 and total["kept"] == 3
    assert total["filtered_by"] == {"exclude: q__g__words < 2": 1}
    assert total["modified"] == {"spans_replaced": 2}
    assert summary["reconciles"]
    assert json.loads((tmp_path / "out/stats-s.json").read_text())["total"] == total


def test_sampling_and_upsampling_are_deterministic(tmp_path):
    root = tmp_path / "data"
    write_docs(root / "documents/s/a.jsonl.gz", [doc(i, f"text {i}") for i in range(400)])
    summary = _mix(root, tmp_path, sampling_rate=0.25, filter={"include": ["len(doc.text) > 6"]})
    kept = [d["id"] for d in _out(tmp_path)]
    assert 60 < len(kept) < 140
    sampled = [str(i) for i in range(10, 400) if sample_copies(0.25, 7, "s", str(i))]
    assert kept == sampled  # "text 0".."text 9" fail the include rule first
    assert summary["total"]["filtered_by"] == {
        "include failed: len(doc.text) > 6": 10,
        "sampling": 390 - len(kept),
    }
    summary = _mix(root, tmp_path / "up", sampling_rate=2.5)
    ids = [d["id"] for d in _out(tmp_path / "up")]
    counts = {i: ids.count(str(i)) for i in range(400)}
    assert set(counts.values()) == {2, 3}
    assert summary["documents_out"] == len(ids) and summary["total"]["kept"] == 400


def test_per_source_sampling_rates(tmp_path):
    root = tmp_path / "data"
    write_docs(root / "documents/web/a.jsonl.gz", [doc(f"w{i}", f"web {i}") for i in range(200)])
    write_docs(
        root / "documents/wiki/a.jsonl.gz", [doc(f"k{i}", f"wiki {i}", source="wiki") for i in range(50)]
    )
    write_docs(
        root / "documents/books/a.jsonl.gz", [doc(f"b{i}", f"book {i}", source="books") for i in range(20)]
    )
    summary = _mix(
        root, tmp_path, sampling_rate=1.0, source_sampling_rates={"web": 0.5, "wiki": 2.0, "books": 0}
    )
    ids = [d["id"] for d in _out(tmp_path)]
    web = [i for i in ids if i.startswith("w")]
    assert web == [f"w{i}" for i in range(200) if sample_copies(0.5, 7, "s", f"w{i}")] and 60 < len(web) < 140
    assert sorted(i for i in ids if i.startswith("k")) == sorted(f"k{i}" for i in range(50) for _ in range(2))
    assert not any(i.startswith("b") for i in ids)
    by_source = summary["by_source"]
    assert by_source["books"]["filtered_by"] == {"sampling": 20}
    assert by_source["wiki"]["kept"] == 50 and by_source["wiki"]["modified"] == {"upsampled_extra_copies": 50}
    assert by_source["web"]["filtered_by"] == {"sampling": 200 - len(web)} and summary["reconciles"]
    with pytest.raises(ConfigError, match=r"source_sampling_rates.web: must be >= 0"):
        _mix(root, tmp_path / "bad", source_sampling_rates={"web": -1})


def test_output_shards_by_size(tmp_path):
    root = tmp_path / "data"
    write_docs(root / "documents/s/a.jsonl.gz", [doc(i, "x" * 100) for i in range(50)])
    summary = _mix(root, tmp_path, output={"path": str(tmp_path / "out"), "max_size_in_bytes": 1000})
    parts = sorted((tmp_path / "out").glob("*.jsonl.gz"))
    assert len(parts) == len(summary["outputs"]) > 3
    assert [d["id"] for d in _out(tmp_path)] == [str(i) for i in range(50)]


def test_mismatched_attribute_rows_are_an_error(tagged, tmp_path):
    root, _ = tagged
    _attrs(root, "bad", "web/a.jsonl.gz", [{"id": "0", "attributes": {}}, {"id": "X", "attributes": {}}])
    with pytest.raises(InputError, match=r"bad/web/a.jsonl.gz:2: id 'X' does not match document '1'"):
        _mix(root, tmp_path, attributes=["bad"])


def test_bad_expression_fails_before_work(tagged, tmp_path):
    root, _ = tagged
    with pytest.raises(ValueError, match="unknown function '__import__'"):
        _mix(root, tmp_path, filter={"exclude": ["__import__('os').system('x')"]})


def test_replace_spans_rules():
    assert replace_spans("abcdef", [(1, 3, "X"), (2, 4, "Y"), (4, 9, "")]) == ("aXd", 2)
    assert replace_spans("abc", []) == ("abc", 0)


def test_a_filter_on_an_attribute_no_document_has_is_warned_about(tagged, tmp_path, capsys):
    root, _ = tagged
    misspelt = "q__g__wrods < 2"  # a typo: the comparison is false for every document
    summary = _mix(root, tmp_path, attributes=["q"], filter={"exclude": [misspelt, "q__g__words < 2"]})
    assert summary["total"]["filtered_by"] == {"exclude: q__g__words < 2": 1}  # behaviour unchanged
    (warning,) = summary["warnings"]
    assert "'q__g__wrods'" in warning and "no document has" in warning
    assert "q__g__wrods" in capsys.readouterr().err
    assert json.loads((tmp_path / "out/stats-s.json").read_text())["warnings"] == [warning]
    # a literal key of exists()/spans()/score() is checked too: this typo would keep contaminated documents
    typo = "exists('q__g__word')"
    summary = _mix(
        root, tmp_path / "t", attributes=["q"], filter={"exclude": [typo, "exists('q__g__words')"]}
    )
    (warning,) = summary["warnings"]
    assert "\"exists('q__g__word')\" reads attribute 'q__g__word', which no document has" in warning


def test_a_span_replacement_no_document_has_is_warned_about(tagged, tmp_path, capsys):
    root, _ = tagged
    typo = {"span": "pii__p__EMAIL_ADRESS", "replacement": " |||EMAIL_ADDRESS||| "}  # masks nothing
    right = {"span": "pii__p__EMAIL_ADDRESS", "replacement": " |||EMAIL_ADDRESS||| "}
    summary = _mix(root, tmp_path, attributes=["pii"], span_replacement=[typo, right])
    (warning,) = summary["warnings"]
    assert "span_replacement[0] uses attribute 'pii__p__EMAIL_ADRESS', which no document has" in warning
    assert "nothing was replaced" in capsys.readouterr().err
    assert summary["total"]["modified"] == {"spans_replaced": 1}  # the correct rule still applies


def test_zstd_input_and_every_output_compression(tmp_path):
    from lmforge.documents import read_documents, write_documents

    root = tmp_path / "data"
    (root / "documents/s").mkdir(parents=True)
    write_documents(str(root / "documents/s/a.jsonl.zst"), [doc(i, f"text {i}") for i in range(5)])
    for compression, suffix in (("zst", ".jsonl.zst"), ("none", ".jsonl"), ("gz", ".jsonl.gz")):
        out = tmp_path / compression
        output = {"path": str(out / "out"), "compression": compression}
        summary = _mix(root, out, documents=[str(root / "documents/s/*.zst")], output=output)
        [path] = summary["output_paths"]
        assert path.endswith(suffix)
        assert [d["text"] for _, d in read_documents(path)] == [f"text {i}" for i in range(5)]


def test_a_failed_task_publishes_no_part_and_the_rerun_ends_identical(tmp_path):
    def corpus(root, broken):
        for f in range(3):
            # hex digests do not compress: each file is more than 400 B of input, so one task per file
            rows = [doc(f"{f}-{i}", hashlib.sha256(f"{f}-{i}".encode()).hexdigest()) for i in range(20)]
            write_docs(root / f"documents/s/{f}.jsonl.gz", rows)
            ids = [r["id"] for r in rows]
            if broken and f == 2:
                ids[12] = "wrong"  # the third task fails on its 13th document, after two full parts
            _attrs(
                root,
                "a",
                f"s/{f}.jsonl.gz",
                [{"id": i, "attributes": {"a__a__x": [[0, 1, 1.0]]}} for i in ids],
            )

    def mix(root, out):
        return _mix(
            root,
            out,
            attributes=["a"],
            provenance=False,
            output={"path": str(out / "out"), "max_size_in_bytes": 400},  # one task per file, parts of ~400 B
        )

    root, clean = tmp_path / "data", tmp_path / "clean" / "data"
    corpus(root, broken=True)
    corpus(clean, broken=False)
    with pytest.raises(InputError, match=r"a/s/2.jsonl.gz:13: id 'wrong'"):
        mix(root, tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run/out").iterdir() if p.is_file())
    assert names and not any(n.startswith("s-00002") for n in names)  # nothing of the failed task
    assert all(n.startswith(("s-00000", "s-00001")) for n in names)
    corpus(root, broken=False)
    resumed = mix(root, tmp_path / "run")
    assert resumed["skipped_shards"] == 2
    fresh = mix(clean, tmp_path / "fresh")

    def files(out):
        return {p.name: p.read_bytes() for p in sorted((out / "out").iterdir()) if p.is_file()}

    assert files(tmp_path / "run") == files(tmp_path / "fresh")
    assert resumed["total"] == fresh["total"] and resumed["outputs"] == fresh["outputs"]
