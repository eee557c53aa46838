"""lmforge's prompts, requests, log-likelihoods and accuracies against lm-eval 0.4.13 itself.

lm-eval's *stock* task configs are included (so its own doc_to_text / doc_to_choice / preprocessing run),
with the dataset pointed at tiny files written by the fixtures. Scores are compared with lm-eval's ``hf``
backend (HFLM) on a tiny random OlmoForCausalLM.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

lm_eval = pytest.importorskip("lm_eval")
pytest.importorskip("accelerate")

STOCK = {
    "arc_easy": "arc/arc_easy.yaml",
    "arc_challenge": "arc/arc_challenge.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "openbookqa": "openbookqa/openbookqa.yaml",
    "piqa": "piqa/piqa.yaml",
    "sciq": "sciq/sciq.yaml",
    "social_iqa": "siqa/siqa.yaml",
    "copa": "super_glue/copa/default.yaml",
    "commonsense_qa": "commonsense_qa/default.yaml",
    "winogrande": "winogrande/default.yaml",
}
# the HF google/boolq layout (boolean `answer`) instead of super_glue's `label`; the prompt stays stock
WITH_TEST_SPLIT = {"arc_easy", "arc_challenge", "openbookqa", "sciq"}
OVERRIDES = {"boolq": 'doc_to_target: "{{ 1 if answer else 0 }}"\n'}


@pytest.fixture(scope="module")
def lm_eval_tasks(data_dir, mmlu_rows, tmp_path_factory):
    from lm_eval.tasks import TaskManager

    os.environ["HF_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("hf_datasets_cache"))
    root = os.path.dirname(lm_eval.tasks.__file__)
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    for name, stock in STOCK.items():
        val, train = (os.path.join(data_dir, f"{name}.{s}.jsonl.gz") for s in ("validation", "train"))
        # Tasks with a stock test split keep it (lm-eval's few-shot sampling depends on it), fed our rows.
        split = "test" if name in WITH_TEST_SPLIT else "validation"
        (folder / f"t_{name}.yaml").write_text(
            f"include: {root}/{stock}\ntask: t_{name}\ntag: []\ndataset_path: json\ndataset_name: null\n"
            f"dataset_kwargs:\n  data_files: {{{split}: {val}, train: {train}}}\n"
            + ("" if name in WITH_TEST_SPLIT else "test_split: null\n")
            + OVERRIDES.get(name, "")
        )
    for subject in ("abstract_algebra", "anatomy"):
        paths = {}
        for split, rows in mmlu_rows.items():
            paths[split] = str(folder / f"mmlu_{subject}.{split}.jsonl")
            with open(paths[split], "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows if r["subject"] == subject)
        (folder / f"t_mmlu_{subject}.yaml").write_text(
            f"include: {root}/mmlu/default/mmlu_{subject}.yaml\ntask: t_mmlu_{subject}\ntag: []\n"
            f"dataset_path: json\ndataset_name: null\n"
            f"dataset_kwargs:\n  data_files: {{test: {paths['test']}, dev: {paths['dev']}}}\n"
        )
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    names = [f"t_{n}" for n in STOCK] + ["t_mmlu_abstract_algebra", "t_mmlu_anatomy"]
    return manager.load_task_or_group(names)


def _lm_eval_requests(task, num_fewshot):
    task.set_fewshot_seed(1234)
    docs = list(task.test_docs() if task.has_test_docs() else task.validation_docs())
    out = []
    for i, doc in enumerate(docs):
        ctx = task.fewshot_context(doc, num_fewshot=num_fewshot)
        out.append((doc, task.construct_requests(doc, ctx, metadata=(task.config.task, i, 1))))
    return out


def _ours(name, data_dir, num_fewshot):
    from lmforge.eval.downstream import _limit_rows
    from lmforge.eval.tasks.data import load_examples, load_fewshot_pool
    from lmforge.eval.tasks.prompts import render_examples
    from lmforge.eval.tasks.registry import get_task

    spec = get_task(name)
    rows = _limit_rows(spec, load_examples(spec.dataset, spec.name, data_dir), None)
    pool, same = load_fewshot_pool(spec.dataset, spec.name, data_dir, rows)
    return render_examples(spec, rows, num_fewshot, pool, same)


CASES = [(n, k) for n in STOCK for k in (0, 1)] + [
    ("mmlu_abstract_algebra", 0),
    ("mmlu_abstract_algebra", 2),
    ("mmlu_anatomy", 1),
]


@pytest.mark.parametrize("name,k", CASES)
def test_prompts_and_choices_equal_lm_eval(lm_eval_tasks, data_dir, name, k):
    theirs = _lm_eval_requests(lm_eval_tasks[f"t_{name}"], k)
    ours = _ours(name, data_dir, k)
    assert len(ours) == len(theirs)
    for ex, (_, instances) in zip(ours, theirs):
        assert list(zip(ex.contexts, ex.continuations)) == [inst.args for inst in instances]


def test_mmlu_group_and_fewshot_come_from_the_same_subject(data_dir, mmlu_rows):
    from lmforge.eval.tasks.registry import get_task

    examples = _ours("mmlu", data_dir, 1)
    assert len(examples) == len(mmlu_rows["test"])
    for ex in examples:
        assert ex.contexts[0].startswith(
            f"The following are multiple choice questions (with answers) about {ex.group.replace('_', ' ')}."
        )
    assert "Bones?" in next(ex for ex in examples if ex.group == "anatomy").contexts[0]
    assert get_task("mmlu_anatomy").dataset.filter_value == "anatomy"


@pytest.fixture(scope="module")
def hflm(hf_model_dir):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=hf_model_dir, batch_size=3, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def hf_model(hf_model_dir):
    from transformers import OlmoForCausalLM

    return OlmoForCausalLM.from_pretrained(hf_model_dir, dtype=torch.float32).eval()


def _our_models(hf_model, hf_model_dir):
    models = {"hf": hf_model}
    try:
        import lmforge.hf.convert
    except ImportError:
        return models
    import lmforge

    models["lmforge"] = lmforge.load_model(hf_model_dir)
    return models


@pytest.mark.parametrize(
    "name,k", [("arc_easy", 1), ("hellaswag", 0), ("winogrande", 1), ("copa", 0), ("mmlu_anatomy", 1)]
)
def test_loglikelihoods_and_accuracy_equal_hflm(
    lm_eval_tasks, data_dir, hflm, hf_model, hf_model_dir, name, k
):
    from lmforge.eval.downstream import PairEncoder
    from lmforge.eval.scoring import Scorer
    from lmforge.eval.tasks.metrics import example_predictions
    from lmforge.eval.tokenizer import load_eval_tokenizer

    task = lm_eval_tasks[f"t_{name}"]
    theirs = _lm_eval_requests(task, k)
    instances = [inst for _, insts in theirs for inst in insts]
    expected = hflm.loglikelihood(instances, disable_tqdm=True)
    encoder = PairEncoder(load_eval_tokenizer(hf_model_dir))
    pairs = encoder.encode_pairs([inst.args for inst in instances])
    for label, model in _our_models(hf_model, hf_model_dir).items():
        got = Scorer(model, hflm.max_length, batch_size=2, progress=False).score(pairs)
        for (ll, greedy), score in zip(expected, got):
            assert score.logprob == pytest.approx(ll, abs=1e-4), label
            assert score.is_greedy == greedy
        # accuracies: lm-eval's process_results on its scores vs our metrics on ours
        offset = 0
        ours = _ours(name, data_dir, k)
        metrics = [m for m in ("acc", "acc_norm") if m in task._metric_fn_list]
        for ex, (doc, insts) in zip(ours, theirs):
            lls = [s.logprob for s in got[offset : offset + len(insts)]]
            ref = task.process_results(doc, expected[offset : offset + len(insts)])
            offset += len(insts)
            preds = example_predictions(metrics, lls, ex.choice_texts, [1] * len(lls))
            for m in metrics:
                assert float(preds[m] == ex.gold) == ref[m], (label, m)


def test_rolling_loglikelihood_equals_hflm(hf_model_dir, hf_model, sample_texts):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from lmforge.eval.perplexity import DocumentWindows, EvalDocument
    from lmforge.eval.tokenizer import load_eval_tokenizer

    texts = [sample_texts[0], " ".join(sample_texts), sample_texts[7] * 3, "x"]
    lm = HFLM(pretrained=hf_model_dir, batch_size=2, device="cpu", dtype="float32", max_length=16)
    instances = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    expected = lm.loglikelihood_rolling(instances, disable_tqdm=True)
    docs = [EvalDocument(str(i), t, "s", "s") for i, t in enumerate(texts)]
    windows = DocumentWindows(docs, load_eval_tokenizer(hf_model_dir), 16)
    assert max(windows.owner.count(i) for i in range(len(texts))) > 3  # several windows per long document
    for label, model in _our_models(hf_model, hf_model_dir).items():
        got = windows.score(model, batch_size=3, progress=False)
        for ll, score in zip(expected, got):
            assert score.logprob == pytest.approx(ll, abs=1e-4), label


def test_adapter_runs_inside_lm_eval(lmforge_model_dir, data_dir, lm_eval_tasks):
    from lm_eval.api.instance import Instance
    from lm_eval.api.registry import get_model

    import lmforge.eval.lm_eval_adapter
    from lmforge.eval.downstream import evaluate_tasks
    from lmforge.eval.tokenizer import load_eval_tokenizer

    lm = get_model("lmforge").create_from_arg_string(f"path={lmforge_model_dir}", {"batch_size": 4})
    assert get_model("hf") is not None  # lm-eval's own models stay registered
    task = lm_eval_tasks["t_piqa"]
    theirs = _lm_eval_requests(task, 0)
    scores = lm.loglikelihood([inst for _, insts in theirs for inst in insts])
    import lmforge

    model = lmforge.load_model(lmforge_model_dir)
    _, records = evaluate_tasks(
        model, load_eval_tokenizer(lmforge_model_dir), ["piqa"], data_dir, progress=False
    )
    ours = [ll for r in records for ll in r["loglikelihoods"]]
    assert [s[0] for s in scores] == pytest.approx(ours, abs=1e-5)
    rolling = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, ("hello world",), 0)])
    assert rolling[0] < 0
    (text,) = lm.generate_until(
        [Instance("generate_until", {}, ("Question:", {"until": ["\n"], "max_gen_toks": 5}), 0)]
    )
    assert isinstance(text, str) and "\n" not in text


def test_lmforge_eval_lm_eval_hands_the_arguments_to_lm_eval_with_lmforge_registered(monkeypatch):
    import lm_eval.__main__
    from lm_eval.api.registry import get_model

    from lmforge.cli import main

    seen = {}

    def fake_cli_evaluate():
        import sys

        seen["argv"] = sys.argv[1:]
        seen["model"] = get_model("lmforge").__name__

    monkeypatch.setattr(lm_eval.__main__, "cli_evaluate", fake_cli_evaluate)
    monkeypatch.setattr("sys.argv", ["lmforge"])
    args = ["--model", "lmforge", "--model_args", "path=/m", "--tasks", "arc_easy"]
    assert main(["eval", "lm-eval", *args]) == 0
    assert seen == {"argv": args, "model": "LmforgeLM"}


def test_batch_size_in_model_args_and_on_the_command_line_is_a_clear_error(lmforge_model_dir):
    """lm-eval hands its --batch_size to the model beside --model_args: both used to be a TypeError traceback."""
    from lmforge.config import ConfigError
    from lmforge.eval.lm_eval_adapter import LmforgeLM

    with pytest.raises(ConfigError, match=r"model_args\.batch_size: lm-eval sets it from --batch_size"):
        LmforgeLM.create_from_arg_string(f"path={lmforge_model_dir},batch_size=4", {"batch_size": 8})
    with pytest.raises(ConfigError, match=r"model_args\.batch_size"):  # what lm-eval's CLI calls
        LmforgeLM.create_from_arg_obj({"path": lmforge_model_dir, "batch_size": 4}, {"batch_size": 8})
    lm = LmforgeLM.create_from_arg_string(
        f"path={lmforge_model_dir},max_length=32", {"batch_size": 8, "max_batch_size": None, "device": "cpu"}
    )
    assert (lm.batch_size, lm.max_length) == (8, 32)
