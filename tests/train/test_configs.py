"""The shipped recipes parse and validate (their data paths are placeholders, so they are not run)."""

import os

import pytest

from lmforge.config import build_config
from lmforge.train.config import TrainConfig, validate_for_world

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


@pytest.mark.parametrize("name", ["tiny", "olmo-1b", "olmo-7b", "olmo2-7b"])
def test_recipe_validates(name):
    config = build_config(TrainConfig, os.path.join(CONFIGS, f"{name}.yaml"))
    validate_for_world(config, 1)
    assert config.model_config().max_sequence_length >= config.data.seq_len


def _recipe(name):
    return build_config(TrainConfig, os.path.join(CONFIGS, f"{name}.yaml"))


@pytest.mark.parametrize(("name", "lr", "schedule", "warmup"), [("olmo-1b", 4e-4, "cosine", 2000), ("olmo-7b", 3e-4, "linear", 5000)])  # fmt: skip
def test_olmo_1_recipes_have_the_published_settings(name, lr, schedule, warmup):
    config = _recipe(name)
    opt, sched = config.optimizer, config.scheduler
    assert (opt.lr, tuple(opt.betas), opt.eps, opt.weight_decay) == (lr, (0.9, 0.95), 1e-5, 0.1)
    assert not opt.decay_embeddings and not opt.decay_norms  # weight decay on Linear weights only
    assert (sched.name, sched.warmup_steps, sched.warmup_start_factor, sched.alpha_f) == (
        schedule,
        warmup,
        0.1,
        0.1,
    )
    assert config.max_grad_norm == 1.0
    assert (
        config.data.seq_len == 2048 and config.global_batch_size * config.data.seq_len == 2048 * 2048
    )  # ~4M
    assert (config.precision, config.strategy) == ("bf16", "fsdp")
    assert config.model_config().vocab_size == 50280


def test_recipe_models_and_specific_settings():
    one_b, seven_b, olmo2 = _recipe("olmo-1b"), _recipe("olmo-7b"), _recipe("olmo2-7b")
    assert one_b.model_config().weight_tying and one_b.model["d_model"] == 2048 and one_b.max_steps == 739_328
    assert seven_b.model["d_model"] == 4096 and not seven_b.model_config().weight_tying
    assert (seven_b.clip_warmup_steps, seven_b.clip_warmup_factor) == (1000, 10.0)
    assert olmo2.model_config().family == "olmo2" and olmo2.z_loss_multiplier == 1e-5
    assert (olmo2.optimizer.eps, olmo2.optimizer.decay_norms, olmo2.optimizer.decay_embeddings) == (
        1e-8,
        True,
        False,
    )
    assert (olmo2.scheduler.warmup_start_factor, olmo2.scheduler.t_max) == (0.0, 1_192_093)
    assert olmo2.global_batch_size * olmo2.data.seq_len == 1024 * 4096


@pytest.mark.parametrize("name", ["tiny", "olmo-1b", "olmo-7b", "olmo2-7b"])
def test_recipes_name_no_absolute_paths(name):
    # placeholders relative to where the user runs, never a path of the machine the recipe was written on
    config = _recipe(name)
    for path in [*config.data.paths, config.save_folder, config.tokenizer or ""]:
        assert not os.path.isabs(path), path


def test_validation_names_the_field_and_rule(make_config):
    from lmforge.config import ConfigError

    with pytest.raises(ConfigError, match=r"^data.seq_len: must be at most model.max_sequence_length"):
        make_config(data={"seq_len": 4096})
    with pytest.raises(ConfigError, match=r"^model.d_model: must be divisible by n_heads"):
        make_config(model={"d_model": 66})
    with pytest.raises(
        ConfigError, match=r"^batch_size_warmup.start_batch_size: must be global_batch_size / 2\^k"
    ):
        make_config(batch_size_warmup={"start_batch_size": 3, "double_every_tokens": 10})
    config = make_config(global_batch_size=8, microbatch_size=4)
    with pytest.raises(
        ConfigError, match=r"^global_batch_size: must be divisible by microbatch_size \* world_size"
    ):
        validate_for_world(config, 4)
    with pytest.raises(ConfigError, match=r"^strategy: single runs one process"):
        validate_for_world(config, 2)


def test_evaluator_names(make_config):
    from lmforge.config import ConfigError

    downstream = {"kind": "downstream", "tasks": ["copa"]}
    make_config(evaluators=[downstream, {**downstream, "name": "five_shot", "num_fewshot": 5}])  # valid
    with pytest.raises(ConfigError, match=r"^evaluators\[0\].name: is required"):
        make_config(evaluators=[{"kind": "ppl_docs", "paths": ["x"], "max_seq_len": 8}])
    with pytest.raises(ConfigError, match=r"^evaluators\[1\].name: must be unique \(two unnamed downstream"):
        make_config(evaluators=[downstream, downstream])
    with pytest.raises(ConfigError, match=r"^evaluators\[0\].name: must be a non-empty string"):
        make_config(evaluators=[{**downstream, "name": ""}])
