import json

import pytest
from analyze_fixtures import doc, write_docs

from lmforge.analyze import search_corpus
from lmforge.cli import main


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    write_docs(
        str(root / "a" / "0.jsonl.gz"),
        [
            doc("a1", "the cat sat on the mat. The cat again."),
            doc("a2", "no felines"),
            doc("a3", "CAT in capitals"),
        ],
    )
    write_docs(
        str(root / "b" / "0.jsonl.gz"), [doc("b1", "a catalogue of cats", "b")], extra_lines=["{broken"]
    )
    return root


def test_phrase_counts_documents_and_occurrences(corpus):
    result = search_corpus("cat", str(corpus / "a"), progress=False)
    assert (result.documents_scanned, result.documents_matched, result.occurrences) == (3, 1, 2)
    [hit] = result.hits
    assert (hit.id, hit.source, hit.line, hit.occurrences) == ("a1", "a", 1, 2)
    assert "[cat]" in hit.snippet


def test_ignore_case_regex_limit_and_bad_lines(corpus):
    with pytest.raises(Exception, match=r"0\.jsonl\.gz:2"):
        search_corpus("cat", str(corpus), progress=False)
    result = search_corpus("cat", str(corpus), ignore_case=True, limit=2, on_error="skip", progress=False)
    assert result.documents_matched == 3 and result.rejected == 1
    assert [h.id for h in result.hits] == ["a1", "a3"]
    assert result.matched_by_source == {"a": 2, "b": 1}
    regex = search_corpus(r"\bcats?\b", str(corpus), regex=True, on_error="skip", progress=False, processes=2)
    assert [h.id for h in regex.hits] == ["a1", "b1"] and regex.occurrences == 3
    with pytest.raises(ValueError, match="invalid regular expression"):
        search_corpus("(", str(corpus), regex=True, progress=False)


def test_cli_search_json(corpus, capsys):
    assert main(["analyze", "search", "felines", str(corpus / "a"), "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["documents_matched"] == 1 and out["hits"][0]["id"] == "a2"
    assert main(["analyze", "search", "(", str(corpus / "a"), "--regex", "--quiet"]) == 2


def test_cli_analyze_writes_report(corpus, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        [
            "analyze",
            str(corpus / "a"),
            "--output",
            str(out),
            "--quiet",
            "--ngram-n",
            "1,2",
            "--top-k",
            "3",
            "--no-plots",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["documents"] == 3 and list(report["ngrams"]) == ["1", "2"]
    assert "report.html" in capsys.readouterr().out
    assert main(["analyze", str(corpus), "--output", str(out), "--quiet"]) == 2  # bad line, on_error=fail


def test_cli_search_rejects_zero_processes(corpus, capsys):
    assert main(["analyze", "search", "fox", str(corpus), "--processes", "0", "--quiet"]) == 2
    assert "processes: must be >= 1" in capsys.readouterr().err


def test_catastrophic_regex_stops_with_file_and_line_instead_of_hanging(tmp_path, capsys):
    path = write_docs(
        str(tmp_path / "s" / "0.jsonl.gz"), [doc("1", "a fine line"), doc("2", "a" * 64), doc("3", "ab")]
    )
    # (a|aa)+b on 64 a's without a b explores ~fib(64) paths: hours under Python's re
    with pytest.raises(ValueError, match=r"0\.jsonl\.gz:2: the regular expression ran longer than 0\.2 s"):
        search_corpus("(a|aa)+b", path, regex=True, regex_timeout=0.2, progress=False)
    code = main(["analyze", "search", "(a|aa)+b", path, "--regex", "--regex-timeout", "0.2", "--quiet"])
    assert code == 2 and "0.jsonl.gz:2: the regular expression ran longer" in capsys.readouterr().err
    # a well-behaved regex under the same limit, and the limit itself validated
    assert search_corpus(r"a+b", path, regex=True, regex_timeout=0.2, progress=False).documents_matched == 1
    with pytest.raises(ValueError, match="must be > 0"):
        search_corpus("ab", path, regex=True, regex_timeout=0, progress=False)
    with pytest.raises(ValueError, match="must be >= 0 documents"):
        search_corpus("ab", path, limit=-1, progress=False)
    counted = search_corpus("a", path, limit=0, progress=False)
    assert counted.documents_matched == 3 and counted.hits == []


def test_bad_line_with_two_processes_is_an_error_not_a_hang(corpus, capsys):
    import signal

    def alarm(signum, frame):
        raise TimeoutError("search hung on a worker's error")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    try:
        assert main(["analyze", "search", "cat", str(corpus), "--processes", "2", "--quiet"]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "b/0.jsonl.gz:2: malformed JSON" in capsys.readouterr().err
