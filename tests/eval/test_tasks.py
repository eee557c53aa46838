import json
import os

import pytest

from lmforge.config import ConfigError
from lmforge.eval.tasks.prompts import render_examples
from lmforge.eval.tasks.registry import MMLU_SUBJECTS, builtin_task_names, get_task
from lmforge.eval.tasks.template import TemplateError, render

DOC = {
    "q": " Why? ",
    "choices": {"text": ["a", "b"], "label": ["X", "Y"]},
    "n": "3",
    "subject": "high_school_x",
}


def test_template_paths_filters_and_raw_values():
    assert render("Q: {q|strip}\nA:", DOC) == "Q: Why?\nA:"
    assert render("{choices.text}", DOC) == ["a", "b"]  # a lone placeholder keeps its type
    assert render("{choices.text[1]}!", DOC) == "b!"
    assert render("{n|int}", DOC) == 3
    assert render("about {subject|spaces}", DOC) == "about high school x"
    assert render("{{literal}} {q|lstrip}", DOC) == "{literal} Why? "
    assert render(["{n}", 5], DOC) == ["3", 5]
    with pytest.raises(TemplateError, match="no 'nope'"):
        render("{nope}", DOC)
    with pytest.raises(TemplateError, match="unknown filter"):
        render("{q|shout}", DOC)


def test_every_builtin_task_loads_with_its_variants():
    names = builtin_task_names()
    for expected in ("arc_easy", "arc_challenge", "boolq", "hellaswag", "openbookqa", "piqa", "sciq",
                     "social_iqa", "copa", "commonsense_qa", "winogrande", "mmlu"):  # fmt: skip
        assert expected in names
    for name in names:
        spec = get_task(name)
        for variant in spec.variants:
            assert get_task(f"{name}:{variant}").name == f"{name}:{variant}"
    assert len(MMLU_SUBJECTS) == 57
    assert get_task("mmlu_virology").name == "mmlu_virology"


def test_unknown_task_variant_and_metric_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown task"):
        get_task("arc_medium")
    with pytest.raises(ConfigError, match="no variant"):
        get_task("piqa:fancy")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: t\ndataset: {files: x.jsonl}\ncontext: '{q}'\nchoices: [a]\ngold: 0\nmetrics: [f1]\n"
    )
    with pytest.raises(ConfigError, match="unknown metric"):
        get_task(str(bad))
    bad.write_text("name: t\ndataset: {files: x.jsonl}\ncontext: '{q}'\nchoices: [a]\ngold: 0\ncontxt: 1\n")
    with pytest.raises(ConfigError, match="did you mean 'context'"):
        get_task(str(bad))


def test_user_yaml_task_with_local_files_runs_end_to_end(tmp_path, lmforge_model_dir):
    import lmforge
    from lmforge.eval.downstream import evaluate_tasks
    from lmforge.eval.tokenizer import load_eval_tokenizer

    rows = [
        {"q": "Is water wet?", "opts": ["yes", "no"], "ans": 0},
        {"q": "Is fire cold?", "opts": ["yes", "no"], "ans": 1},
    ]
    data = tmp_path / "yesno.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "yesno.yaml"
    task.write_text(
        f"name: yesno\ndataset: {{files: {data}}}\ncontext: 'Q: {{q}}\n\n  A:'\nchoices: '{{opts}}'\ngold: '{{ans}}'\n"
        "metrics: [acc, acc_norm, acc_per_token, acc_uncond]\n"
        "variants:\n  mc: {format: mc, mc: {question: 'Q: {q}'}, metrics: [acc]}\n"
    )
    model, tok = lmforge.load_model(lmforge_model_dir), load_eval_tokenizer(lmforge_model_dir)
    results, records = evaluate_tasks(model, tok, [str(task), f"{task}:mc"], progress=False)
    assert set(results["yesno"]) >= {"acc", "acc_norm", "acc_per_token", "acc_uncond", "num_examples"}
    assert results["yesno"]["num_examples"] == 2
    first = records[0]
    assert first["contexts"] == ["Q: Is water wet?\nA:"] and first["continuations"] == [" yes", " no"]
    assert len(first["uncond_loglikelihoods"]) == 2
    for metric in ("acc", "acc_norm", "acc_per_token", "acc_uncond"):  # the summary is the mean of records
        mean = sum(r["correct"][metric] for r in records if r["task"] == "yesno") / 2
        assert results["yesno"][metric] == mean
    assert results["yesno:mc"]["num_examples"] == 2
    mc = [r for r in records if r["task"] == "yesno:mc"]
    assert mc and mc[0]["contexts"][0] == "Q: Is water wet?\n A. yes\n B. no\nAnswer:"
    assert mc[0]["continuations"] == [" A", " B"]


