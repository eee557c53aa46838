"""Coming back to a finished run: exporting it names the checkpoint used; retraining it says it is done."""

from __future__ import annotations

import json
import os

from lmforge.generate.cli import main as generate_main
from lmforge.hf.cli import export_main
from lmforge.train.trainer import train


def test_exporting_a_run_folder_names_the_checkpoint_it_used(make_config, tmp_path, capsys):
    result = train(make_config(max_steps=2, save_interval=1))
    capsys.readouterr()
    assert export_main([result.save_folder, "--output", str(tmp_path / "hf")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["checkpoint"] == result.checkpoint == os.path.join(result.save_folder, "step2")
    assert export_main([result.checkpoint.replace("step2", "step1"), "--output", str(tmp_path / "hf1")]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"].endswith("step1")


def test_generating_from_a_run_folder_names_the_checkpoint_it_used(make_config, tmp_path, capsys):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({f"w{i}": i for i in range(16)}, unk_token="w0"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    result = train(make_config(max_steps=2, save_interval=1))
    capsys.readouterr()
    args = ["--prompt", "w1 w2", "--max-new-tokens", "2", "--tokenizer", str(tmp_path / "tokenizer.json")]
    assert generate_main([result.save_folder, *args]) == 0
    assert f"checkpoint {os.path.join(result.save_folder, 'step2')}" in capsys.readouterr().err
    assert generate_main([result.checkpoint, *args]) == 0  # a checkpoint given as such: nothing to say
    assert "checkpoint" not in capsys.readouterr().err


def test_rerunning_a_finished_run_says_there_is_nothing_to_train(make_config, capsys):
    config = make_config(max_steps=2, save_interval=2)
    train(config)
    capsys.readouterr()
    result = train(make_config(max_steps=2, save_interval=2))
    assert result.step == 2
    assert "is at step 2, max_steps is 2: nothing to train" in capsys.readouterr().out
