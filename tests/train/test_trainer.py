import json
import os

import pytest
import torch

from lmforge.train.trainer import Trainer, TrainingStopped, train


def losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["loss"] for line in f]


def test_same_config_and_seed_give_bit_identical_losses(make_config, tmp_path):
    first = train(make_config(save_folder=str(tmp_path / "a"), save_interval=None))
    second = train(make_config(save_folder=str(tmp_path / "b"), save_interval=None))
    a, b = losses(first.save_folder), losses(second.save_folder)
    assert len(a) == 6 and a == b
    assert a[-1] < a[0] - 0.2  # it learns the token stream
    assert first.checkpoint is None


def test_metrics_have_the_documented_keys(make_config):
    result = train(make_config(max_steps=4, log_interval=2))
    with open(os.path.join(result.save_folder, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert [r["step"] for r in rows] == [2, 4]
    for key in ("step", "loss", "lr", "grad_norm", "tokens_seen", "tokens_per_s", "mfu", "peak_memory_mb"):
        assert key in rows[-1], key
    assert rows[-1]["tokens_seen"] == 4 * 8 * 32
    assert 0 < rows[-1]["mfu"] < 1.5 and rows[-1]["tokens_per_s"] > 0


SPEED_KEYS = ("tokens_per_s", "mfu", "peak_memory_mb")


def test_eval_and_spike_rows_between_log_steps_carry_the_speed_keys(make_config, tmp_path):
    data = os.path.join(tmp_path, "data", "train.npy")
    config = make_config(
        log_interval=4,
        eval_interval=3,
        evaluators=[{"name": "heldout", "kind": "ppl_tokens", "paths": [data], "max_batches": 1}],
        save_interval=None,
    )
    train(config)
    with open(os.path.join(config.save_folder, "metrics.jsonl")) as f:
        rows = {json.loads(line)["step"]: json.loads(line) for line in f}
    assert sorted(rows) == [3, 4, 6]  # eval at 3 and 6, log at 4 and 6 (the last step)
    for step, row in rows.items():
        for key in ("step", "loss", "lr", "grad_norm", "tokens_seen", *SPEED_KEYS):
            assert row.get(key) is not None, (step, key)
        assert row["tokens_per_s"] > 0 and row["mfu"] > 0


def test_microbatch_split_and_activation_checkpointing_do_not_change_the_math(make_config, tmp_path):
    ref = losses(train(make_config(save_folder=str(tmp_path / "ref"), save_interval=None)).save_folder)
    split = losses(
        train(
            make_config(save_folder=str(tmp_path / "mb"), microbatch_size=1, save_interval=None)
        ).save_folder
    )
    ckpt = losses(
        train(
            make_config(
                save_folder=str(tmp_path / "ac"), activation_checkpointing="one_in_2", save_interval=None
            )
        ).save_folder
    )
    assert split == pytest.approx(ref, abs=1e-5)
    assert ckpt == ref  # recomputation is bit-identical in fp32 on CPU


def test_eval_does_not_change_the_trajectory(make_config, tmp_path):
    data = os.path.join(tmp_path, "data", "train.npy")
    plain = losses(train(make_config(save_folder=str(tmp_path / "p"), save_interval=None)).save_folder)
    evaluated = train(
        make_config(
            save_folder=str(tmp_path / "e"),
            save_interval=None,
            eval_interval=2,
            evaluators=[{"name": "heldout", "kind": "ppl_tokens", "paths": [data], "max_batches": 3}],
        )
    )
    assert losses(evaluated.save_folder) == plain
    with open(os.path.join(evaluated.save_folder, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    evals = [r for r in rows if "eval/heldout/loss" in r]
    assert [r["step"] for r in evals] == [2, 4, 6]
    assert evals[-1]["eval/heldout/loss"] < evals[0]["eval/heldout/loss"]
    assert evals[-1]["eval/heldout/ppl"] == pytest.approx(
        torch.tensor(evals[-1]["eval/heldout/loss"]).exp().item()
    )
    assert evals[0]["eval/heldout/tokens"] == 3 * 4 * 31


def test_batch_size_warmup_doubles_every_n_tokens(make_config):
    result = train(
        make_config(
            global_batch_size=16,
            microbatch_size=2,
            batch_size_warmup={"start_batch_size": 4, "double_every_tokens": 256},
            save_interval=None,
        )
    )
    with open(os.path.join(result.save_folder, "metrics.jsonl")) as f:
        sizes = [json.loads(line)["batch_size"] for line in f]
    # 4 x 32 tokens per step: doubles after 2 steps (256 tokens), then after 1 more step (8 x 32 = 256)
    assert sizes == [4, 4, 8, 16, 16, 16]


def test_bf16_autocast_and_z_loss(make_config, tmp_path):
    fp32 = losses(
        train(make_config(save_folder=str(tmp_path / "f"), max_steps=3, save_interval=None)).save_folder
    )
    trainer = Trainer(
        make_config(
            save_folder=str(tmp_path / "b"),
            precision="bf16",
            z_loss_multiplier=1e-4,
            max_steps=3,
            save_interval=None,
        )
    )
    result = trainer.fit()
    with open(os.path.join(result.save_folder, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert all(r["z_loss"] > 0 for r in rows)
    bf16 = [r["loss"] for r in rows]
    assert bf16 == pytest.approx(fp32, abs=0.05)
    assert bf16[0] != fp32[0]  # the same weights, but the matmuls ran in bf16
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # fp32 master weights


class NaNAt(Trainer):
    """Returns a NaN loss on chosen steps (as a diverging run would)."""

    bad_steps: set[int] = set()

    def compute_loss(self, input_ids, labels, doc_lens):
        ce, z = super().compute_loss(input_ids, labels, doc_lens)
        if self.step + 1 in self.bad_steps:
            ce = ce * float("nan")
        return ce, z


def test_nan_step_is_skipped_and_training_continues(make_config):
    config = make_config(save_interval=None)
    NaNAt.bad_steps = {3}
    trainer = NaNAt(config)
    before = {}

    class Snapshot:
        def on_train_start(self, t): ...
        def on_train_end(self, t): ...
        def on_step_end(self, t, metrics):
            before[t.step] = [p.detach().clone() for p in t.model.parameters()]

    trainer.callbacks.append(Snapshot())
    result = trainer.fit()
    assert result.step == 6 and result.stopped == "max_steps"
    for a, b in zip(before[2], before[3]):
        assert torch.equal(a, b)  # step 3 made no update
    with open(os.path.join(config.save_folder, "metrics.jsonl")) as f:
        rows = {json.loads(line)["step"]: json.loads(line) for line in f}
    assert rows[3]["skipped"] == 1 and rows[3]["loss"] is None and "skipped" not in rows[4]


def test_nan_streak_stops_the_run_and_keeps_the_last_good_checkpoint(make_config):
    config = make_config(max_steps=10, save_interval=2, nan={"max_consecutive": 3}, keep_checkpoints=5)
    NaNAt.bad_steps = {5, 6, 7, 8, 9, 10}
    result = NaNAt(config).fit()
    assert result.stopped == "nan" and result.step == 7
    assert os.path.basename(result.checkpoint) == "step4"
    assert sorted(os.listdir(config.save_folder)).count("step6") == 0


def test_loss_spike_is_skipped_when_configured(make_config):
    class SpikeAt(Trainer):
        def compute_loss(self, input_ids, labels, doc_lens):
            ce, z = super().compute_loss(input_ids, labels, doc_lens)
            return (ce * 50 if self.step + 1 == 5 else ce), z

    config = make_config(save_interval=None, loss_spike={"sigma": 3.0, "window": 3, "skip": True})
    SpikeAt(config).fit()
    with open(os.path.join(config.save_folder, "metrics.jsonl")) as f:
        rows = {json.loads(line)["step"]: json.loads(line) for line in f}
    assert rows[5]["skipped"] == 1 and "loss spike" in rows[5]["skip_reason"] and rows[5]["loss_spike"] == 1
    assert all("skipped" not in rows[s] and "loss_spike" not in rows[s] for s in (1, 2, 3, 4, 6))


def test_loss_spike_is_logged_and_kept_by_default(make_config):
    class SpikeAt(Trainer):
        def compute_loss(self, input_ids, labels, doc_lens):
            ce, z = super().compute_loss(input_ids, labels, doc_lens)
            return (ce * 50 if self.step + 1 == 5 else ce), z

    config = make_config(save_interval=None, log_interval=3, loss_spike={"sigma": 3.0, "window": 3})
    SpikeAt(config).fit()
    with open(os.path.join(config.save_folder, "metrics.jsonl")) as f:
        rows = {json.loads(line)["step"]: json.loads(line) for line in f}
    assert sorted(rows) == [3, 5, 6]  # the spike step is logged although it is not a log step
    assert rows[5]["loss_spike"] == 1 and "skipped" not in rows[5]
    assert all(key in rows[5] for key in SPEED_KEYS)


def test_train_raises_when_stopped(make_config):
    config = make_config(save_interval=None, nan={"max_consecutive": 1})
    NaNAt.bad_steps = {2}
    with pytest.raises(TrainingStopped, match="non-finite"):
        train(config, trainer_cls=NaNAt)


def test_inloop_perplexity_and_unnamed_downstream_and_wandb_offline(make_config, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({f"w{i}": i for i in range(256)}, unk_token="w0"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(
            json.dumps(
                {"id": str(i), "text": " ".join(f"w{(7 * j + i) % 256}" for j in range(40)), "source": "s"}
            )
            for i in range(4)
        )
        + "\n"
    )
    config = make_config(
        max_steps=2,
        save_interval=None,
        model={"eos_token_id": 255, "pad_token_id": 0},  # the eval prefix token must be in the vocabulary
        tokenizer=str(tmp_path / "tokenizer.json"),
        eval_interval=2,
        evaluators=[
            {"name": "docs", "kind": "ppl_docs", "paths": [str(docs)], "max_seq_len": 32},
            # unnamed: its keys are the eval/<task>/<metric>
            {"kind": "downstream", "tasks": ["copa"], "data_dir": str(tmp_path), "max_seq_len": 32},
        ],
        wandb={"project": "lmforge-test", "mode": "offline"},
    )
    copa = [
        {"premise": f"w{i} w{i + 1}.", "choice1": f"w{i + 2}.", "choice2": f"w{i + 3} w4.", "question": q, "label": i % 2}
        for i, q in enumerate(["cause", "effect", "cause"])
    ]  # fmt: skip
    (tmp_path / "copa.validation.jsonl").write_text("".join(json.dumps(row) + "\n" for row in copa))
    result = train(config)
    with open(os.path.join(result.save_folder, "metrics.jsonl")) as f:
        last = [json.loads(line) for line in f][-1]
    assert last["eval/docs/all/loss"] > 0 and last["eval/docs/all/token_perplexity"] > 1
    assert last["eval/copa/acc"] in (0.0, 1 / 3, 2 / 3, 1.0)  # 3 examples
    assert any(
        name.startswith("offline-run") for name in os.listdir(os.path.join(result.save_folder, "wandb"))
    )


def test_document_masking_and_label_masks_change_the_loss(make_config, tmp_path):
    import numpy as np

    plain = losses(
        train(make_config(save_folder=str(tmp_path / "p"), max_steps=2, save_interval=None)).save_folder
    )
    docs = train(
        make_config(
            save_folder=str(tmp_path / "d"),
            max_steps=2,
            save_interval=None,
            data={"generate_doc_lengths": True, "eos_token_id": 3},
        )
    )
    assert losses(docs.save_folder)[0] != plain[0]  # attention stops at every EOS (token 3)
    tokens = np.fromfile(tmp_path / "data" / "train.npy", dtype=np.uint16)
    mask_path = tmp_path / "data" / "mask.npy"
    (np.arange(len(tokens)) % 2 == 0).tofile(mask_path)  # train on every other target only
    masked = train(
        make_config(
            save_folder=str(tmp_path / "m"),
            max_steps=2,
            save_interval=None,
            data={"label_mask_paths": [str(mask_path)]},
        )
    )
    assert losses(masked.save_folder)[0] != plain[0]
    assert all(np.isfinite(losses(masked.save_folder)))


def test_token_ids_beyond_the_vocabulary_are_a_clear_error(make_config):
    config = make_config(model={"vocab_size": 100, "pad_vocab_multiple": 1}, save_interval=None)
    with pytest.raises(ValueError, match=r"^model.vocab_size: token id .* does not fit model.vocab_size 100"):
        train(config)


def test_time_limit_checkpoints_then_a_rerun_finishes_the_same_trajectory(make_config, tmp_path):
    reference = losses(train(make_config(save_folder=str(tmp_path / "ref"), save_interval=None)).save_folder)
    folder = str(tmp_path / "limited")
    # A limit this small is reached after the first step: the run must stop there with a checkpoint.
    stopped = train(
        make_config(save_folder=folder, save_interval=None, log_interval=5, time_limit_minutes=1e-9)
    )
    assert stopped.stopped == "time_limit" and stopped.step == 1
    assert stopped.checkpoint is not None and stopped.checkpoint.endswith("step1")
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [1]  # the last step is logged like a final one
    finished = train(make_config(save_folder=folder, save_interval=None))
    assert finished.stopped == "max_steps" and finished.step == 6
    assert losses(folder) == reference


def test_anneal_phase_starts_from_a_checkpoint_of_another_run(make_config, tmp_path):
    main = train(make_config(save_folder=str(tmp_path / "main"), save_interval=2, keep_checkpoints=0))
    with open(os.path.join(main.save_folder, "metrics.jsonl")) as f:
        main_rows = {json.loads(line)["step"]: json.loads(line) for line in f}
    # OLMo-7B style: from step 4 of a run planned for 6 steps, decay linearly to 0 over 3 more steps
    annealed = train(
        make_config(
            save_folder=str(tmp_path / "anneal"),
            load_path=os.path.join(main.save_folder, "step4"),
            max_steps=7,
            scheduler={"anneal_steps": 3, "t_max": 6},
            save_interval=None,
        )
    )
    with open(os.path.join(annealed.save_folder, "metrics.jsonl")) as f:
        rows = {json.loads(line)["step"]: json.loads(line) for line in f}
    assert sorted(rows) == [5, 6, 7]
    assert annealed.checkpoint is None  # it saved none: the main run's step4 does not hold its weights
    assert rows[5]["loss"] == main_rows[5]["loss"]  # same weights, optimizer state and data as the main run
    start = main_rows[4]["lr"]
    assert [rows[s]["lr"] for s in (5, 6, 7)] == pytest.approx([start * 2 / 3, start / 3, 0.0])
    assert sorted(os.listdir(main.save_folder)).count("step6") == 1  # the main run is left as it was
