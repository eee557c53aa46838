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


def test_published_olmo_settings():
    one_b = build_config(TrainConfig, os.path.join(CONFIGS, "olmo-1b.yaml"))
    assert (one_b.optimizer.lr, tuple(one_b.optimizer.betas), one_b.optimizer.weight_decay) == (
        4e-4,
        (0.9, 0.95),
        0.1,
    )
    assert one_b.global_batch_size * one_b.data.seq_len == 2048 * 2048
    assert one_b.model_config().weight_tying and one_b.model["d_model"] == 2048
    seven_b = build_config(TrainConfig, os.path.join(CONFIGS, "olmo-7b.yaml"))
    assert (
        seven_b.optimizer.lr == 3e-4
        and seven_b.scheduler.name == "linear"
        and seven_b.scheduler.alpha_f == 0.1
    )
    olmo2 = build_config(TrainConfig, os.path.join(CONFIGS, "olmo2-7b.yaml"))
    assert olmo2.model_config().family == "olmo2" and olmo2.z_loss_multiplier == 1e-5


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
