"""Contamination finds planted overlaps, and only those."""

import gzip
import json

from analyze_fixtures import doc, write_docs

from lmforge.analyze import AnalyzeOptions, analyze_corpus
from lmforge.analyze.contamination import example_segments, load_eval_sets, set_name

PLANTED_LONG = (
    "Which of these processes moves water from the leaves of a plant into the surrounding air on hot days"
)
PLANTED_SHORT = "the boy kicked the red ball over the fence"  # 9 words: checked with 8-grams
CLEAN = (
    "What is the boiling point of liquid nitrogen measured at standard atmospheric pressure in a laboratory"
)


def write_eval(path, rows):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def options(**overrides):
    base = dict(top_k=0, languages=False, pii=False, duplicates=False, progress=False, plots=False)
    base.update(overrides)
    return AnalyzeOptions(**base)


def make_eval_dir(tmp_path):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir(exist_ok=True)
    write_eval(
        eval_dir / "arc_easy.validation.jsonl.gz",
        [
            {
                "id": "q1",
                "question": PLANTED_LONG + "?",
                "choices": {"text": ["transpiration", "erosion"], "label": ["A", "B"]},
                "answerKey": "A",
            },
            {
                "id": "q2",
                "question": CLEAN + "?",
                "choices": {"text": ["77 K", "100 K"], "label": ["A", "B"]},
                "answerKey": "A",
            },
            {
                "id": "q3",
                "question": "Too short to check?",
                "choices": {"text": ["a", "b"], "label": ["A", "B"]},
                "answerKey": "A",
            },
        ],
    )
    write_eval(
        eval_dir / "winogrande.validation.jsonl.gz",
        [
            {
                "sentence": PLANTED_SHORT.capitalize() + ".",
                "option1": "boy",
                "option2": "ball",
                "answer": "1",
            },
            {
                "sentence": "Sarah was a much better surgeon than Maria so _ always got the easier cases.",
                "option1": "Sarah",
                "option2": "Maria",
                "answer": "2",
            },
        ],
    )
    return eval_dir


def test_planted_overlaps_are_found_with_their_documents(tmp_path):
    corpus = tmp_path / "docs"
    write_docs(
        str(corpus / "web" / "0.jsonl.gz"),
        [
            doc("clean-1", "Nothing to see here, just an ordinary page about gardening and tomatoes.", "web"),
            # different case and punctuation: still an overlap
            doc(
                "leak-1",
                "Quiz time! WHICH of these processes moves water, from the leaves of a plant into the surrounding air on hot days? Answer below.",
                "web",
            ),
        ],
    )
    write_docs(
        str(corpus / "books" / "0.jsonl.gz"),
        [doc("leak-2", "In chapter two " + PLANTED_SHORT + " and ran home.", "books")],
    )
    report = analyze_corpus(str(corpus), None, options(eval_data=[str(make_eval_dir(tmp_path))]))
    sets = report["contamination"]["sets"]
    arc, wino = sets["arc_easy.validation"], sets["winogrande.validation"]
    assert (arc["examples"], arc["checkable"], arc["too_short"], arc["contaminated"]) == (3, 2, 1, 1)
    assert arc["share"] == 1 / 3
    [listed] = arc["examples_listed"]
    assert listed["example"] == "q1"
    assert [d["id"] for d in listed["documents"]] == ["leak-1"]
    assert listed["documents"][0]["line"] == 2 and listed["documents"][0]["source"] == "web"
    assert 0 < listed["share"] <= 1
    assert (wino["examples"], wino["contaminated"]) == (2, 1)
    assert [d["id"] for d in wino["examples_listed"][0]["documents"]] == ["leak-2"]
    assert report["contamination"]["corpus_documents_with_overlap"] == 2
    assert report["contamination"]["corpus_documents_with_overlap_by_source"] == {"books": 1, "web": 1}