def test_kshot_is_seeded_and_never_uses_the_example_itself(data_dir):
    from lmforge.eval.tasks.data import load_examples

    spec = get_task("piqa")
    rows = load_examples(spec.dataset, "piqa", data_dir)
    first = render_examples(spec, rows, 1, rows, True)
    again = render_examples(spec, rows, 1, rows, True)
    assert [e.contexts for e in first] == [e.contexts for e in again]
    for ex, row in zip(first, rows):
        shot = ex.contexts[0].split("\n\n")[0]
        assert row["goal"] not in shot


def test_limit_and_mmlu_groups_through_the_cli(tmp_path, lmforge_model_dir, data_dir):
    from lmforge.cli import main

    out = tmp_path / "res" / "results.json"
    code = main(["eval", "tasks", lmforge_model_dir, "--tasks", "arc_easy,winogrande,mmlu", "--data-dir", data_dir,
                 "--limit", "1", "--num-fewshot", "1", "--output", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    results = json.loads(out.read_text())
    assert results["arc_easy"]["num_examples"] == 1 and results["arc_easy"]["num_fewshot"] == 1
    assert results["mmlu"]["num_examples"] == 2  # --limit 1 per subject, as lm-eval limits each subtask
    assert {"mmlu_abstract_algebra", "mmlu_anatomy"} <= set(results)
    per_example = (tmp_path / "res" / "results.examples.jsonl").read_text().splitlines()
    assert len(per_example) == 4
    assert os.path.exists(out)


def test_missing_local_file_is_a_clear_error(tmp_path, lmforge_model_dir):
    from lmforge.cli import main

    code = main(["eval", "tasks", lmforge_model_dir, "--tasks", "piqa", "--data-dir", str(tmp_path),
                 "--output", str(tmp_path / "r.json"), "--no-progress"])  # fmt: skip
    assert code == 2


def test_group_breakdown_keys(lmforge_model_dir, data_dir):
    import lmforge
    from lmforge.eval.downstream import evaluate_tasks
    from lmforge.eval.tokenizer import load_eval_tokenizer

    model, tok = lmforge.load_model(lmforge_model_dir), load_eval_tokenizer(lmforge_model_dir)
    results, _ = evaluate_tasks(model, tok, ["mmlu:rc", "mmlu_anatomy"], data_dir, progress=False)
    assert {"mmlu:rc", "mmlu_abstract_algebra:rc", "mmlu_anatomy:rc", "mmlu_anatomy"} == set(results)
    assert results["mmlu_anatomy"]["num_examples"] == 1


def test_without_a_data_dir_tasks_load_from_the_hub_by_name(monkeypatch, mmlu_rows, lmforge_model_dir):
    """No network here: `datasets.load_dataset` is replaced by a recorder, which checks that each task asks
    the hub for lm-eval's dataset, config and split (eval and few-shot), and that the rows flow through."""
    datasets = pytest.importorskip("datasets")
    import lmforge
    from lmforge.eval.downstream import evaluate_tasks
    from lmforge.eval.tokenizer import load_eval_tokenizer

    arc = [{"id": f"a{i}", "question": f"Which {i}?", "answerKey": "B",
            "choices": {"text": ["no", "yes", "maybe"], "label": ["A", "B", "C"]}} for i in range(3)]  # fmt: skip
    hub = {
        ("allenai/ai2_arc", "ARC-Easy", "validation"): arc,
        ("allenai/ai2_arc", "ARC-Easy", "train"): arc[::-1],
        ("cais/mmlu", "all", "test"): mmlu_rows["test"],
        ("cais/mmlu", "all", "dev"): mmlu_rows["dev"],
    }
    asked = []

    def load_dataset(path, name=None, split=None):
        asked.append((path, name, split))
        return hub[(path, name, split)]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    model, tok = lmforge.load_model(lmforge_model_dir), load_eval_tokenizer(lmforge_model_dir)
    results, records = evaluate_tasks(model, tok, ["arc_easy", "mmlu_anatomy"], num_fewshot=1, progress=False)
    assert asked == [
        ("allenai/ai2_arc", "ARC-Easy", "validation"),
        ("allenai/ai2_arc", "ARC-Easy", "train"),
        ("cais/mmlu", "all", "test"),
        ("cais/mmlu", "all", "dev"),
    ]
    assert results["arc_easy"]["num_examples"] == 3 and results["mmlu_anatomy"]["num_examples"] == 1
    anatomy = next(r for r in records if r["task"] == "mmlu_anatomy")
    assert (
        "Bones?" in anatomy["contexts"][0] and "1 + 1" not in anatomy["contexts"][0]
    )  # dev shot, same subject


def test_olmes_variants_add_pmi_with_the_answer_prompt(lmforge_model_dir, data_dir):
    """OLMES scores ARC-Challenge, OpenBookQA and CommonsenseQA with PMI: log p(choice | question) minus
    log p(choice | "Answer:"); the unconditional scores are real log-likelihoods of that pair."""
    import lmforge
    from lmforge.eval.downstream import PairEncoder, evaluate_tasks
    from lmforge.eval.scoring import Scorer
    from lmforge.eval.tokenizer import load_eval_tokenizer

    for name in ("arc_challenge:olmes", "openbookqa:olmes", "commonsense_qa:olmes"):
        spec = get_task(name)
        assert "acc_uncond" in spec.metrics and spec.uncond_context == "Answer:"
    assert "acc_uncond" not in get_task("arc_challenge").metrics  # the lm-eval default stays as it is
    model, tok = lmforge.load_model(lmforge_model_dir), load_eval_tokenizer(lmforge_model_dir)
    results, records = evaluate_tasks(model, tok, ["arc_challenge:olmes"], data_dir, progress=False)
    assert set(results["arc_challenge:olmes"]) >= {"acc", "acc_norm", "acc_uncond"}
    first = records[0]
    pairs = PairEncoder(tok).encode_pairs([("Answer:", c) for c in first["continuations"]])
    expected = [s.logprob for s in Scorer(model, 64, progress=False).score(pairs)]
    assert first["uncond_loglikelihoods"] == pytest.approx(expected, abs=1e-5)


def test_task_file_data_paths_are_relative_to_the_task_file(tmp_path, monkeypatch, lmforge_model_dir):
    """docs/evaluation.md's example says ``files: data/yesno.jsonl.gz``; run from another directory, that
    path used to be looked up in the current directory and the task failed with 'no files match'."""
    from lmforge.cli import main

    task_dir = tmp_path / "tasks"
    (task_dir / "data").mkdir(parents=True)
    rows = [
        {"q": "Is water wet?", "opts": ["yes", "no"], "ans": 0},
        {"q": "Hot ice?", "opts": ["yes", "no"], "ans": 1},
    ]
    (task_dir / "data" / "yesno.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (task_dir / "yesno.yaml").write_text(
        "name: yesno\ndataset: {files: data/yesno.jsonl}\ncontext: 'Q: {q}'\nchoices: '{opts}'\ngold: '{ans}'\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = get_task(str(task_dir / "yesno.yaml"))
    assert spec.dataset.files == str(task_dir / "data" / "yesno.jsonl")
    out = tmp_path / "r.json"
    code = main(["eval", "tasks", lmforge_model_dir, "--tasks", str(task_dir / "yesno.yaml"),
                 "--output", str(out), "--no-progress"])  # fmt: skip
    assert code == 0 and json.loads(out.read_text())["yesno"]["num_examples"] == 2
    # a path that exists only relative to the current directory keeps working
    (elsewhere / "cwd.jsonl").write_text(json.dumps(rows[0]) + "\n")
    (task_dir / "cwd.yaml").write_text(
        "name: cwd\ndataset: {files: cwd.jsonl}\ncontext: 'Q: {q}'\nchoices: '{opts}'\ngold: '{ans}'\n"
    )
    assert get_task(str(task_dir / "cwd.yaml")).dataset.files == "cwd.jsonl"


def test_a_task_listed_twice_is_an_error_not_scored_twice(data_dir):
    """`--tasks arc_easy,arc_easy` scored every example twice and wrote each record twice under one key."""
    from lmforge.eval.downstream import prepare_tasks

    with pytest.raises(ConfigError, match="'arc_easy' and 'arc_easy' are both task 'arc_easy'"):
        prepare_tasks(["arc_easy", "arc_easy"], tokenizer=None, data_dir=data_dir)


def test_offline_hub_failure_names_the_data_dir_alternative(monkeypatch, lmforge_model_dir):
    """Offline, `eval tasks` without --data-dir said only "Couldn't reach 'allenai/ai2_arc' on the Hub"."""
    datasets = pytest.importorskip("datasets")
    from lmforge.eval.downstream import prepare_tasks
    from lmforge.eval.tokenizer import load_eval_tokenizer

    def offline(path, name=None, split=None):
        raise ConnectionError(f"Couldn't reach {path!r} on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(
        ConnectionError, match=r"ai2_arc.*pass --data-dir DIR holding arc_easy\.validation\.jsonl"
    ):
        prepare_tasks(["arc_easy:mc"], load_eval_tokenizer(lmforge_model_dir))


def test_cli_warns_when_prompts_exceed_the_context(tmp_path, lmforge_model_dir, data_dir, caplog):
    """k-shot prompts longer than the model's context were cut from the left without a word (as in lm-eval):
    a user scoring a short-context model saw plausible numbers for prompts the model never fully read."""
    from lmforge.cli import main

    def run(max_len: str, shots: str) -> list[str]:
        caplog.clear()
        args = ["eval", "tasks", lmforge_model_dir, "--tasks", "arc_easy", "--data-dir", data_dir,
                "--num-fewshot", shots, "--max-seq-len", max_len, "--output", str(tmp_path / "r.json"), "--no-progress"]  # fmt: skip
        with caplog.at_level("WARNING", logger="lmforge.eval.cli"):
            assert main(args) == 0
        return [r.getMessage() for r in caplog.records if r.name == "lmforge.eval.cli"]

    short = run("8", "2")
    assert len(short) == 1 and "arc_easy:" in short[0] and "exceed the 8-token context" in short[0]
    assert run("64", "0") == []


def test_output_may_be_a_folder(tmp_path, lmforge_model_dir, data_dir):
    """`--output out/` (lm-eval's --output_path takes a folder) scored every example and then failed with
    "[Errno 20] Not a directory: '..tmp-xxxx' -> 'out/'"; an existing folder failed with Errno 21."""
    from lmforge.cli import main

    existing = tmp_path / "existing"
    existing.mkdir()
    for output, folder in ((str(existing), existing), (f"{tmp_path / 'new'}/", tmp_path / "new")):
        code = main(["eval", "tasks", lmforge_model_dir, "--tasks", "copa", "--data-dir", data_dir,
                     "--output", output, "--no-progress"])  # fmt: skip
        assert code == 0
        assert json.loads((folder / "results.json").read_text())["copa"]["num_examples"] == 2
        assert len((folder / "results.examples.jsonl").read_text().splitlines()) == 2
