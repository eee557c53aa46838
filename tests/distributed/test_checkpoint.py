import os

import fsspec
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

import lmforge
from lmforge.cli import main as lmforge_main
from lmforge.distributed import checkpoint as ckpt
from lmforge.distributed.cli import main as checkpoint_main
from lmforge.train.trainer import Trainer


def _tokenizer(path):
    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(256)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return str(path)


def test_checkpoints_rotate_and_resolve(make_config, tmp_path):
    config = make_config(max_steps=6, save_interval=2, keep_checkpoints=2)
    Trainer(config).fit()
    run = config.save_folder
    assert sorted(n for n in os.listdir(run) if n.startswith("step")) == ["step4", "step6"]
    with open(os.path.join(run, "latest")) as f:
        assert f.read().strip() == "step6"
    assert ckpt.resolve_checkpoint(run) == os.path.join(run, "step6")
    assert ckpt.resolve_checkpoint(os.path.join(run, "step4")) == os.path.join(run, "step4")
    assert ckpt.resolve_checkpoint(str(tmp_path / "data")) is None
    # a half-written checkpoint (killed while saving) is never picked
    os.makedirs(os.path.join(run, "step8-tmp"))
    open(os.path.join(run, "step8-tmp", ".metadata"), "w").close()
    assert ckpt.latest_checkpoint(run) == os.path.join(run, "step6")
    files = set(os.listdir(os.path.join(run, "step6")))
    assert {".metadata", "trainer_state.json", "config.yaml", "rank_states"} <= files
    state = ckpt.read_trainer_state(os.path.join(run, "step6"))
    assert state["step"] == 6 and state["tokens_seen"] == 6 * 8 * 32 and state["data_loader"]["epoch"] == 0


def test_load_model_and_unshard_from_a_training_checkpoint(make_config, tmp_path):
    tokenizer = _tokenizer(tmp_path / "tokenizer.json")
    config = make_config(max_steps=2, save_interval=2, tokenizer=tokenizer)
    trainer = Trainer(config)
    trainer.fit()
    trained = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    loaded = lmforge.load_model(config.save_folder)  # run folder -> its newest checkpoint
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, trained[name]), name

    out = tmp_path / "unsharded"
    assert checkpoint_main(["unshard", config.save_folder, "--output", str(out)]) == 0
    assert {"config.yaml", "model.safetensors", "tokenizer.json"} <= set(os.listdir(out))
    assert os.path.isfile(
        os.path.join(config.save_folder, "tokenizer.json")
    )  # where `lmforge export RUN` looks
    folder_model = lmforge.load_model(str(out))
    ids = torch.randint(0, 256, (2, 16))
    torch.testing.assert_close(folder_model(ids).logits, loaded(ids).logits, rtol=0, atol=0)

    hf_dir = tmp_path / "hf"
    assert lmforge_main(["export", config.save_folder, "--output", str(hf_dir)]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(hf_dir))


def test_rng_state_round_trips():
    state = ckpt.rng_state()
    expected = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    ckpt.set_rng_state(state)
    again = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_remote_copy_through_fsspec(make_config, tmp_path):
    config = make_config(max_steps=2, save_interval=2, remote_save_folder="memory://lmforge-test/run")
    Trainer(config).fit()
    fs = fsspec.filesystem("memory")
    assert fs.exists("/lmforge-test/run/step2/.metadata")
    assert fs.exists("/lmforge-test/run/step2/rank_states/rank0.json")
    assert fs.cat("/lmforge-test/run/latest").decode().strip() == "step2"
    # the remote copy resumes a run, named by its step folder or by the run folder (its `latest`)
    assert ckpt.resolve_checkpoint("memory://lmforge-test/run") == "memory://lmforge-test/run/step2"
    assert ckpt.resolve_checkpoint("memory://lmforge-test/elsewhere") is None
    resumed = Trainer(
        make_config(
            save_folder=str(tmp_path / "resumed"),
            max_steps=3,
            save_interval=None,
            load_path="memory://lmforge-test/run",
        )
    ).fit()
    assert resumed.step == 3 and resumed.tokens_seen == 3 * 8 * 32


def test_unshard_of_a_folder_without_checkpoints_is_a_clear_error(tmp_path, capsys):
    assert lmforge_main(["checkpoint", "unshard", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    assert "not a training checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
