"""The prefix token of a model whose config keeps a preset's EOS that is no EOS token of its tokenizer.

``lmforge train configs/tiny.yaml --tokenizer=tokenizer.json`` keeps the ``tiny`` preset's eos_token_id 50279
(OLMo-1's) in the run's config.yaml, while a tokenizer from ``lmforge tokenizer train`` ends documents with
``<|endoftext|>`` = 0 and the token files were written with 0. Perplexity and tasks must prefix with 0.
"""

from __future__ import annotations

import os

import pytest
from tests.eval.conftest import EOS


def _model_folder(tmp_path, tokenizer_dir: str, eos_token_id: int, bos_token_id: int | None = None) -> str:
    from lmforge.models import save_model_folder
    from lmforge.nn.config import ModelConfig
    from lmforge.nn.init import build_model

    folder = str(tmp_path / f"model-{eos_token_id}")
    config = ModelConfig(
        d_model=16, n_layers=1, n_heads=2, mlp_hidden_size=32, vocab_size=512, max_sequence_length=32,
        eos_token_id=eos_token_id, bos_token_id=bos_token_id, pad_token_id=1,
    )  # fmt: skip
    # Only tokenizer.json travels with the model (as in a training run): no tokenizer_config.json names the EOS.
    save_model_folder(
        build_model(config, seed=0), folder, tokenizer_file=os.path.join(tokenizer_dir, "tokenizer.json")
    )
    assert not os.path.exists(os.path.join(folder, "tokenizer_config.json"))
    return folder


@pytest.mark.parametrize("config_eos", [450, 300], ids=["no-token", "ordinary-merge"])
def test_prefix_is_the_tokenizers_eos_when_the_configs_is_not_one(tmp_path, tokenizer_dir, config_eos):
    from lmforge.eval.tokenizer import load_eval_tokenizer

    folder = _model_folder(tmp_path, tokenizer_dir, eos_token_id=config_eos)
    tok = load_eval_tokenizer(folder)
    assert tok.tokenizer.token_to_id(EOS) == 0
    assert tok.prefix_id == 0
    assert tok.eos_id == 0


def test_a_config_eos_that_is_an_eos_token_of_the_tokenizer_is_kept(tmp_path, tokenizer_dir):
    from lmforge.eval.tokenizer import load_eval_tokenizer

    pad_id = load_eval_tokenizer(os.path.join(tokenizer_dir, "tokenizer.json")).tokenizer.token_to_id("<pad>")
    folder = _model_folder(tmp_path, tokenizer_dir, eos_token_id=pad_id)  # an added (special) token
    assert load_eval_tokenizer(folder).prefix_id == pad_id


def test_a_config_bos_that_is_no_token_is_dropped(tmp_path, tokenizer_dir):
    from lmforge.eval.tokenizer import load_eval_tokenizer

    folder = _model_folder(tmp_path, tokenizer_dir, eos_token_id=0, bos_token_id=480)
    assert load_eval_tokenizer(folder).prefix_id == 0


def test_inloop_prefix_falls_back_to_the_tokenizers_eos(tmp_path, tokenizer_dir):
    import lmforge
    from lmforge.eval.inloop import _default_prefix
    from lmforge.eval.tokenizer import EvalTokenizer, load_eval_tokenizer

    model = lmforge.load_model(_model_folder(tmp_path, tokenizer_dir, eos_token_id=450))
    plain = load_eval_tokenizer(os.path.join(tokenizer_dir, "tokenizer.json")).tokenizer
    tok = EvalTokenizer(plain, eos_id=None)  # a bare tokenizer.json, as the trainer hands in-loop evaluators
    _default_prefix(tok, model)
    assert tok.prefix_id == 0
