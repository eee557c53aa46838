import math

import pytest

from lmforge.eval.perplexity import DocumentScore, aggregate, count_words, metrics_from_sums
from lmforge.eval.tasks.metrics import argmax, example_predictions


def test_argmax_ties_go_to_first_like_numpy():
    assert argmax([1.0, 3.0, 3.0]) == 1
    assert argmax([-1.0]) == 0


def test_choice_metrics_formulas():
    lls = [-6.0, -4.0, -9.0]
    texts = ["abcdef", "ab", "abcdefghi"]  # acc_norm: -1.0, -2.0, -1.0 -> first of the tied best
    tokens = [3, 1, 9]  # per token: -2, -4, -1
    uncond = [-1.0, -3.5, -10.0]  # pmi: -5, -0.5, 1
    preds = example_predictions(
        ["acc", "acc_norm", "acc_per_token", "acc_uncond"], lls, texts, tokens, uncond
    )
    assert preds == {"acc": 1, "acc_norm": 0, "acc_per_token": 2, "acc_uncond": 2}


def test_acc_norm_counts_characters_not_bytes():
    # "é" is one character (two UTF-8 bytes): -2/1 beats -3/1... per character "éé" = -1.5 vs "ab" = -1.25
    preds = example_predictions(["acc_norm"], [-3.0, -2.5], ["éé", "ab"], [1, 1])
    assert preds["acc_norm"] == 1


def test_perplexity_metrics_from_sums():
    m = metrics_from_sums(nll=20.0, tokens=10, n_bytes=40, words=5)
    assert m["loss"] == pytest.approx(2.0)
    assert m["token_perplexity"] == pytest.approx(math.exp(2.0))
    assert m["bits_per_byte"] == pytest.approx(0.5 / math.log(2))
    assert m["word_perplexity"] == pytest.approx(math.exp(4.0))
    assert count_words("a  b\nc") == 3


def _doc(source, domain, logprob, tokens, n_bytes=10, words=2):
    return DocumentScore("x", source, domain, logprob, tokens, n_bytes, words, 1)


def test_aggregate_micro_macro_and_sources():
    scores = [
        _doc("web", "en", -10.0, 10),
        _doc("web", "en", -30.0, 10),  # web/en: loss 2
        _doc("web", "de", -40.0, 10),  # web/de: loss 4
        _doc("code", "code", -5.0, 5),  # code: loss 1 (domain == source: key "code")
    ]
    out = aggregate(scores)
    assert set(out["domains"]) == {"web/en", "web/de", "code"}
    assert out["domains"]["web/en"]["loss"] == pytest.approx(2.0)
    assert out["domains"]["web/en"]["documents"] == 2
    assert out["sources"]["web"]["loss"] == pytest.approx(3.0)  # macro over its two domains
    assert out["sources"]["web"]["token_perplexity"] == pytest.approx((math.exp(2) + math.exp(4)) / 2)
    assert out["overall"]["macro"]["loss"] == pytest.approx((2 + 4 + 1) / 3)
    assert out["overall"]["micro"]["loss"] == pytest.approx(85 / 35)
    assert out["overall"]["micro"]["tokens"] == 35
