from collections import Counter
from statistics import median

import pytest

from lmforge.curate.taggers.c4 import C4V1, C4V2
from lmforge.curate.taggers.gopher import GopherV1, gopher_statistics


def reference_ngram_fractions(words: list[str]) -> dict[str, float]:
    """A direct Counter-over-tuples implementation of the definitions, to check the numpy one."""
    out = {}
    chars = sum(len(w) for w in words)
    for n in range(2, 11):
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        if not grams:
            continue
        if n <= 4:
            gram, count = grams.most_common(1)[0]
            out[f"fraction_of_characters_in_most_common_{n}grams"] = (
                count * sum(map(len, gram)) / max(chars, 1)
            )
        else:
            total = sum(c * sum(map(len, g)) for g, c in grams.items())
            dup = sum(c * sum(map(len, g)) for g, c in grams.items() if c > 1)
            out[f"fraction_of_characters_in_duplicate_{n}grams"] = dup / max(total, 1)
    return out


TEXTS = [
    "the cat sat on the mat and the cat sat on the mat again and again and again",
    "a bb a bb ccc a bb ccc dddd a bb ccc dddd",  # ties between n-grams of different lengths
    "word " * 40,
    "# one … two\n- bullet\n* star …\n\nsame line\nsame line\n",
    "Ünïcødé wörds häve lëngths\nÜnïcødé wörds häve lëngths",
]


@pytest.mark.parametrize("text", TEXTS)
def test_ngram_fractions_match_reference(text):
    stats = gopher_statistics(text)
    expected = reference_ngram_fractions(text.split())
    for key, value in expected.items():
        assert stats[key] == pytest.approx(value, rel=1e-12), key
    assert {k for k in stats if "grams" in k} == set(expected)


def test_document_statistics_by_hand():
    text = "# one … two\n- bullet\n* star …\n\nsame line\nsame line"
    s = gopher_statistics(text)
    words = text.split()
    assert s["character_count"] == len(text)
    assert s["word_count"] == len(words) == 13
    assert s["median_word_length"] == float(median(len(w) for w in words))
    assert s["symbol_to_word_ratio"] == 3 / 13  # "#", "…", "…"
    assert s["fraction_of_words_with_alpha_character"] == 8 / 13
    assert s["required_word_count"] == 0
    lines = text.split("\n")  # 6 lines, the empty one included
    assert s["fraction_of_lines_starting_with_bullet_point"] == 2 / 6
    assert s["fraction_of_lines_ending_with_ellipsis"] == 1 / 6
    assert s["fraction_of_duplicate_lines"] == 2 / len(lines)
    assert s["fraction_of_characters_in_duplicate_lines"] == 18 / sum(len(w) for w in words)


def test_edge_cases():
    empty = GopherV1().tag({"text": ""})
    assert empty["word_count"] == [[0, 0, 0.0]]
    assert not any("grams" in k for k in empty)
    one = gopher_statistics("word")
    assert one["word_count"] == 1 and one["median_word_length"] == 4.0
    assert not any("grams" in k for k in one)  # fewer than 2 words: no n-gram attributes (as dolma)
    spaces = gopher_statistics("   \n  ")
    assert spaces["word_count"] == 0 and spaces["fraction_of_duplicate_lines"] == 0.0
    two = gopher_statistics("to be")
    assert two["required_word_count"] == 2
    assert "fraction_of_characters_in_most_common_2grams" in two
    assert "fraction_of_characters_in_most_common_3grams" not in two


def test_c4_v2_lines_and_flags():
    text = "Hello there friend.\nno punct here\nJavaScript {x}\nlorem ipsum dolor sit."
    attrs = C4V2().tag({"text": text})
    assert attrs["lines_with_no_ending_punctuation"] == [[20, 34, 1.0], [34, 49, 1.0]]
    assert attrs["lines_with_too_few_words"] == [[34, 49, 1.0]]
    for flag in ("has_javascript", "has_curly_brace", "has_lorem_ipsum"):
        assert attrs[flag] == [[0, len(text), 1.0]]
    assert "has_naughty_word" not in attrs
    assert attrs["line_count"] == [[0, len(text), 4.0]]


