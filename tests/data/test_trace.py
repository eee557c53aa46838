from __future__ import annotations

import json

import numpy as np
import yaml

from lmforge.cli import main
from lmforge.data import DataConfig, DataLoader
from lmforge.data.trace import trace_batch
from lmforge.documents import read_documents, write_documents
from lmforge.tokenize.run import tokenize_documents
from lmforge.tokenize.tokenizer import load_tokenizer
from lmforge.tokenize.train import train_tokenizer


def _corpus(tmp_path) -> tuple[str, str, str]:
    words = ["alpha", "beta", "gamma", "delta", "data", "open", "model", "über", "東京", "42"]
    for source in ("web", "books"):
        docs = [
            {
                "id": f"{source}-{i}",
                "source": source,
                "text": " ".join(words[(i + j) % 10] for j in range(5 + 7 * i)),
            }
            for i in range(30)
        ]
        write_documents(str(tmp_path / "documents" / source / "0.jsonl.gz"), docs)
    tokenizer = str(tmp_path / "tokenizer.json")
    train_tokenizer(str(tmp_path / "documents"), 300, tokenizer)
    tokens = str(tmp_path / "tokens")
    tokenize_documents(str(tmp_path / "documents"), tokenizer, tokens, progress=False)
    return str(tmp_path / "documents"), tokenizer, tokens


def test_trace_maps_every_token_of_a_batch_to_its_document(tmp_path):
    documents, tokenizer, tokens = _corpus(tmp_path)
    tok = load_tokenizer(tokenizer)
    texts = {
        doc["id"]: doc["text"]
        for p in (documents + "/web/0.jsonl.gz", documents + "/books/0.jsonl.gz")
        for _, doc in read_documents(p)
    }
    loader = DataLoader(DataConfig(paths=[tokens], seq_len=64), seed=9)
    assert loader.eos_token_id == 0 and loader.dtype == "uint16"
    for k in (0, 3):
        pieces = trace_batch(loader, k, 4)
        ids = loader.global_batch_instances(k, 4)
        assert sorted({p.instance for p in pieces}) == sorted(ids.tolist())
        for instance in ids.tolist():
            mine = [p for p in pieces if p.instance == instance]
            assert sum(p.file_span[1] - p.file_span[0] for p in mine) == 64  # every token accounted for
            instance_tokens = loader.dataset.read(instance)[0]
            offset = 0
            for p in mine:
                expected = [*tok.encode(texts[p.id]).ids, 0][p.document_span[0] : p.document_span[1]]
                length = p.file_span[1] - p.file_span[0]
                assert instance_tokens[offset : offset + length].tolist() == expected
                assert p.source == p.id.split("-")[0]
                offset += length


