from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from lmforge.config import ConfigError, build_config
from lmforge.data import DataConfig, DataLoader, SourceConfig
from lmforge.data.loader import DatasetChangedError, document_lengths
from lmforge.io import InputError

EOS = 7  # as in conftest.write_token_files
SEQ = 32  # 31 + 24 + 38 + 3 = 96 instances over the fixture's files


def _config(token_dir, **kwargs) -> DataConfig:
    return DataConfig(
        paths=[str(token_dir / "*.npy")], seq_len=SEQ, dtype="uint32", eos_token_id=EOS, **kwargs
    )


def _instances(loader: DataLoader) -> int:
    return loader.instances_per_epoch


def test_instances_are_the_right_tokens(token_dir):
    loader = DataLoader(_config(token_dir), seed=1)
    assert _instances(loader) == 1000 // SEQ + 777 // SEQ + 1234 // SEQ + 96 // SEQ
    batch = loader.next_batch(8)
    for ids, row in zip(batch["index"].tolist(), batch["input_ids"]):
        file_index, start = loader.dataset.locate(ids)
        expected = np.fromfile(loader.dataset.files[file_index].path, dtype=np.uint32)[start : start + SEQ]
        assert row.tolist() == expected.tolist()
    assert batch["input_ids"].dtype == torch.int64 and batch["input_ids"].shape == (8, SEQ)


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_every_instance_exactly_once_per_epoch_across_ranks(token_dir, world_size):
    loaders = [
        DataLoader(_config(token_dir), seed=5, rank=r, world_size=world_size) for r in range(world_size)
    ]
    n = _instances(loaders[0])
    assert n == 96
    for epoch in range(2):
        seen = []
        for _ in range(n // 16):
            for loader in loaders:
                seen.extend(loader.next_batch(16)["index"].tolist())
        assert sorted(seen) == list(range(n)), f"epoch {epoch}"
        assert all(loader.epoch == epoch for loader in loaders)


def test_global_batches_do_not_depend_on_world_size_or_workers(token_dir):
    reference = DataLoader(_config(token_dir), seed=3)
    sizes = [8, 8, 16, 16, 32, 8, 40, 8]  # batch-size warm-up and an epoch boundary (96 instances)
    expected = [reference.next_batch(gbs) for gbs in sizes]
    for world_size in (2, 4, 8):
        for workers in (0, 3):
            config = _config(token_dir, num_workers=workers, generate_doc_lengths=True)
            ranks = [DataLoader(config, seed=3, rank=r, world_size=world_size) for r in range(world_size)]
            for gbs, want in zip(sizes, expected):
                parts = [loader.next_batch(gbs) for loader in ranks]
                got = torch.cat([p["input_ids"] for p in parts])
                assert torch.equal(got, want["input_ids"])
                assert torch.equal(torch.cat([p["index"] for p in parts]), want["index"])
    assert reference.epoch == 1  # 8+8+16+16+32 = 80, then 8 more -> 88, then 40 does not fit


def test_new_epoch_reshuffles_and_the_order_is_saved(token_dir, tmp_path):
    loader = DataLoader(_config(token_dir), seed=11, work_dir=str(tmp_path / "run"))
    first = loader.global_batch_instances(0, 96)
    second = loader.global_batch_instances(1, 96)
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(96))
    assert first.tolist() != second.tolist()
    saved = tmp_path / "run" / "data" / "global_indices_e0000.npy"
    assert np.load(saved).tolist() == first.tolist()
    meta = json.loads((tmp_path / "run" / "data" / "global_indices_e0000.json").read_text())
    assert meta["seed"] == 11 and meta["fingerprint"] == loader.fingerprint
    # re-created identically when missing; another seed gives another order
    os.remove(saved)
    again = DataLoader(_config(token_dir), seed=11, work_dir=str(tmp_path / "run"))
    assert again.global_batch_instances(0, 96).tolist() == first.tolist() and saved.exists()
    other = DataLoader(_config(token_dir, seed=12), seed=11)
    assert other.global_batch_instances(0, 96).tolist() != first.tolist()
    # the saved order is what is used (it pins the order even if numpy's random streams changed)
    np.save(saved, first[::-1].copy())
    pinned = DataLoader(_config(token_dir), seed=11, work_dir=str(tmp_path / "run"))
    assert pinned.global_batch_instances(0, 96).tolist() == first[::-1].tolist()


