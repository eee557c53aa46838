"""The built-in multiple-choice tasks load and render through lmforge.eval's task machinery."""

from __future__ import annotations

import os

from lmforge.documents import write_documents
from lmforge.pipeline.builtin_tasks import docstring_examples, next_line_examples, write_builtin_tasks

PROSE = [
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "Return the number of items stored in the container after all updates ran.",
    "Open the file named by path and read every line into a fresh list.",
    "Raise a ValueError when the argument is negative or larger than the limit.",
    "Convert the timestamp into local time using the configured zone settings.",
]


def _docs(tmp_path):
    docs_dir = tmp_path / "eval" / "stdlib-docs"
    code_dir = tmp_path / "eval" / "stdlib-code"
    write_documents(
        str(docs_dir / "0000.jsonl.gz"), [{"id": f"d{i}", "text": t} for i, t in enumerate(PROSE)]
    )
    code = "\n".join(
        f"def function_{i}(value):\n    result = value * {i} + offset_{i}\n    return result"
        for i in range(12)
    )
    write_documents(str(code_dir / "0000.jsonl.gz"), [{"id": "c0", "text": code}])
    return str(docs_dir), str(code_dir)


def test_examples_have_one_true_answer_among_four(tmp_path):
    docs_dir, code_dir = _docs(tmp_path)
    examples = docstring_examples([docs_dir], max_examples=10)
    assert len(examples) == len(PROSE)
    for ex in examples:
        assert len(ex["choices"]) == 4 and len(set(ex["choices"])) == 4
        assert f"{ex['context']} {ex['choices'][ex['gold']]}" in PROSE
    assert examples == docstring_examples([docs_dir], max_examples=10)  # deterministic
    code = next_line_examples([code_dir], max_examples=10)
    assert code and all(len(set(e["choices"])) == 4 for e in code)


def test_task_yaml_runs_through_the_eval_task_loader(tmp_path):
    from lmforge.eval.tasks.data import load_examples
    from lmforge.eval.tasks.prompts import gold_index
    from lmforge.eval.tasks.registry import get_task

    docs_dir, code_dir = _docs(tmp_path)
    paths = write_builtin_tasks([docs_dir], [code_dir], str(tmp_path / "tasks"))
    assert [os.path.basename(p) for p in paths] == ["stdlib_docstrings.yaml", "stdlib_next_line.yaml"]
    spec = get_task(paths[0])
    rows = load_examples(spec.dataset, spec.name)
    assert len(rows) == len(PROSE)
    assert [gold_index(spec, r) for r in rows] == [r["gold"] for r in rows]


def test_too_few_distinct_answers_make_no_task_instead_of_hanging(tmp_path):
    """Three held-out code lines cannot give each example three other answers: the distractor draw used to
    loop forever (a quickstart with a small --corpus.max_mb_per_source hung in its eval stage)."""
    from lmforge.pipeline.builtin_tasks import _multiple_choice

    assert _multiple_choice([("a", "x"), ("b", "y"), ("c", "z"), ("d", "x")], 10, seed=0) == []
    four = _multiple_choice([("a", "w"), ("b", "x"), ("c", "y"), ("d", "z")], 10, seed=0)
    assert len(four) == 4 and all(sorted(e["choices"]) == ["w", "x", "y", "z"] for e in four)
    code_dir = tmp_path / "code"
    write_documents(
        str(code_dir / "0000.jsonl.gz"), [{"id": "c", "text": "a\nb\nc\nd\nvalue = compute(1, 2)\n"}]
    )
    assert write_builtin_tasks([], [str(code_dir)], str(tmp_path / "tasks")) == []
