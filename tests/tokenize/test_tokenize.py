from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lmforge.documents import read_documents, write_documents
from lmforge.io import InputError
from lmforge.tokenize.run import choose_dtype, tokenize_documents
from lmforge.tokenize.tokenizer import load_tokenizer, tokenizer_sha256


def _tree(folder) -> dict[str, bytes]:
    """Every file under folder (progress markers included) -> its bytes."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def _metadata(path) -> list[dict]:
    with gzip.open(str(path).replace(".npy", ".csv.gz"), "rt", newline="") as f:
        return list(csv.DictReader(f))


def test_tokens_equal_encode_plus_eos_for_every_document(tmp_path, corpus, tokenizer_path):
    out = tmp_path / "tokens"
    manifest = tokenize_documents(str(tmp_path / "documents"), tokenizer_path, str(out), progress=False)
    tok = load_tokenizer(tokenizer_path)
    eos = manifest["eos_token_id"]
    assert eos == tok.token_to_id("<|endoftext|>") == 0
    assert manifest["dtype"] == "uint16"
    assert manifest["tokenizer"]["sha256"] == tokenizer_sha256(tokenizer_path)
    texts = {(p, line): doc["text"] for p in corpus for line, doc in read_documents(p)}
    seen = set()
    for record in manifest["files"]:
        tokens = np.memmap(out / record["path"], dtype=np.uint16, mode="r")
        assert len(tokens) == record["tokens"]
        rows = _metadata(out / record["path"])
        assert len(rows) == record["documents"]
        assert int(rows[-1]["end"]) == len(tokens) and int(rows[0]["start"]) == 0
        for row in rows:
            expected = [*tok.encode(texts[row["input"], int(row["line"])], add_special_tokens=False).ids, eos]
            assert tokens[int(row["start"]) : int(row["end"])].tolist() == expected
            seen.add((row["input"], int(row["line"])))
    assert seen == set(texts)  # every document exactly once
    totals = manifest["totals"]
    assert totals["tokenized"] == totals["documents_in"] == len(texts) == 40 * 3 + 25 + 2 * 30
    assert totals["tokens"] == sum(f["tokens"] for f in manifest["files"])
    assert manifest["sources"]["books"]["documents"] == 25
    assert sum(s["tokens"] for s in manifest["sources"].values()) == totals["tokens"]
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_output_is_byte_identical_whatever_the_process_count(tmp_path, corpus, tokenizer_path):
    # small batches and a small file budget: many batches in flight and several files per input
    trees = []
    for processes in (1, 2):
        out = tmp_path / f"p{processes}"
        tokenize_documents(
            corpus,
            tokenizer_path,
            str(out),
            processes=processes,
            batch_bytes=2000,
            max_tokens_per_file=1500,
            progress=False,
        )
        trees.append(_tree(out))
    assert trees[0] == trees[1]
    assert sum(name.endswith(".npy") for name in trees[0]) > len(corpus)  # rollover happened


def test_files_respect_the_token_budget_and_never_split_documents(tmp_path, corpus, tokenizer_path):
    out = tmp_path / "t"
    manifest = tokenize_documents(
        corpus[:1], tokenizer_path, str(out), max_tokens_per_file=700, progress=False
    )
    names = [f["path"] for f in manifest["files"]]
    assert names == [f"part-00000-{k:03d}.npy" for k in range(len(names))] and len(names) > 2
    for record in manifest["files"]:
        rows = _metadata(out / record["path"])
        assert record["tokens"] <= 700 or len(rows) == 1
        tokens = np.memmap(out / record["path"], dtype=np.uint16, mode="r")
        assert all(tokens[int(r["end"]) - 1] == 0 for r in rows)  # each document ends with its EOS
    lines = [int(r["line"]) for f in manifest["files"] for r in _metadata(out / f["path"])]
    assert lines == [line for line, _ in read_documents(corpus[0])]


def test_explicit_dtype_and_eos(tmp_path, corpus, tokenizer_path):
    a = tokenize_documents(corpus[:1], tokenizer_path, str(tmp_path / "a"), progress=False)
    b = tokenize_documents(
        corpus[:1], tokenizer_path, str(tmp_path / "b"), dtype="uint32", eos_id=4, progress=False
    )
    assert b["dtype"] == "uint32" and b["eos_token_id"] == 4
    x = np.fromfile(tmp_path / "a" / a["files"][0]["path"], dtype=np.uint16)
    y = np.fromfile(tmp_path / "b" / b["files"][0]["path"], dtype=np.uint32)
    assert len(x) == len(y) and (x[x != 0] == y[x != 0]).all() and (y[x == 0] == 4).all()
    assert choose_dtype("auto", 65536) == "uint16" and choose_dtype("auto", 65537) == "uint32"
    with pytest.raises(ValueError, match="too many for uint16"):
        choose_dtype("uint16", 100_352)


KILLER = """
import os, sys
import lmforge.tokenize.encode as enc
calls = [0]
original = enc.Encoder.encode
def dying(self, batch):
    calls[0] += 1
    if calls[0] == int(sys.argv[4]):
        os._exit(9)  # like SIGKILL: no cleanup, no finally
    return original(self, batch)
