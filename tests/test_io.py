from __future__ import annotations

import gzip
import json
import os

import pytest

from lmforge.documents import ReadStats, read_documents, write_documents
from lmforge.io import InputError, atomic_write, expand_paths, open_file


def test_compressed_roundtrip_and_glob(tmp_path):
    docs = [{"id": str(i), "text": f"doc {i} é"} for i in range(3)]
    for suffix in (".jsonl", ".jsonl.gz", ".jsonl.zst"):
        write_documents(str(tmp_path / "documents" / f"a{suffix}"), docs)
    paths = expand_paths(str(tmp_path / "documents" / "**" / "*.jsonl*"))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"]
    for path in paths:
        assert [d for _, d in read_documents(path)] == docs
    with pytest.raises(FileNotFoundError, match="no files match"):
        expand_paths(str(tmp_path / "nothing*.jsonl"))


def test_bad_lines_are_located_and_counted(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": "1", "text": "ok"}\n{not json}\n{"id": "3", "text": "\xff\xfe"}\n'
        b'{"id": "4"}\n{"id": "5", "text": 5}\n{"id": "6", "text": "fine"}\n'
    )
    with pytest.raises(InputError, match=r"bad\.jsonl:2: malformed JSON"):
        list(read_documents(str(path)))
    stats = ReadStats()
    kept = list(read_documents(str(path), on_error="skip", stats=stats))
    assert [line for line, _ in kept] == [1, 6]
    assert stats.lines == stats.documents + stats.rejected == 6
    reasons = [r.reason for r in stats.rejections]
    assert "malformed JSON" in reasons[0]
    assert "invalid UTF-8" in reasons[1]
    assert "missing 'text'" in reasons[2]
    assert "'text' must be a string" in reasons[3]


def test_truncated_gzip_keeps_complete_lines(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    payload = "".join(json.dumps({"id": str(i), "text": "x" * 50}) + "\n" for i in range(200)).encode()
    data = gzip.compress(payload)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"t\.jsonl\.gz:\d+: truncated"):
        list(read_documents(str(path)))
    stats = ReadStats()
    kept = list(read_documents(str(path), on_error="skip", stats=stats))
    assert 0 < len(kept) < 200 and stats.rejected == 1


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_write(str(target), "wt") as f:
        f.write("partial")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_write(str(target), "wt") as f:
        f.write("done")
    with open_file(str(target), "rt") as f:
        assert f.read() == "done"


def test_read_json_names_a_malformed_file(tmp_path):
    from lmforge.io import InputError, read_json

    torn = tmp_path / "state.json"
    torn.write_text('{"step": 3,\n "loss": ')
    with pytest.raises(InputError, match=r"state\.json:2: malformed JSON"):
        read_json(str(torn))
    torn.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(InputError, match=r"state\.json: invalid UTF-8 at byte 7"):
        read_json(str(torn))
    torn.write_text('{"step": 3}')
    assert read_json(str(torn)) == {"step": 3}


def test_folders_skip_hidden_subfolders_like_glob_does(tmp_path):
    import fsspec

    for rel in ("a.jsonl", "sub/b.jsonl", ".lmforge-state/mix/marker.json", "sub/.cache/c.jsonl", ".x.jsonl"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}\n")
    assert expand_paths(str(tmp_path)) == [str(tmp_path / "a.jsonl"), str(tmp_path / "sub" / "b.jsonl")]
    assert expand_paths(str(tmp_path / "**" / "*.json*")) == expand_paths(str(tmp_path))
    fs = fsspec.filesystem("memory")
    for rel in ("a.jsonl", ".state/m.json", "sub/b.jsonl"):
        fs.pipe(f"/hidden-test/{rel}", b"{}\n")
    assert expand_paths("memory://hidden-test") == [
        "memory:///hidden-test/a.jsonl",
        "memory:///hidden-test/sub/b.jsonl",
    ]


def test_a_file_spelt_two_ways_is_listed_once(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text("{}\n")
    (tmp_path / "d" / "b.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    found = expand_paths(["d/a.jsonl", "./d/a.jsonl", str(tmp_path / "d" / "a.jsonl"), "d/*.jsonl"])
    assert len(found) == 2 and sorted(os.path.basename(p) for p in found) == ["a.jsonl", "b.jsonl"]


def test_truncated_zstd_is_reported_even_on_a_line_boundary(tmp_path):
    import zstandard

    lines = [json.dumps({"id": str(i), "text": "y" * 40}) + "\n" for i in range(300)]
    # two frames, the second cut inside: the first frame's lines are kept, the cut is named
    data = zstandard.ZstdCompressor().compress("".join(lines[:100]).encode())
    second = zstandard.ZstdCompressor().compress("".join(lines[100:]).encode())
    path = tmp_path / "t.jsonl.zst"
    path.write_bytes(data + second[: len(second) // 2])
    with pytest.raises(InputError, match=r"t\.jsonl\.zst:\d+: truncated or corrupt zstd"):
        list(read_documents(str(path)))
    # zstandard's stream reader ended cleanly here, so a cut that fell between lines lost the tail unseen
    stats = ReadStats()
    kept = list(read_documents(str(path), on_error="skip", stats=stats))
    assert 100 <= len(kept) < 300 and stats.rejected >= 1
    path.write_bytes(data + second)
    assert len(list(read_documents(str(path)))) == 300


def test_byte_order_mark_is_not_content_and_lone_surrogates_are_rejected(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"id": "1", "text": "first"}\n'
        b'{"id": "2", "text": "pair \\ud83d\\ude00 ok"}\n'
        b'{"id": "3", "text": "lone \\ud800 here"}\n'
        b'{"id": "4", "text": "nul \\u0000 kept"}\n'
    )
    with pytest.raises(InputError, match=r"b\.jsonl:3: unpaired surrogate escape \\ud800"):
        list(read_documents(str(path)))
    stats = ReadStats()
    kept = [doc for _, doc in read_documents(str(path), on_error="skip", stats=stats)]
    assert [d["id"] for d in kept] == ["1", "2", "4"] and stats.rejected == 1
    assert kept[1]["text"] == "pair \U0001f600 ok" and "\x00" in kept[2]["text"]
    write_documents(str(tmp_path / "out.jsonl.zst"), kept)  # every kept document is writable UTF-8
