"""analyze_corpus on hand-made corpora: every count is known in advance."""

import json
import os

import pytest
from analyze_fixtures import doc, write_docs

from lmforge.analyze import AnalyzeOptions, analyze_corpus
from lmforge.io import InputError

ENGLISH = (
    "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence "
    "and the children laugh in the warm summer sun near the river."
)
GERMAN = (
    "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer vom alten Holzzaun aus "
    "zusieht und die Kinder in der warmen Sommersonne am Fluss lachen."
)


def fast_options(**overrides):
    base = dict(top_k=0, progress=False, plots=False)
    base.update(overrides)
    return AnalyzeOptions(**base)


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "documents"
    write_docs(
        str(root / "web" / "part-0.jsonl.gz"),
        [
            doc("w1", ENGLISH, "web", "https://www.example.com/a"),
            doc(
                "w2",
                "write to alice@example.com or call 555 123 4567\nserver 10.0.0.1",
                "web",
                "http://news.example.org/x",
            ),
            doc("w3", GERMAN, "web", "https://blog.example.de/post"),
        ],
    )
    # no "source" field: the folder name is the source
    write_docs(str(root / "books" / "part-0.jsonl.gz"), [doc("b1", ENGLISH), doc("b2", "")])
    return root


def test_exact_counts_per_source_and_overall(corpus, tmp_path):
    report = analyze_corpus(str(corpus / "**" / "*.jsonl.gz"), None, fast_options())
    web, books, total = report["sources"]["web"], report["sources"]["books"], report["totals"]
    texts = {
        "web": [ENGLISH, "write to alice@example.com or call 555 123 4567\nserver 10.0.0.1", GERMAN],
        "books": [ENGLISH, ""],
    }
    for name, stats in (("web", web), ("books", books)):
        assert stats["documents"] == len(texts[name])
        assert stats["bytes"] == sum(len(t.encode()) for t in texts[name])
        assert stats["words"] == sum(len(t.split()) for t in texts[name])
        assert stats["paragraphs"] == sum(1 for t in texts[name] for line in t.split("\n") if line.strip())
    assert books["empty_documents"] == 1
    assert total["documents"] == 5 and report["read"] == {
        "files": 2,
        "lines": 5,
        "documents": 5,
        "rejected": 0,
        "bytes": report["read"]["bytes"],
        "rejections": [],
    }
    assert total["lengths"]["words"]["max"] == max(len(GERMAN.split()), len(ENGLISH.split()))
    assert total["lengths"]["words"]["min"] == 0
    # languages by CLD2
    from lmforge.curate.taggers.language import detect_language

    languages = {item["value"]: item["count"] for item in total["languages"]}
    expected: dict[str, int] = {}
    for text in texts["web"] + texts["books"]:
        expected[detect_language(text)[0]] = expected.get(detect_language(text)[0], 0) + 1
    assert languages == expected
    assert languages["en"] >= 2 and languages["de"] == 1
    # URLs: scheme, host without www., TLD
    urls = web["urls"]
    assert urls["documents_with_url"] == 3
    assert {d["value"]: d["count"] for d in urls["schemes"]} == {"https": 2, "http": 1}
    assert {d["value"] for d in urls["domains"]} == {"example.com", "news.example.org", "blog.example.de"}
    assert {d["value"] for d in urls["tlds"]} == {"com", "org", "de"}
    assert books["urls"]["documents_with_url"] == 0
    # PII
    assert web["pii"] == {
        "email": {"matches": 1, "documents": 1},
        "phone": {"matches": 1, "documents": 1},
        "ip": {"matches": 1, "documents": 1},
    }


def test_duplicates_within_and_across_sources(tmp_path):
    shared_para = "This paragraph is shared by two sources."
    root = tmp_path / "docs"
    write_docs(
        str(root / "a" / "0.jsonl.gz"),
        [
            doc("a1", "alpha one\n" + shared_para, "a"),
            doc("a2", "alpha one\n" + shared_para, "a"),
            doc("a3", "unique a", "a"),
        ],
    )
    write_docs(
        str(root / "b" / "0.jsonl.gz"), [doc("b1", "beta\n\n" + shared_para, "b"), doc("b2", "unique a", "b")]
    )
    for partitions in (1, 64):
        report = analyze_corpus(str(root), None, fast_options(dedup_partitions=partitions))
        docs, paras = report["duplicates"]["documents"], report["duplicates"]["paragraphs"]
        # documents: a1 == a2 (within a); "unique a" in a and b (across)
        assert (docs["items"], docs["distinct"], docs["duplicates"]) == (5, 3, 2)
        assert docs["per_source"]["a"]["within_duplicates"] == 1
        assert docs["per_source"]["a"]["cross_items"] == 1
        assert docs["per_source"]["b"]["within_duplicates"] == 0
        assert docs["per_source"]["b"]["cross_share"] == pytest.approx(0.5)
        assert docs["shared"] == {"a": {"b": 1}, "b": {"a": 1}}
        assert docs["top"][0]["copies"] == 2
        # paragraphs: "alpha one" x2, shared_para x3 (a twice, b once), "unique a" x2, "beta" x1; blanks skipped
        assert (paras["items"], paras["distinct"]) == (8, 4)
        assert paras["per_source"]["a"]["within_duplicates"] == 2
        assert paras["per_source"]["b"]["cross_items"] == 2
        top = paras["top"][0]
        assert top["copies"] == 3 and top["sources"] == {"a": 2, "b": 1}
        assert top["text"] == shared_para and top["id"] == "a1"