enc.Encoder.encode = dying
from lmforge.tokenize.run import tokenize_documents
tokenize_documents(sys.argv[1].split(","), sys.argv[2], sys.argv[3], batch_bytes=3000, progress=False)
"""


def test_rerun_after_kill_finishes_only_what_is_missing(tmp_path, corpus, tokenizer_path, monkeypatch):
    fresh = tmp_path / "fresh"
    tokenize_documents(corpus, tokenizer_path, str(fresh), batch_bytes=3000, progress=False)
    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, ",".join(corpus), tokenizer_path, str(out), "9"], capture_output=True
    )
    assert proc.returncode == 9, proc.stderr.decode()
    finished = sorted(os.listdir(out / ".progress"))
    assert 0 < len(finished) < len(corpus)
    assert any(name.startswith(".part-") for name in os.listdir(out))  # a temporary the kill left behind
    assert not (out / "manifest.json").exists()

    import lmforge.tokenize.encode as enc

    encoded_lines = []
    original = enc.Encoder.encode

    def counting(self, batch):
        encoded_lines.extend((batch.path, line) for line, _ in batch.lines)
        return original(self, batch)

    monkeypatch.setattr(enc.Encoder, "encode", counting)
    tokenize_documents(corpus, tokenizer_path, str(out), batch_bytes=3000, progress=False)
    redone = {path for path, _ in encoded_lines}
    assert redone == set(corpus[len(finished) :])  # finished inputs are not encoded again
    assert _tree(out) == _tree(fresh)  # same bytes as an uninterrupted run; temporaries gone
    # a second rerun has nothing to do
    encoded_lines.clear()
    tokenize_documents(corpus, tokenizer_path, str(out), batch_bytes=3000, progress=False)
    assert encoded_lines == []


def _bad_corpus(tmp_path) -> tuple[list[str], int]:
    good = [{"id": str(i), "text": f"the data {i}"} for i in range(6)]
    a = tmp_path / "in" / "a.jsonl"
    write_documents(str(a), good[:3])
    with open(a, "ab") as f:
        f.write(b'{"id": "x", "text": "\xff bad utf8"}\n')  # line 4
        f.write(b"\n")  # blank line: not a document
        f.write(b"{oops}\n")  # line 6
        f.write(b'{"id": "m"}\n')  # line 7: missing text
        f.write(b'{"id": "n", "text": 3}\n')  # line 8: text not a string
        f.write(b'{"id": "e", "text": "   "}\n')  # line 9: empty
    b = tmp_path / "in" / "b.jsonl.gz"
    payload = gzip.compress(("\n".join(json.dumps(d) for d in good) + "\n").encode() * 50)
    b.write_bytes(payload[: len(payload) // 2])  # truncated gzip
    return [str(a), str(b)], 3 + 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "x", "text": "\xff"}\n', r"a\.jsonl:2: invalid UTF-8"),
        (b"{oops}\n", r"a\.jsonl:2: malformed JSON"),
        (b'{"id": "m"}\n', r"a\.jsonl:2: missing 'text'"),
        (b'{"id": "n", "text": 3}\n', r"a\.jsonl:2: 'text' must be a string"),
    ],
)
def test_bad_input_fails_with_file_and_line(tmp_path, tokenizer_path, content, message):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"id": "1", "text": "fine"}\n' + content + b'{"id": "3", "text": "fine"}\n')
    for processes in (1, 2):
        out = tmp_path / f"o{processes}"
        with pytest.raises(InputError, match=message):
            tokenize_documents(str(path), tokenizer_path, str(out), processes=processes, progress=False)
        assert not [n for n in os.listdir(out) if n.endswith(".npy") or n.startswith(".part")]


def test_truncated_gzip_fails_with_location(tmp_path, tokenizer_path):
    paths, _ = _bad_corpus(tmp_path)
    with pytest.raises(InputError, match=r"b\.jsonl\.gz:\d+: truncated or corrupt"):
        tokenize_documents(paths[1], tokenizer_path, str(tmp_path / "o"), progress=False)


def test_skip_counts_add_up_and_rejects_are_listed(tmp_path, tokenizer_path):
    paths, _ = _bad_corpus(tmp_path)
    manifest = tokenize_documents(
        paths, tokenizer_path, str(tmp_path / "o"), on_error="skip", processes=2, progress=False
    )
    totals = manifest["totals"]
    assert totals["documents_in"] == totals["tokenized"] + totals["empty"] + totals["rejected"]
    a, b = manifest["inputs"]
    assert (a["documents_in"], a["tokenized"], a["empty"], a["rejected"]) == (8, 3, 1, 4)
    assert b["rejected"] == 1 and b["tokenized"] > 0  # complete lines before the damage are kept
    rejects = [(os.path.basename(r["path"]), r["line"]) for r in manifest["rejects"]]
    assert rejects[:4] == [("a.jsonl", 4), ("a.jsonl", 6), ("a.jsonl", 7), ("a.jsonl", 8)]
    assert rejects[4][0] == "b.jsonl.gz" and "truncated" in manifest["rejects"][4]["reason"]
    tokens = sum(len(np.fromfile(tmp_path / "o" / f["path"], dtype=np.uint16)) for f in manifest["files"])
    assert tokens == totals["tokens"]


def test_compressed_and_plain_inputs_and_cli(tmp_path, tokenizer_path, capsys):
    from lmforge.cli import main

    docs = [{"id": str(i), "text": f"open data {i} über"} for i in range(4)]
    for suffix in (".jsonl", ".jsonl.gz", ".jsonl.zst"):
        write_documents(str(tmp_path / "d" / f"x{suffix}"), docs)
    out = tmp_path / "o"
    code = main(
        [
            "tokenize",
            "--input",
            str(tmp_path / "d" / "x.*"),
            "--tokenizer",
            tokenizer_path,
            "--output",
            str(out),
            "--processes",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0 and "in 12 = tokenized 12 + empty 0 + rejected 0" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    arrays = [np.fromfile(out / f["path"], dtype=np.uint16) for f in manifest["files"]]
    assert len(arrays) == 3 and all((x == arrays[0]).all() for x in arrays)
    (tmp_path / "d" / "x.jsonl").write_bytes(b"{bad\n")
    code = main(
        [
            "tokenize",
            "--input",
            str(tmp_path / "d" / "x.jsonl"),
            "--tokenizer",
            tokenizer_path,
            "--output",
            str(tmp_path / "o2"),
            "--no-progress",
        ]
    )
    assert code == 2 and "x.jsonl:1: malformed JSON" in capsys.readouterr().err


def test_fsspec_input_and_output(tmp_path, tokenizer_path):
    import fsspec

    docs = [{"id": str(i), "text": f"remote text {i}"} for i in range(5)]
    write_documents("memory://lmforge-test/docs/a.jsonl.gz", docs)
    manifest = tokenize_documents(
        "memory://lmforge-test/docs/*.jsonl.gz",
        tokenizer_path,
        "memory://lmforge-test/tokens",
        progress=False,
    )
    fs = fsspec.filesystem("memory")
    raw = fs.cat_file("/lmforge-test/tokens/" + manifest["files"][0]["path"])
    tok = load_tokenizer(tokenizer_path)
    expected = [t for d in docs for t in [*tok.encode(d["text"]).ids, 0]]
    assert np.frombuffer(raw, dtype=np.uint16).tolist() == expected
    assert fs.exists("/lmforge-test/tokens/manifest.json")


def test_strip_whitespace_tokenizes_the_stripped_text(tmp_path, tokenizer_path):
    docs = [{"id": "1", "text": "  \n the data \n\n"}, {"id": "2", "text": "open\t"}]
    write_documents(str(tmp_path / "a.jsonl"), docs)
    tok = load_tokenizer(tokenizer_path)
    for strip in (False, True):
        out = tmp_path / f"o{strip}"
        manifest = tokenize_documents(
            str(tmp_path / "a.jsonl"), tokenizer_path, str(out), strip_whitespace=strip, progress=False
        )
        assert manifest["strip_whitespace"] is strip
        texts = [d["text"].strip() if strip else d["text"] for d in docs]
        expected = [t for text in texts for t in [*tok.encode(text).ids, 0]]
        assert np.fromfile(out / "part-00000-000.npy", dtype=np.uint16).tolist() == expected


def test_rerun_with_skip_after_a_failure_keeps_finished_inputs(tmp_path, corpus, tokenizer_path, monkeypatch):
    bad = tmp_path / "documents" / "zzz" / "bad.jsonl"
    bad.parent.mkdir()
    bad.write_bytes(b'{"id": "1", "text": "fine"}\n{oops}\n')
    paths = [*corpus, str(bad)]
    out = str(tmp_path / "o")
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        tokenize_documents(paths, tokenizer_path, out, progress=False)
    import lmforge.tokenize.encode as enc

    encoded = []
    original = enc.Encoder.encode
    monkeypatch.setattr(enc.Encoder, "encode", lambda self, b: encoded.append(b.path) or original(self, b))
    manifest = tokenize_documents(paths, tokenizer_path, out, on_error="skip", processes=1, progress=False)
    assert set(encoded) == {str(bad)}  # the good inputs finished by the failed run are kept
    assert manifest["totals"]["rejected"] == 1 and manifest["on_error"] == "skip"
    encoded.clear()
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):  # fail never accepts a result with rejects
        tokenize_documents(paths, tokenizer_path, out, progress=False)
    assert set(encoded) == {str(bad)}


def test_a_folder_input_takes_only_its_document_files(tmp_path, corpus, tokenizer_path):
    # A mixer's output folder also holds stats-*.json: tokenizing the folder must skip it, not fail on it.
    (tmp_path / "documents" / "stats-mixed.json").write_text('{"documents_in": 3}\n')
    plain = tokenize_documents(
        str(tmp_path / "documents"), tokenizer_path, str(tmp_path / "a"), progress=False
    )
    assert plain["totals"]["documents_in"] == sum(1 for p in corpus for _ in read_documents(p))
    assert plain["totals"]["rejected"] == 0
    assert [entry["input"] for entry in plain["inputs"]] == sorted(corpus)


def test_overlapping_inputs_tokenize_each_file_once(tmp_path, corpus, tokenizer_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    web = sorted(os.path.relpath(p, tmp_path) for p in corpus if "/web/" in p)
    overlapping = ["documents/web", "./" + web[0], str(tmp_path / web[1])]
    manifest = tokenize_documents(overlapping, tokenizer_path, str(tmp_path / "t"), progress=False)
    assert manifest["totals"]["input_files"] == len(web) == 3
    assert manifest["totals"]["documents_in"] == 3 * 40


def test_a_null_or_missing_id_is_an_empty_metadata_id(tmp_path, tokenizer_path):
    docs = [
        {"text": "no id"},
        {"id": None, "text": "null id"},
        {"id": 5, "text": "int id"},
        {"id": "x", "text": "s"},
    ]
    write_documents(str(tmp_path / "d.jsonl"), docs)
    manifest = tokenize_documents(
        str(tmp_path / "d.jsonl"), tokenizer_path, str(tmp_path / "t"), progress=False
    )
    rows = _metadata(tmp_path / "t" / manifest["files"][0]["path"])
    # a null id was written as the string "None", indistinguishable from a document whose id is "None"
    assert [r["id"] for r in rows] == ["", "", "5", "x"]