def test_resuming_at_any_batch_gives_the_same_stream(token_dir, tmp_path):
    sizes = [8, 16, 16, 24, 8, 32, 16, 8, 8, 16]
    full = DataLoader(_config(token_dir), seed=2, work_dir=str(tmp_path / "a"))
    stream = [full.next_batch(gbs)["index"].tolist() for gbs in sizes]
    for stop in (1, 4, 6, 9):
        first = DataLoader(_config(token_dir), seed=2, work_dir=str(tmp_path / "b"))
        for gbs in sizes[:stop]:
            first.next_batch(gbs)
        state = json.loads(json.dumps(first.state_dict()))  # as checkpoints store it
        resumed = DataLoader(_config(token_dir), seed=2, rank=1, world_size=2, work_dir=str(tmp_path / "c"))
        resumed.load_state_dict(state)
        for gbs, want in zip(sizes[stop:], stream[stop:]):
            assert resumed.next_batch(gbs)["index"].tolist() == want[gbs // 2 :]


def test_changed_dataset_is_refused_unless_allowed(token_dir, write_tokens):
    state = DataLoader(_config(token_dir), seed=2).state_dict()
    write_tokens(token_dir, [1000, 777, 1234, 96, 500])
    with pytest.raises(DatasetChangedError, match=r"allow_dataset_change.*"):
        DataLoader(_config(token_dir), seed=2).load_state_dict(state)
    with pytest.raises(DatasetChangedError, match="data seed 2 -> 3"):
        DataLoader(_config(token_dir), seed=3).load_state_dict({**state, "fingerprint": None})
    allowed = DataLoader(_config(token_dir, allow_dataset_change=True), seed=2)
    allowed.load_state_dict({**state, "instances_consumed": 40})
    assert allowed.instances_consumed == 40


def test_document_lengths_follow_eos(token_dir):
    assert document_lengths(np.array([1, 2, EOS, 3, EOS, 4]), EOS).tolist() == [3, 2, 1]
    assert document_lengths(np.array([1, 2, EOS]), EOS).tolist() == [3]
    assert document_lengths(np.array([1, 2, 3]), EOS).tolist() == [3]
    loader = DataLoader(_config(token_dir, generate_doc_lengths=True), seed=0)
    batch = loader.next_batch(16)
    assert (batch["doc_lens"].sum(1) == SEQ).all()
    for row, lens in zip(batch["input_ids"], batch["doc_lens"]):
        lens = lens[lens > 0]
        ends = torch.cumsum(lens, 0)
        assert (row[ends[:-1] - 1] == EOS).all()  # every document but the last ends with EOS
        assert int((row == EOS).sum()) in (len(lens), len(lens) - 1)


def test_label_masks(token_dir, tmp_path):
    masks = []
    for i, path in enumerate(sorted(token_dir.glob("*.npy"))):
        mask = (np.fromfile(path, dtype=np.uint32) % 3 != 0).astype(np.bool_)
        masks.append(tmp_path / "masks" / f"{i}.npy")
        masks[-1].parent.mkdir(exist_ok=True)
        mask.tofile(masks[-1])
    loader = DataLoader(_config(token_dir, label_mask_paths=[str(tmp_path / "masks" / "*.npy")]), seed=0)
    batch = loader.next_batch(8)
    assert batch["label_mask"].dtype == torch.bool
    assert torch.equal(batch["label_mask"], batch["input_ids"] % 3 != 0)
    (tmp_path / "masks" / "0.npy").write_bytes(b"\x01" * 5)
    with pytest.raises(ConfigError, match="label_mask_paths"):
        DataLoader(_config(token_dir, label_mask_paths=[str(tmp_path / "masks" / "*.npy")]), seed=0)


def test_mixture_weights_up_and_down_sample_deterministically(tmp_path, write_tokens):
    a = write_tokens(tmp_path / "a", [SEQ * 10])
    b = write_tokens(tmp_path / "b", [SEQ * 40], seed=1)
    config = DataConfig(
        mixture=[SourceConfig(paths=a, weight=2.5, name="a"), SourceConfig(paths=b, weight=0.25, name="b")],
        seq_len=SEQ,
        dtype="uint32",
    )
    loader = DataLoader(config, seed=4)
    assert loader.instances_per_epoch == 25 + 10
    epochs = [loader.global_batch_instances(e, 35).tolist() for e in range(3)]
    for ids in epochs:
        counts = np.bincount(ids, minlength=50)
        assert (counts[:10] >= 2).all() and counts[:10].sum() == 25  # a: each twice, half a third time
        assert (counts[10:] <= 1).all() and counts[10:].sum() == 10  # b: a quarter, once each
    assert set(epochs[0]) - set(range(10)) != set(epochs[1]) - set(range(10))  # another quarter each epoch
    assert DataLoader(config, seed=4).global_batch_instances(0, 35).tolist() == epochs[0]
    batch = DataLoader(config, seed=4).next_batch(35)
    a_tokens, b_tokens = np.fromfile(a[0], dtype=np.uint32), np.fromfile(b[0], dtype=np.uint32)
    for index, row in zip(batch["index"].tolist(), batch["input_ids"].tolist()):
        source, local = (a_tokens, index) if index < 10 else (b_tokens, index - 10)
        assert row == source[local * SEQ : (local + 1) * SEQ].tolist()


def test_dtype_and_eos_come_from_the_manifest(tmp_path, write_tokens):
    write_tokens(tmp_path / "t", [SEQ * 3], dtype=np.uint16)
    (tmp_path / "t" / "manifest.json").write_text(
        json.dumps({"dtype": "uint16", "eos_token_id": EOS, "files": [{"path": "part-00000-000.npy"}]})
    )
    write_tokens(tmp_path / "t", [SEQ * 3, SEQ * 5], dtype=np.uint16)  # a leftover the manifest omits
    loader = DataLoader(DataConfig(paths=[str(tmp_path / "t")], seq_len=SEQ), seed=0)
    assert (loader.dtype, loader.eos_token_id, loader.instances_per_epoch) == ("uint16", EOS, 3)


def test_config_rules():
    with pytest.raises(ConfigError, match="paths: give either paths or mixture"):
        build_config(DataConfig, overrides={"seq_len": 8})
    with pytest.raises(ConfigError, match="seq_len"):
        build_config(DataConfig, overrides={"paths": ["x"], "seq_len": 0})
    config = build_config(DataConfig, overrides=["--paths=[a, b]", "--mixture=null", "--seq_len=64"])
    assert config.paths == ["a", "b"] and config.seq_len == 64


def test_remote_token_files(tmp_path):
    import fsspec

    tokens = (np.arange(SEQ * 4) + 10).astype(np.uint16)
    with fsspec.open("memory://lmforge-data-test/t/part-0.npy", "wb") as f:
        f.write(tokens.tobytes())
    loader = DataLoader(DataConfig(paths=["memory://lmforge-data-test/t/*.npy"], seq_len=SEQ), seed=0)
    batch = loader.next_batch(4)
    for index, row in zip(batch["index"].tolist(), batch["input_ids"]):
        assert row.tolist() == tokens[index * SEQ : (index + 1) * SEQ].tolist()


def _write_manifest(folder, dtype="uint32") -> None:
    import hashlib

    files = [
        {"path": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in sorted(folder.glob("*.npy"))
    ]
    (folder / "manifest.json").write_text(json.dumps({"dtype": dtype, "eos_token_id": EOS, "files": files}))


def test_a_same_size_change_recorded_in_the_manifest_is_refused(token_dir, tmp_path):
    """Re-tokenizing with another --eos-id keeps every file's size; the manifest's checksums tell."""
    _write_manifest(token_dir)
    state = DataLoader(_config(token_dir), seed=2).state_dict()
    moved = tmp_path / "moved"
    os.rename(token_dir, moved)  # moving the data keeps the fingerprint
    assert DataLoader(_config(moved), seed=2).fingerprint == state["fingerprint"]
    first = moved / "part-00000-000.npy"
    tokens = np.fromfile(first, dtype=np.uint32)
    tokens[tokens == EOS] = EOS + 1  # same length, other separator
    tokens.tofile(first)
    _write_manifest(moved)
    with pytest.raises(DatasetChangedError, match="dataset fingerprint"):
        DataLoader(_config(moved), seed=2).load_state_dict(state)


def test_sources_given_by_relative_and_absolute_paths(tmp_path, write_tokens, monkeypatch):
    a = write_tokens(tmp_path / "a", [SEQ * 3])
    b = write_tokens(tmp_path / "b", [SEQ * 5], seed=1)
    monkeypatch.chdir(tmp_path)

    def loader(a_path: str, b_path: str) -> DataLoader:
        sources = [SourceConfig(paths=[a_path]), SourceConfig(paths=[b_path])]
        return DataLoader(DataConfig(mixture=sources, seq_len=SEQ, dtype="uint32"), seed=0)

    mixed = loader(os.path.relpath(a[0]), b[0])  # was "Can't mix absolute and relative paths"
    assert mixed.instances_per_epoch == 8
    assert (
        mixed.fingerprint
        == loader(a[0], b[0]).fingerprint
        == loader("a/part-00000-000.npy", b[0]).fingerprint
    )


def test_each_rank_reads_only_its_slice(token_dir):
    world_size, gbs = 4, 16
    reference = DataLoader(_config(token_dir), seed=9).global_batch_instances(0, gbs).tolist()
    for rank in range(world_size):
        loader = DataLoader(_config(token_dir, num_workers=2), seed=9, rank=rank, world_size=world_size)
        read, original = [], loader.dataset.read
        loader.dataset.read = lambda i, original=original, read=read: (read.append(i), original(i))[1]
        batch = loader.next_batch(gbs)
        mine = reference[rank * 4 : (rank + 1) * 4]
        assert sorted(read) == sorted(mine) and batch["index"].tolist() == mine


def test_a_token_file_shorter_than_its_manifest_records_is_refused(tmp_path, write_tokens):
    """A copy cut on a whole token passes the dtype check; the manifest's token count tells."""
    (path,) = write_tokens(tmp_path / "t", [SEQ * 4], dtype=np.uint16)
    entry = {"path": os.path.basename(path), "tokens": SEQ * 4}
    (tmp_path / "t" / "manifest.json").write_text(json.dumps({"dtype": "uint16", "files": [entry]}))
    assert DataLoader(DataConfig(paths=[str(tmp_path / "t")], seq_len=SEQ), seed=0).instances_per_epoch == 4
    os.truncate(path, SEQ * 2 * 2)
    with pytest.raises(InputError, match=r"part-00000-000\.npy: 128 bytes, but .*manifest\.json records 128"):
        DataLoader(DataConfig(paths=[str(tmp_path / "t")], seq_len=SEQ), seed=0)


def test_a_damaged_saved_order_is_named_not_a_traceback(token_dir, tmp_path):
    loader = DataLoader(_config(token_dir), seed=11, work_dir=str(tmp_path / "run"))
    first = loader.global_batch_instances(0, 96)
    saved = tmp_path / "run" / "data" / "global_indices_e0000.npy"
    data = saved.read_bytes()
    saved.write_bytes(data[:100])  # cut inside the header: was numpy's ValueError traceback
    with pytest.raises(InputError, match=r"global_indices_e0000\.npy: unreadable epoch order .*delete it"):
        DataLoader(_config(token_dir), seed=11, work_dir=str(tmp_path / "run")).global_batch_instances(0, 96)
    np.save(saved, first[:50].copy())  # a whole, shorter array: fewer instances than the sidecar records
    with pytest.raises(InputError, match=r"50 instances, .*global_indices_e0000\.json records 96"):
        DataLoader(_config(token_dir), seed=11, work_dir=str(tmp_path / "run")).global_batch_instances(0, 96)
    os.remove(saved)  # the remedy the message gives (the .npy alone is enough)
    again = DataLoader(_config(token_dir), seed=11, work_dir=str(tmp_path / "run"))
    assert again.global_batch_instances(0, 96).tolist() == first.tolist()
