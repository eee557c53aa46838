"""A tiny pipeline config: a few KB of the built-in corpus, a 512-token BPE, a tiny model, a handful of steps."""

from __future__ import annotations

import os

import pytest
import yaml


def tiny_pipeline_config(run_dir: str, **overrides) -> dict:
    # fmt: off
    config = {
        "run_dir": run_dir,
        "corpus": {"builtin": "stdlib", "max_mb_per_source": 0.03, "eval_fraction": 0.2},
        "curate": {
            "recipe": {
                "steps": ["tag", "dedup", "mix"],
                "tag": {"taggers": ["char_length_v1", "code_v1"]},
                "dedup": {"paragraphs": {"method": "exact", "min_words": 6}, "exact_documents": {"key": "text"}},
                "mix": {
                    "streams": [
                        {"name": "code", "documents": ["stdlib-code/*"], "attributes": ["code_v1", "dedupe"],
                         "filter": {"exclude": ['exists("exact_duplicate")']}},
                        {"name": "prose", "documents": ["stdlib-docs/*", "python-topics/*"],
                         "attributes": ["char_length_v1", "dedupe"],
                         "filter": {"exclude": ["char_length_v1__char_length_v1__length < 100"]},
                         "span_replacement": [{"span": "bff_duplicate_paragraph_spans", "replacement": ""}]},
                    ]
                },
            }
        },
        "analyze": {"enabled": True, "options": {"languages": False, "plots": False, "top_k": 5}},
        "tokenizer": {"vocab_size": 512},
        "train": {
            "model": {
                "preset": "tiny",
                "d_model": 32,
                "n_heads": 2,
                "mlp_hidden_size": 64,
                "max_sequence_length": 256,
            },
            "data": {"seq_len": 32},
            "global_batch_size": 4,
            "microbatch_size": 4,
            "max_steps": 6,
            "save_interval": 2,
            "device": "cpu",
            "scheduler": {"warmup_steps": 1},
        },
        "eval": {"builtin_tasks": True, "max_documents_per_source": 2, "limit": 6, "batch_size": 4},
        "export": {"prompts": ["def "], "max_new_tokens": 6},
    }
    # fmt: on
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


@pytest.fixture
def write_config(tmp_path):
    def write(name: str = "run", **overrides) -> tuple[str, str]:
        run_dir = str(tmp_path / name)
        path = str(tmp_path / f"{name}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(tiny_pipeline_config(run_dir, **overrides), f)
        return path, run_dir

    return write


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