def test_trace_command_on_data_and_run_folders(tmp_path, capsys):
    _, _, tokens = _corpus(tmp_path)
    assert (
        main(["data", "trace", tokens, "--batch", "2", "--batch-size", "4", "--seq-len", "64", "--json"]) == 0
    )
    pieces = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    loader = DataLoader(DataConfig(paths=[tokens], seq_len=64), seed=0)
    assert {p["instance"] for p in pieces} == set(loader.global_batch_instances(2, 4).tolist())
    run = tmp_path / "run"
    run.mkdir()
    config = {"seed": 17, "global_batch_size": 8, "data": {"paths": [tokens], "seq_len": 32}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    # the loader of the run saved its order in the run folder; trace reads the same one
    trained = DataLoader(DataConfig(paths=[tokens], seq_len=32), seed=17, work_dir=str(run))
    batches = [trained.next_batch(8)["index"].tolist() for _ in range(3)]
    assert (run / "data" / "global_indices_e0000.npy").exists()
    assert main(["data", "trace", str(run), "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("global batch 2: 8 instances of 32 tokens, seed 17")
    traced = [int(line.split()[1]) for line in out.splitlines() if line.startswith("instance ")]
    assert traced == batches[2]
    assert "web-" in out or "books-" in out
    assert np.load(run / "data" / "global_indices_e0000.npy").dtype == np.uint32


def test_trace_replays_batch_size_warmup(tmp_path, capsys):
    _, _, tokens = _corpus(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    warmup = {"start_batch_size": 2, "double_every_tokens": 64}
    config = {
        "seed": 1,
        "global_batch_size": 8,
        "batch_size_warmup": warmup,
        "data": {"paths": [tokens], "seq_len": 32},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    # what the trainer does: batch size min(8, 2 * 2 ** (tokens_seen // 64))
    loader, tokens_seen, batches = DataLoader(DataConfig(paths=[tokens], seq_len=32), seed=1), 0, []
    for _ in range(5):
        size = min(8, 2 * 2 ** (tokens_seen // 64))
        batches.append(loader.next_batch(size)["index"].tolist())
        tokens_seen += size * 32
    assert [len(b) for b in batches] == [2, 4, 8, 8, 8]
    for k in (1, 4):
        assert main(["data", "trace", str(run), "--batch", str(k), "--json"]) == 0
        pieces = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert list(dict.fromkeys(p["instance"] for p in pieces)) == batches[k]


def test_trace_rejects_negative_indices_in_one_line(tmp_path, capsys):
    # checked before any data is read: the folder need not even exist
    for flag, value in (("--batch", "-1"), ("--seed", "-3"), ("--batch-size", "0")):
        args = ["data", "trace", str(tmp_path), "--batch", "0", "--batch-size", "2", flag, value]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert flag.lstrip("-").replace("-", "_") + ": must be" in err and "Traceback" not in err


def test_token_files_of_the_wrong_size_and_oversized_batches_are_one_line(tmp_path, capsys):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    np.arange(100, dtype=np.uint16).tofile(tokens / "a.npy")
    args = ["data", "trace", str(tokens), "--batch", "0", "--seq-len", "10"]
    assert main([*args, "--batch-size", "11"]) == 2  # 10 instances of 10 tokens
    assert "global_batch_size: global batch 11 exceeds 10 instances/epoch" in capsys.readouterr().err
    with open(tokens / "a.npy", "ab") as f:
        f.write(b"x")  # 201 bytes: half a uint16 at the end
    assert main([*args, "--batch-size", "2"]) == 2
    assert "a.npy: 201 bytes is not a whole number of uint16 values" in capsys.readouterr().err


def test_a_foreign_manifest_json_is_one_line(tmp_path, capsys):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    np.arange(100, dtype=np.uint16).tofile(tokens / "a.npy")
    (tokens / "manifest.json").write_text(json.dumps({"name": "not ours"}))
    assert main(["data", "trace", str(tokens), "--batch", "0", "--batch-size", "2", "--seq-len", "10"]) == 2
    err = capsys.readouterr().err
    assert "manifest.json: not a token manifest" in err and "Traceback" not in err


def test_a_cut_or_edited_metadata_file_is_one_line(tmp_path, capsys):
    import gzip

    _, _, tokens = _corpus(tmp_path)
    metas = sorted((tmp_path / "tokens").glob("*.csv.gz"))
    originals = [m.read_bytes() for m in metas]
    args = ["data", "trace", tokens, "--batch", "1", "--batch-size", "2", "--seq-len", "16"]
    for meta, data in zip(metas, originals):
        meta.write_bytes(data[: len(data) // 2])  # a copy cut short: was gzip's EOFError traceback
    assert main(args) == 2
    err = capsys.readouterr().err
    assert ".csv.gz:" in err and "truncated or corrupt metadata" in err and "Traceback" not in err
    for meta, data in zip(metas, originals):
        text = gzip.decompress(data).decode().splitlines()
        text[2] = "x" + text[2]  # a start that is no number: was int()'s ValueError traceback
        meta.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    assert main(args) == 2
    assert ".csv.gz:3: start is not a count: 'x" in capsys.readouterr().err
