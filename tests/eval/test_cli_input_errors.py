"""`lmforge eval` on bad input or impossible options: one line naming the data (exit code 2), no traceback."""

from __future__ import annotations

import gzip
import json
import os
import re

import pytest

from lmforge.cli import main

COPA = [
    {"premise": "The sky darkened.", "choice1": "It rained.", "choice2": "It shone.", "question": "effect",
     "label": 0},
    {"premise": "He was thirsty.", "choice1": "He drank.", "choice2": "He slept.", "question": "effect",
     "label": 0},
]  # fmt: skip


def write_jsonl_gz(path: str, rows: list[dict]) -> None:
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


def _tasks(model: str, data_dir: str, output, *extra: str) -> list[str]:
    return ["eval", "tasks", model, "--tasks", "copa", "--data-dir", data_dir, "--output", str(output),
            "--no-progress", *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("row_change", "message"),
    [({"premise": None}, "copa example 1: missing field 'premise'"), ({"label": 7}, "gold index 7 outside")],
)
def test_a_task_row_without_its_fields_is_a_located_error(
    lmforge_model_dir, tmp_path, capsys, row_change, message
):
    good, bad = (dict(r) for r in COPA[:2])
    bad.update({k: v for k, v in row_change.items() if v is not None})
    for key in [k for k, v in row_change.items() if v is None]:
        del bad[key]
    write_jsonl_gz(os.path.join(tmp_path, "copa.validation.jsonl.gz"), [good, bad])
    assert main(_tasks(lmforge_model_dir, str(tmp_path), tmp_path / "r.json")) == 2
    err = capsys.readouterr().err
    # the file and line of the bad row, not only the folder
    assert f"{os.path.join(tmp_path, 'copa.validation.jsonl.gz')}:2: " in err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


def test_a_bad_few_shot_row_is_reported_by_its_own_file_and_line(lmforge_model_dir, tmp_path, capsys):
    """ARC renders its fields through templates (no preprocessing): a train row without its question fails
    only when it is drawn as a shot, and the error names the train file's line, not the evaluated example."""
    rows = [
        {"id": f"q{i}", "question": f"Question {i}?", "answerKey": "A",
         "choices": {"text": ["yes", "no"], "label": ["A", "B"]}}
        for i in range(3)
    ]  # fmt: skip
    write_jsonl_gz(os.path.join(tmp_path, "arc_easy.validation.jsonl.gz"), rows)
    broken = [dict(rows[0]), {k: v for k, v in rows[1].items() if k != "question"}]
    write_jsonl_gz(os.path.join(tmp_path, "arc_easy.train.jsonl.gz"), broken)
    args = ["eval", "tasks", lmforge_model_dir, "--tasks", "arc_easy", "--data-dir", str(tmp_path),
            "--num-fewshot", "2", "--output", str(tmp_path / "r.json"), "--no-progress"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{os.path.join(tmp_path, 'arc_easy.train.jsonl.gz')}:2: arc_easy few-shot example" in err
    assert "question" in err and "Traceback" not in err


def test_template_errors_carry_the_location_outside_the_cli(tmp_path):
    """In-loop and pipeline evaluation see the exception itself: its message names the file and line too."""
    from lmforge.eval.tasks.data import read_jsonl
    from lmforge.eval.tasks.prompts import render_examples
    from lmforge.eval.tasks.registry import get_task
    from lmforge.eval.tasks.template import TemplateError

    path = os.path.join(tmp_path, "rows.jsonl")
    with open(path, "w") as f:
        f.write(
            "\n"
            + json.dumps({"id": "x", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"})
            + "\n"
        )
    with pytest.raises(TemplateError, match=rf"^{re.escape(path)}:2: arc_easy example 0: field 'question'"):
        render_examples(get_task("arc_easy"), read_jsonl(path))


def test_more_shots_than_examples_is_a_config_error(lmforge_model_dir, tmp_path, capsys):
    write_jsonl_gz(os.path.join(tmp_path, "copa.validation.jsonl.gz"), COPA[:2])
    assert main(_tasks(lmforge_model_dir, str(tmp_path), tmp_path / "r.json", "--num-fewshot", "5")) == 2
    assert "num_fewshot: copa: 5 few-shot examples requested" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stride", "0"], "stride: must be at least 1"),
        (["--max-seq-len", "16", "--stride", "32"], "stride: must be at most max_seq_len (32 > 16)"),
        (["--batch-size", "0"], "batch_size: must be at least 1"),
    ],
)
def test_ppl_rejects_impossible_windows(lmforge_model_dir, tmp_path, capsys, extra, message):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "hello world"}) + "\n")
    args = ["eval", "ppl", lmforge_model_dir, "--data", str(docs), "--output", str(tmp_path / "r.json")]
    assert main([*args, "--no-progress", *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_task_file_with_an_unknown_preprocess_is_a_config_error():
    from lmforge.config import ConfigError
    from lmforge.eval.tasks.spec import task_from_dict

    task = {"name": "t", "dataset": {"path": "x"}, "context": "{q}", "choices": "{c}", "gold": "{g}"}
    with pytest.raises(ConfigError, match=r"preprocess: unknown preprocess 'nope'; known: \[.*'copa'"):
        task_from_dict({**task, "preprocess": "nope"}, where="t.yaml: ")
    assert task_from_dict({**task, "preprocess": "copa"}).preprocess == "copa"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_named(lmforge_model_dir, tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "hello world"}) + "\n")
    args = ["eval", "ppl", lmforge_model_dir, "--data", str(docs), "--output", str(tmp_path / "r.json")]
    assert main([*args, "--device", "cuda"]) == 2
    assert "device: cuda requested but no CUDA device" in capsys.readouterr().err
    assert main(["generate", lmforge_model_dir, "--prompt", "hi", "--device", "cuda"]) == 2
    assert "device: cuda requested but no CUDA device" in capsys.readouterr().err


