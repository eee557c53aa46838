import json

from curate_testlib import doc, read_jsonl, write_docs

from lmforge.curate.config import DecontaminateConfig, ExecutionConfig
from lmforge.curate.decontaminate import run_decontaminate

CLEAN = "More clean text follows here, long enough to outweigh the quiz line in this document. " * 2
QUESTION = "Which planet in the solar system has the largest number of known moons orbiting it today"


def test_flags_and_removes_overlapping_paragraphs_and_documents(tmp_path):
    root = tmp_path / "data"
    write_docs(
        root / "documents/s/a.jsonl.gz",
        [
            doc(0, f"Clean intro line here.\nQuiz: {QUESTION.upper()}?\n{CLEAN}"),
            doc(1, QUESTION.replace(" the largest", "\nthe largest")),  # split over two lines
            doc(2, "Nothing to see here at all, this is a clean document about cooking pasta."),
        ],
    )
    eval_file = tmp_path / "eval" / "task.jsonl"
    eval_file.parent.mkdir()
    eval_file.write_text(
        json.dumps({"question": QUESTION, "choices": {"text": ["Saturn", "Mars"], "label": ["A", "B"]}})
        + "\n"
    )
    config = DecontaminateConfig(
        documents=[str(root / "documents/**/*.gz")],
        eval=[str(eval_file)],
        action="remove",
        output=str(tmp_path / "clean"),
    )
    summary = run_decontaminate(config, ExecutionConfig(progress=False))
    rows = [r["attributes"] for r in read_jsonl(root / "attributes/decontam/s/a.jsonl.gz")]
    para = "decontam__ngram_overlap__paragraph"
    assert [s[:2] for s in rows[0][para]] == [[23, 23 + len("Quiz: ") + len(QUESTION) + 2]]
    assert "decontam__ngram_overlap__contaminated" not in rows[0]
    assert "decontam__ngram_overlap__contaminated" in rows[1]
    assert rows[2][para] == []
    kept = read_jsonl(tmp_path / "clean/s/a.jsonl.gz")
    assert [d["id"] for d in kept] == ["0", "2"]
    assert kept[0]["text"] == "Clean intro line here.\n" + CLEAN
    total = summary["total"]
    assert total["filtered_by"] == {"contaminated document": 1}
    assert total["modified"] == {"contaminated_documents": 1, "contaminated_paragraphs": 3}
    assert summary["reconciles"] and summary["eval_texts"] == 1
