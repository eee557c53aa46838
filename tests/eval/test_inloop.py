import gzip
import json
import os
import random

import pytest
import torch

from lmforge.config import ConfigError
from lmforge.eval.inloop import build_inloop_evaluator


@pytest.fixture()
def model(lmforge_model_dir):
    import lmforge

    return lmforge.load_model(lmforge_model_dir)


def test_downstream_and_ppl_evaluators_leave_training_state_alone(model, tokenizer_dir, data_dir, tmp_path):
    docs = tmp_path / "docs.jsonl.gz"
    with gzip.open(docs, "wt") as f:
        f.write(json.dumps({"text": "Water flowed from the spout. " * 5, "source": "web"}) + "\n")
    tok = os.path.join(tokenizer_dir, "tokenizer.json")
    downstream = build_inloop_evaluator(
        {"name": "tasks", "kind": "downstream", "tasks": ["arc_easy", "piqa"], "data_dir": data_dir, "limit": 2,
         "num_fewshot": 0}, tok,
    )  # fmt: skip
    ppl = build_inloop_evaluator(
        {"name": "heldout", "kind": "ppl_docs", "paths": [str(docs)], "max_seq_len": 16}, tok
    )
    assert (downstream.name, ppl.name) == ("tasks", "heldout")
    model.train()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    torch_state, py_state = torch.get_rng_state(), random.getstate()
    metrics = downstream(model)
    metrics.update(ppl(model))
    assert model.training
    assert all(bool((p.grad == 1).all()) for p in model.parameters())
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch_state, torch.get_rng_state()) and py_state == random.getstate()
    assert {"arc_easy/acc", "arc_easy/acc_norm", "piqa/acc"} <= set(metrics)
    assert {"all/token_perplexity", "web/loss", "web/bits_per_byte"} <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())
    assert downstream(model) == {k: v for k, v in metrics.items() if k in downstream(model)}  # repeatable


def test_bad_evaluator_configs_fail_at_construction(tokenizer_dir):
    tok = os.path.join(tokenizer_dir, "tokenizer.json")
    with pytest.raises(ConfigError, match="kind"):
        build_inloop_evaluator({"name": "x", "kind": "bleu"}, tok)
    with pytest.raises(ConfigError, match="unknown task"):
        build_inloop_evaluator({"name": "x", "kind": "downstream", "tasks": ["nope"]}, tok)
    with pytest.raises(ConfigError, match="max_seq_len"):
        build_inloop_evaluator({"name": "x", "kind": "ppl_docs", "paths": ["a"]}, tok)


def test_prefix_token_falls_back_to_the_model_config(model, tokenizer_dir, data_dir, tmp_path):
    import shutil

    bare = tmp_path / "tokenizer.json"  # no tokenizer_config.json beside it: EOS unknown to the tokenizer
    shutil.copy(os.path.join(tokenizer_dir, "tokenizer.json"), bare)
    evaluator = build_inloop_evaluator(
        {"name": "t", "kind": "downstream", "tasks": ["copa"], "data_dir": data_dir}, str(bare)
    )
    assert evaluator.tokenizer.eos_id is None and evaluator.tokenizer.bos_id is None
    metrics = evaluator(model)
    assert evaluator.tokenizer.prefix_id == model.config.eos_token_id
    assert set(metrics) == {"copa/acc"}


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (
            {"kind": "downstream", "tasks": ["copa"], "limt": 5},
            r"evaluators\.x\.limt: .*did you mean 'limit'",
        ),
        ({"kind": "downstream", "tasks": ["copa"], "num_fewshots": 1}, r"did you mean 'num_fewshot'"),
        (
            {"kind": "ppl_docs", "paths": ["a"], "max_seq_len": 8, "tasks": ["copa"]},
            r"x\.tasks: unknown field",
        ),
        ({"kind": "downstream", "tasks": ["copa"], "limit": 0}, r"x\.limit: must be at least 1"),
        ({"kind": "downstream", "tasks": ["copa"], "batch_size": "8"}, r"x\.batch_size: must be an integer"),
        ({"kind": "ppl_docs", "paths": ["a"], "max_seq_len": 8, "stride": 16}, r"x\.stride: must be at most"),
    ],
)
def test_evaluator_typos_and_impossible_counts_fail_at_construction(tokenizer_dir, cfg, message):
    """A misspelt key used to be ignored: a `limt` meant scoring the whole dataset at every evaluation."""
    with pytest.raises(ConfigError, match=message):
        build_inloop_evaluator({"name": "x", **cfg}, os.path.join(tokenizer_dir, "tokenizer.json"))
