import pytest

from lmforge.curate.taggers.language import (
    Cld2EnglishParagraphWithDocScore,
    detect_language,
    paragraph_languages,
)

pytest.importorskip("pycld2")

EN = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."
DE = "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer zuschaut."


def test_detects_main_language_with_confidence():
    code, conf = detect_language(EN)
    assert code == "en" and 0.5 < conf <= 1.0
    assert detect_language(DE)[0] == "de"


def test_unknown_for_empty_and_noise():
    assert detect_language("") == ("un", 0.0)
    assert detect_language("12 34 56") == ("un", 0.0)


def test_survives_surrogates_and_control_characters():
    code, conf = detect_language("\ud800" + EN + "\x00\x01\x7f")
    assert code == "en" and conf > 0.5


def test_paragraph_scores_use_character_offsets():
    text = "ÄÖÜ " + EN + "\n\n" + DE
    paras = paragraph_languages(text)
    assert [p[2] for p in paras] == ["en", "de"]
    assert text[paras[1][0] : paras[1][1]] == DE


def test_english_paragraph_tagger_doc_score():
    text = EN + "\n" + DE
    attrs = Cld2EnglishParagraphWithDocScore().tag({"text": text})
    en_len = len(EN) + 1
    assert attrs["en"][0][:2] == [0, en_len] and attrs["en"][1][2] == 0.0
    assert attrs["doc_en"][0][2] == pytest.approx(en_len * attrs["en"][0][2] / len(text))
    assert attrs["doc_not_en"][0][2] == pytest.approx(1 - attrs["doc_en"][0][2])
