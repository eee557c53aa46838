import pytest

from lmforge.curate.taggers import Tagger, make_tagger, register_tagger, tagger_names
from lmforge.curate.taggers.code import CodeHeuristics
from lmforge.curate.taggers.fasttext import FastTextClassifier
from lmforge.curate.taggers.lengths import CharLength, WhitespaceTokensWithParagraphs, WordLength
from lmforge.curate.taggers.repetition import Repetition


def test_every_builtin_tagger_handles_edge_cases():
    for name in tagger_names():
        if name == "fasttext_v1":
            continue
        tagger = make_tagger(name)
        for text in ["", "word", "Ünï ☃ 日本語\n\n x\ud800y \x00", "a\nb\n"]:
            attrs = tagger.tag({"text": text})
            for key, spans in attrs.items():
                assert "__" not in key
                for start, end, score in spans:
                    assert 0 <= start <= end <= len(text), (name, key, text)
                    assert isinstance(score, (int, float))


def test_lengths():
    text = "héllo wörld\n\nsecond line here"
    assert CharLength().tag({"text": text}) == {"length": [[0, len(text), float(len(text))]]}
    attrs = WordLength().tag({"text": text})
    assert attrs["words"] == [[0, len(text), 5.0]]
    assert attrs["paragraphs"] == [[0, len(text), 2.0]]
    assert attrs["paragraph_words"] == [[0, 12, 2.0], [13, len(text), 3.0]]
    # dolma's whitespace tokenizer counts the pieces between tokens: tokens + 1
    ws = WhitespaceTokensWithParagraphs().tag({"text": "hello, world"})
    assert ws["paragraph"] == [[0, 12, 4.0]]


def test_repetition():
    text = "same\nother\nsame\naaaaaaaaaaaa"
    attrs = Repetition().tag({"text": text})
    assert attrs["repeated_paragraph"] == [[11, 16, 1.0]]
    assert attrs["duplicate_paragraph_fraction"][0][2] == 1 / 4
    assert attrs["longest_char_run"][0][2] == 12.0
    assert attrs["top_word_fraction"][0][2] == 2 / 4
    assert Repetition().tag({"text": ""})["unique_word_ratio"][0][2] == 1.0


def test_code_heuristics():
    text = "def f(x):\n    return x+1\n"
    attrs = CodeHeuristics().tag({"text": text})
    assert attrs["max_line_length"][0][2] == 14.0  # "    return x+1"
    assert attrs["line_count"][0][2] == 3.0
    assert attrs["alphanumeric_fraction"][0][2] == pytest.approx(sum(c.isalnum() for c in text) / len(text))
    assert CodeHeuristics().tag({"text": ""})["alphanumeric_fraction"][0][2] == 0.0


def test_fasttext_tagger_with_a_real_model_file(tmp_path, fasttext_model):
    model = fasttext_model(
        tmp_path / "quality.bin", ["good", "bad"], ["hq", "lq"], [[1, 0], [0, 1]], [[5, -5], [-5, 5]]
    )
    tagger = make_tagger("fasttext_v1", model_path=str(model))
    attrs = tagger.tag({"text": "good good\ngood"})
    assert attrs["hq"][0][:2] == [0, 14] and attrs["hq"][0][2] > 0.99
    assert attrs["lq"][0][2] < 0.01
    para = make_tagger("fasttext_v1", model_path=str(model), level="paragraph", labels=["hq"])
    text = "good text\nbad bad\n"
    attrs = para.tag({"text": text})
    assert [s[:2] for s in attrs["hq"]] == [[0, 10], [10, 18]]
    assert attrs["hq"][0][2] > 0.99 and attrs["hq"][1][2] < 0.01
    assert set(attrs) == {"hq", "doc_hq"}
    assert attrs["doc_hq"][0][2] == pytest.approx((10 * attrs["hq"][0][2] + 8 * attrs["hq"][1][2]) / 18)
    odd = tagger.tag({"text": "good \ud800 bad\x00 good"})  # a lone surrogate must not crash the C++ side
    assert odd["hq"][0][2] > 0.5


def test_fasttext_tagger_with_injected_predictor():
    seen = []

    def predictor(text):
        seen.append(text)
        return [("toxic", 0.25)]

    attrs = FastTextClassifier(predictor=predictor).tag({"text": "a\nb  c"})
    assert seen == ["a b c"]  # flattened to one line, as fastText reads one example a line
    assert attrs == {"toxic": [[0, 6, 0.25]]}
    with pytest.raises(ValueError, match="model_path"):
        FastTextClassifier()


def test_register_custom_tagger():
    @register_tagger("test_upper_v1", replace=True)
    class Upper(Tagger):
        def tag(self, doc):
            text = doc["text"]
            return {"upper": [[0, len(text), sum(c.isupper() for c in text) / max(len(text), 1)]]}

    assert "test_upper_v1" in tagger_names()
    assert make_tagger("test_upper_v1").tag({"text": "AbC"}) == {"upper": [[0, 3, 2 / 3]]}
    with pytest.raises(ValueError, match="already registered"):
        register_tagger("test_upper_v1")(type("Other", (Tagger,), {}))
    with pytest.raises(ValueError, match="__"):
        register_tagger("bad__name")
    with pytest.raises(KeyError, match="unknown tagger"):
        make_tagger("no_such_tagger")
    with pytest.raises(TypeError, match="takes no options"):
        make_tagger("gopher_v1", nonsense=1)


def test_tagger_option_mistakes_are_said_in_the_users_terms(tmp_path):
    from lmforge.curate.taggers.registry import make_tagger
    from lmforge.io import InputError

    with pytest.raises(
        TypeError, match=r"tagger 'c4_v2' has no option 'bad_word_file'; options: \['bad_words_file'\]"
    ):
        make_tagger("c4_v2", bad_word_file="x.txt")
    latin1 = tmp_path / "words.txt"
    latin1.write_bytes("schei\xdf\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"words\.txt: invalid UTF-8 at byte 5"):
        make_tagger("c4_v2", bad_words_file=str(latin1))


def test_taggers_command_lists_every_tagger_with_a_summary_and_its_options(capsys):
    from lmforge.curate.cli import main as curate_main

    assert curate_main(["taggers"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(lines) == set(tagger_names())
    for name, line in lines.items():
        if name.startswith("test_"):  # registered by other tests, without docstrings
            continue
        assert len(line.split(maxsplit=1)) == 2 and "(no docstring)" not in line, line
        assert not line.rstrip().endswith(":"), line  # a sentence, not the start of a list
    assert lines["c4_v2"].endswith("[options: bad_words_file]")
    assert "[options: model_path, level, k, labels]" in lines["fasttext_v1"]
    assert "options" not in lines["gopher_v1"]