def test_min_share_and_clean_corpus(tmp_path):
    corpus = tmp_path / "docs"
    write_docs(
        str(corpus / "web" / "0.jsonl.gz"),
        [doc("d", "An unrelated text about the history of bicycles in Amsterdam and Utrecht.", "web")],
    )
    report = analyze_corpus(str(corpus), None, options(eval_data=[str(make_eval_dir(tmp_path))]))
    assert all(s["contaminated"] == 0 for s in report["contamination"]["sets"].values())
    leak = tmp_path / "leak"
    # only the first 13 words of the question: a few of its n-grams, not most of them
    write_docs(str(leak / "web" / "0.jsonl.gz"), [doc("d", " ".join(PLANTED_LONG.split()[:13]), "web")])
    strict = analyze_corpus(
        str(leak), None, options(eval_data=[str(make_eval_dir(tmp_path))], contamination_min_share=0.5)
    )
    loose = analyze_corpus(str(leak), None, options(eval_data=[str(make_eval_dir(tmp_path))]))
    assert strict["contamination"]["sets"]["arc_easy.validation"]["contaminated"] == 0
    assert loose["contamination"]["sets"]["arc_easy.validation"]["contaminated"] == 1


def test_dolma_documents_as_evaluation_set(tmp_path):
    eval_docs = tmp_path / "evaldocs" / "wiki" / "part-0000.jsonl.gz"
    write_docs(str(eval_docs), [doc("e1", PLANTED_LONG), doc("e2", CLEAN)])
    corpus = tmp_path / "docs"
    write_docs(str(corpus / "web" / "0.jsonl.gz"), [doc("leak", PLANTED_LONG + " and more.", "web")])
    [eval_set] = load_eval_sets(str(tmp_path / "evaldocs"))
    assert eval_set.name == "wiki" and eval_set.ids == ["e1", "e2"]
    report = analyze_corpus(str(corpus), None, options(eval_data=[str(tmp_path / "evaldocs")]))
    assert report["contamination"]["sets"]["wiki"]["contaminated"] == 1


def test_field_selection():
    row = {
        "id": "x",
        "question": "Q?",
        "choices": {"text": ["a", "b"], "label": ["A", "B"]},
        "answerKey": "A",
    }
    assert example_segments(row, ["question", "choices.text"]) == ["Q?", "a", "b"]
    assert example_segments(row, None) == ["Q?", "a", "b"]  # auto: labels, ids and keys are not text
    assert example_segments({"text": "doc"}, None) == ["doc"]
    assert set_name("/data/eval/hellaswag.validation.jsonl.gz") == "hellaswag.validation"
    assert set_name("/data/eval/web/part-0003.jsonl.gz") == "web"


def test_vectorised_index_equals_per_segment_ngrams(tmp_path):
    import numpy as np

    from lmforge.analyze.contamination import build_eval_index, segment_ngrams

    [arc, wino] = load_eval_sets(str(make_eval_dir(tmp_path)))
    index = build_eval_index([arc, wino], n=13, short_n=8)
    for s, eval_set in enumerate([arc, wino]):
        for e, segments in enumerate(eval_set.segments):
            expected = np.unique(np.concatenate([segment_ngrams(t, 13, 8) for t in segments]))
            rows = (index.gram_sets == s) & (index.gram_examples == e)
            assert np.array_equal(np.sort(index.gram_hashes[rows]), expected)
            assert index.example_totals[s][e] == len(expected)


def test_field_map_covers_the_evaluation_task_definitions():
    """Every raw field the evaluation tasks' prompts show is a text field contamination checks."""
    import re

    import pytest

    from lmforge.analyze.contamination import TASK_FIELDS

    registry = pytest.importorskip("lmforge.eval.tasks.registry")
    for name in registry.builtin_task_names():
        spec = registry.get_task(name)
        if spec.preprocess:  # prompts built from derived fields (copa, hellaswag, winogrande)
            assert name in TASK_FIELDS
            continue
        templates = [spec.context] + (spec.choices if isinstance(spec.choices, list) else [spec.choices])
        shown = {
            re.sub(r"\[\d+\]$", "", field.split("|")[0])
            for template in templates
            for field in re.findall(r"\{([^{}]+)\}", template)
        }
        assert shown <= set(TASK_FIELDS[name]), (name, shown)