def test_a_tokenizer_larger_than_the_embedding_is_refused_up_front(lmforge_model_dir, tmp_path, capsys):
    from tokenizers import Tokenizer, models

    import lmforge

    rows = lmforge.load_model(lmforge_model_dir).embeddings.weight.shape[0]
    big = tmp_path / "big.json"
    Tokenizer(models.WordLevel({f"w{i}": i for i in range(rows + 10)}, unk_token="w0")).save(str(big))
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "w1 w2"}) + "\n")
    args = ["eval", "ppl", lmforge_model_dir, "--data", str(docs), "--output", str(tmp_path / "r.json")]
    assert main([*args, "--tokenizer", str(big), "--no-progress"]) == 2
    assert f"has {rows + 10} ids but the model embeds only {rows}" in capsys.readouterr().err
    assert main([*args, "--prefix-token-id", str(rows), "--no-progress"]) == 2
    assert "prefix_token_id: must be in" in capsys.readouterr().err
    assert main(["generate", lmforge_model_dir, "--prompt", "w1", "--tokenizer", str(big)]) == 2
    assert f"has {rows + 10} ids" in capsys.readouterr().err


def test_nothing_to_evaluate_is_said_plainly(lmforge_model_dir, tmp_path, capsys):
    docs = tmp_path / "empty.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": ""}) + "\n")
    args = ["eval", "ppl", lmforge_model_dir, "--data", str(docs), "--output", str(tmp_path / "r.json")]
    assert main([*args, "--no-progress"]) == 2
    assert "no non-empty documents to score (1 read)" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
    assert main(_tasks(lmforge_model_dir, str(tmp_path), tmp_path / "t.json", "--tasks", " , ")) == 2
    assert "tasks: no task names" in capsys.readouterr().err


def test_no_results_file_claims_a_run_whose_per_document_file_failed(lmforge_model_dir, tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "hello world"}) + "\n")
    (tmp_path / "r.documents.jsonl").mkdir()  # the side file cannot be written
    args = ["eval", "ppl", lmforge_model_dir, "--data", str(docs), "--output", str(tmp_path / "r.json")]
    assert main([*args, "--no-progress"]) == 2
    assert "r.documents.jsonl" in capsys.readouterr().err
    # results.json was written first: it stood there as a finished run without its documents file
    assert not (tmp_path / "r.json").exists()
