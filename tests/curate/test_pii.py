from lmforge.curate.taggers.pii import PiiRegexWithCounts, count_pii, find_pii


def _found(text: str, **kw) -> list[tuple[str, str]]:
    return [(kind, text[s:e]) for s, e, kind in find_pii(text, **kw)]


def test_tight_spans_cover_only_the_pii():
    text = "Mail john.doe@example.com, or call (555) 123-4567.\nHost 192.168.0.1 died\nend x@y.org"
    assert _found(text) == [
        ("email", "john.doe@example.com"),
        ("phone", "(555) 123-4567"),
        ("ip", "192.168.0.1"),
        ("email", "x@y.org"),  # at the very end of the text: dolma's pattern misses it
    ]
    assert count_pii(text) == {"email": 2, "phone": 1, "ip": 1}


def test_dolma_spans_include_separators_and_miss_final_email():
    text = "Mail john.doe@example.com, now\nend x@y.org"
    assert _found(text, dolma_spans=True) == [("email", " john.doe@example.com, ")]


def test_rejects_lookalikes():
    assert find_pii("version 1.2.3.4.5 and 1234.5.6.78") == []
    assert find_pii("no domain dot: user@localhost here") == []
    assert find_pii("serial 123456789012345 ok") == []
    assert find_pii("") == []


def test_non_ascii_offsets_are_characters():
    text = "Ünïcødé ☃ — écrivez à marie@exemple.fr merci"
    [(s, e, kind)] = find_pii(text)
    assert kind == "email" and text[s:e] == "marie@exemple.fr"


def test_odd_characters_do_not_crash():
    assert _found("a\ud800 b\x00 mail a@b.co \x7f") == [("email", "a@b.co")]


def test_counts_tagger_matches_dolma_definitions():
    text = "write to a@b.com now"
    attrs = PiiRegexWithCounts().tag({"text": text})
    assert attrs["EMAIL_ADDRESS"] == [[8, 17, 1.0]]  # " a@b.com " with dolma's separators
    assert attrs["doc_count"] == [[0, len(text), 1.0]]
    # dolma's doc_frac also sums the whole-document count span: 1 + covered fraction
    assert attrs["doc_frac"][0][2] == (9 + len(text)) / len(text)
    assert PiiRegexWithCounts().tag({"text": ""})["doc_frac"] == [[0, 0, -1.0]]
