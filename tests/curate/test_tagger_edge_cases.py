"""Exact values of the taggers the other test files check only through their helpers: empty text, one
word, and non-ASCII text (offsets are code points, bytes are UTF-8)."""

import pytest

from lmforge.curate.taggers import make_tagger

MIXED = "Ünï ☃ mail é@exämple.fr\n\nsecond"  # 31 characters, 37 UTF-8 bytes; a blank line in the middle
EN = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."
DE = "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer zuschaut."


def tag(name, text, **options):
    return make_tagger(name, **options).tag({"text": text})


def test_bytes_and_paragraph_lengths():
    assert tag("bytes_length_v1", "") == {"bytes": [[0, 0, 0.0]]}
    assert tag("bytes_length_v1", "word") == {"bytes": [[0, 4, 4.0]]}
    assert tag("bytes_length_v1", MIXED) == {"bytes": [[0, 31, 37.0]]}
    assert tag("char_length_with_paragraphs_v1", "") == {"paragraph": [], "document": [[0, 0, 0.0]]}
    assert tag("char_length_with_paragraphs_v1", "word") == {
        "paragraph": [[0, 4, 4.0]],
        "document": [[0, 4, 4.0]],
    }
    # the blank line is no paragraph; the first paragraph's span includes its newline
    assert tag("char_length_with_paragraphs_v1", MIXED) == {
        "paragraph": [[0, 24, 24.0], [25, 31, 6.0]],
        "document": [[0, 31, 31.0]],
    }
    assert tag("whitespace_tokenizer_with_paragraphs_v1", "word") == {
        "paragraph": [[0, 4, 2.0]],  # dolma's count: tokens + 1
        "document": [[0, 4, 2.0]],
    }


def test_gopher_v2_ignores_empty_lines_where_v1_counts_them():
    text = "same\n\n\nsame\nother"
    v1, v2 = tag("gopher_v1", text), tag("gopher_v2", text)
    assert v1["fraction_of_duplicate_lines"] == [[0, len(text), 4 / 5]]  # "same" x2 and "" x2 of 5 lines
    assert v2["fraction_of_duplicate_lines"] == [[0, len(text), 2 / 3]]  # "same" x2 of 3 lines
    assert tag("gopher_v2", "")["word_count"] == [[0, 0, 0.0]]


def test_pii_taggers_on_edge_cases_and_non_ascii_offsets():
    assert tag("pii_regex_v1", "") == {"doc": [[0, 0, -1.0]]}
    assert tag("pii_regex_v1", "word") == {"doc": [[0, 4, 0.0]]}
    dolma = tag("pii_regex_v1", MIXED)
    [[s, e, _]] = dolma["EMAIL_ADDRESS"]
    assert MIXED[s:e] == " é@exämple.fr\n"  # dolma's span swallows the separators
    assert dolma["doc"] == [[0, 31, 1 / 5]]  # one PII span per 5 whitespace words
    tight = tag("pii_tight_v1", MIXED)
    [[s, e, _]] = tight["EMAIL_ADDRESS"]
    assert MIXED[s:e] == "é@exämple.fr"
    assert tight["EMAIL_ADDRESS_count"] == [[0, 31, 1.0]] and tight["PHONE_NUMBER_count"] == [[0, 31, 0.0]]
    assert tag("pii_tight_v1", "") == {
        f"{k}_count": [[0, 0, 0.0]] for k in ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS")
    }


def test_cld2_document_and_paragraph_taggers():
    pytest.importorskip("pycld2")
    for name in ("cld2_doc_v1", "cld2_paragraph_v1"):
        assert tag(name, "") == {} and tag(name, "word") == {}  # nothing reliable to say
    text = "ÄÖÜ " + EN + "\n" + DE
    doc = tag("cld2_doc_v1", text)
    assert set(doc) == {"en", "de"} and 0.95 <= doc["en"][0][2] + doc["de"][0][2] <= 1.0
    assert all(spans[0][:2] == [0, len(text)] for spans in doc.values())
    para = tag("cld2_paragraph_v1", text)
    [[s, e, en_score]] = para["en"]
    [[s2, e2, de_score]] = para["de"]
    assert (s, e, s2, e2) == (0, len(EN) + 5, len(EN) + 5, len(text))  # character offsets after "ÄÖÜ "
    assert para["doc_en"] == [[0, len(text), pytest.approx((e - s) * en_score / len(text))]]
    assert para["doc_de"] == [[0, len(text), pytest.approx((e2 - s2) * de_score / len(text))]]