def test_c4_offsets_with_non_ascii_and_custom_bad_words(tmp_path):
    words = tmp_path / "bad.txt"
    words.write_text("# comment\nzonk\nvery bad phrase\n")
    text = "İstanbul is big.\nzonk\nSo very bad phrase indeed."
    attrs = C4V2(bad_words_file=str(words)).tag({"text": text})
    assert attrs["has_naughty_word"] == [[0, len(text), 1.0]]
    [(s, e, _)] = attrs["lines_with_no_ending_punctuation"]
    assert text[s:e] == "zonk\n"  # offsets index the original text, not its lower-cased copy
    assert "has_naughty_word" not in C4V2(bad_words_file=str(words)).tag({"text": "zonky words."})


def test_c4_v1_javascript_is_a_word():
    assert "has_javascript" in C4V1().tag({"text": "enable javascript please"})
    assert "has_javascript" not in C4V1().tag({"text": "enable javascripts please"})
    assert "has_javascript" in C4V2().tag({"text": "enable javascripts please"})


def test_c4_empty_text():
    attrs = C4V2().tag({"text": ""})
    assert attrs["line_count"] == [[0, 0, 1.0]]
    assert attrs["lines_with_too_few_words"] == [[0, 0, 1.0]]


def test_values_dolma_expects_in_its_own_gopher_tests():
    # the expected numbers of dolma's tests/python/test_gopher.py (same attributes, same order)
    short = GopherV1().tag({"text": "This is a test."})
    assert len(short) == 13
    assert [(k, v[0][2]) for k, v in list(short.items())[:6]] == [
        ("fraction_of_characters_in_most_common_2grams", 0.5),
        ("fraction_of_characters_in_most_common_3grams", 0.5833333333333334),
        ("fraction_of_characters_in_most_common_4grams", 1.0),
        ("character_count", 15.0),
        ("word_count", 4.0),
        ("median_word_length", 3.0),
    ]
    text = "This is a sentence. \n  \n This is another sentence.\n\n  This is a third sentence."
    multi = GopherV1().tag({"text": text})
    assert len(multi) == 19 and all(v[0][:2] == [0, 79] for v in multi.values())
    assert multi["fraction_of_characters_in_most_common_2grams"][0][2] == 0.3050847457627119
    assert multi["fraction_of_characters_in_most_common_3grams"][0][2] == 0.23728813559322035
    assert multi["fraction_of_characters_in_most_common_4grams"][0][2] == 0.2711864406779661
    assert multi["fraction_of_characters_in_duplicate_10grams"][0][2] == 0.0
    assert (multi["word_count"][0][2], multi["median_word_length"][0][2]) == (13.0, 4.0)
    assert gopher_statistics("T h i s \n    \n\n\n    isoneword !!!")["word_count"] == 6
    assert gopher_statistics("The.and.that")["required_word_count"] == 0
    assert gopher_statistics("The and that")["required_word_count"] == 2  # case-sensitive, as dolma


@pytest.mark.parametrize("tagger", [C4V1, C4V2])
def test_values_dolma_expects_in_its_own_c4_tests(tagger, tmp_path):
    # the expected spans of dolma's tests/python/test_c4.py, for both variants (its list holds these words)
    words = tmp_path / "words.txt"
    words.write_text("viagra\nass\nstrap on\n")
    c4 = tagger(bad_words_file=str(words))
    assert "has_curly_brace" not in c4.tag({"text": "This is a test."})
    assert c4.tag({"text": "This is a test {"})["has_curly_brace"] == [[0, 16, 1.0]]
    assert c4.tag({"text": "This is a test javascript"})["has_javascript"] == [[0, 25, 1.0]]
    assert c4.tag({"text": "This is a lorem ipsum test\nmore test."})["has_lorem_ipsum"] == [[0, 37, 1.0]]
    text = "This is a test.\nIt has more;\nA trailing space! \nShould be good on this one.\nThis one is bad\n"
    assert c4.tag({"text": text})["lines_with_no_ending_punctuation"] == [
        [16, 29, 1.0],
        [76, 92, 1.0],
        [92, 92, 1.0],
    ]
    text = "Short!\nThis short.\nBarely above the limit!\nthis is last frontier."
    assert c4.tag({"text": text})["lines_with_too_few_words"] == [[0, 7, 1.0], [7, 19, 1.0]]
    bad = "This sentence mentions viagra as a bad word."
    assert c4.tag({"text": bad})["has_naughty_word"] == [[0, len(bad), 1.0]]
    assert "has_naughty_word" not in c4.tag(
        {"text": "This sentence has ass, but not a bad word because of comma."}
    )
    phrase = "If I say strap on because we are on a plane, it's still a bad word."
    assert c4.tag({"text": phrase})["has_naughty_word"] == [[0, len(phrase), 1.0]]