def test_bad_input_fails_with_file_and_line_or_is_counted(tmp_path):
    path = write_docs(
        str(tmp_path / "docs" / "s" / "0.jsonl.gz"),
        [doc("1", "good one"), doc("2", "good two")],
        extra_lines=["{not json", json.dumps({"id": "3"}), json.dumps({"id": "4", "text": "good three"})],
    )
    with pytest.raises(InputError, match=r"0\.jsonl\.gz:3: malformed JSON"):
        analyze_corpus(path, None, fast_options())
    report = analyze_corpus(path, None, fast_options(on_error="skip"))
    read = report["read"]
    assert (read["lines"], read["documents"], read["rejected"]) == (5, 3, 2)
    assert read["lines"] == read["documents"] + read["rejected"]
    assert [r["line"] for r in read["rejections"]] == [3, 4]
    assert report["totals"]["documents"] == 3


def test_truncated_file_keeps_complete_lines(tmp_path):
    path = write_docs(
        str(tmp_path / "s" / "0.jsonl.gz"), [doc(str(i), f"document number {i} " * 50) for i in range(200)]
    )
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    report = analyze_corpus(path, None, fast_options(on_error="skip"))
    assert report["read"]["rejected"] == 1
    assert 0 < report["totals"]["documents"] < 200


def test_tokens_with_a_tokenizer_file(corpus, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "the": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    path = str(tmp_path / "tokenizer.json")
    tokenizer.save(path)
    report = analyze_corpus(str(corpus), None, fast_options(tokenizer=path))
    # one token per whitespace word with this tokenizer
    assert report["totals"]["tokens"] == report["totals"]["words"]
    assert report["sources"]["books"]["lengths"]["tokens"]["count"] == 2


def test_parallel_report_equals_serial(corpus, tmp_path):
    serial = analyze_corpus(str(corpus), None, fast_options(top_k=5, ngram_sizes=[1, 2]))
    parallel = analyze_corpus(str(corpus), None, fast_options(top_k=5, ngram_sizes=[1, 2], processes=2))
    for key in ("totals", "sources", "duplicates", "ngrams", "read"):
        assert serial[key] == parallel[key]


def test_writes_json_markdown_html_and_plots(corpus, tmp_path):
    out = tmp_path / "report"
    report = analyze_corpus(str(corpus), str(out), fast_options(plots=True, top_k=5))
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))
    html = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    for section in ("Sources", "Document lengths", "Languages", "Duplicates", "Most common n-grams"):
        assert section in html and f"## {section}" in markdown
    for plot in ("sizes", "lengths", "languages", "duplicates", "domains"):
        png = out / "plots" / f"{plot}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{plot}.png" in html
    assert not os.path.exists(out / "_work")


def test_report_without_plots_shows_no_images_and_links_plots_rather_than_embedding(corpus, tmp_path):
    out = tmp_path / "report"
    analyze_corpus(str(corpus), str(out), fast_options())
    html, markdown = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert "<img" not in html and "![" not in markdown and not (out / "plots").exists()
    assert '<a href="#sources">Sources</a>' in html and '<h2 id="sources">Sources</h2>' in html
    assert markdown.startswith("# Corpus analysis\n\n`") and "<nav>" not in markdown

    with_plots = tmp_path / "with_plots"
    analyze_corpus(str(corpus), str(with_plots), fast_options(plots=True))
    html = (with_plots / "report.html").read_text()
    assert '<img alt="Sources" src="plots/sizes.png">' in html and "data:image" not in html


def test_remote_output_through_fsspec(corpus):
    import fsspec

    analyze_corpus(str(corpus), "memory://analysis/report", fast_options())
    fs = fsspec.filesystem("memory")
    assert json.loads(fs.cat("/analysis/report/report.json"))["totals"]["documents"] == 5
    assert fs.exists("/analysis/report/report.html") and not fs.exists("/analysis/report/_work")


def test_empty_corpus_gives_a_report(tmp_path):
    path = write_docs(str(tmp_path / "docs" / "s" / "0.jsonl.gz"), [])
    report = analyze_corpus(path, str(tmp_path / "out"), fast_options(plots=True, top_k=3))
    assert report["totals"]["documents"] == 0 and report["sources"] == {}
    assert report["duplicates"]["documents"]["duplicate_rate"] == 0.0
    assert (tmp_path / "out" / "report.html").exists()
