from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import pytest

from lmforge.documents import write_documents
from lmforge.io import InputError
from lmforge.tokenize.tokenizer import eos_token_id, load_tokenizer, pad_token_id, tokenizer_sha256
from lmforge.tokenize.train import SPECIAL_TOKENS, train_tokenizer


def test_trained_tokenizer_has_fixed_special_ids_and_round_trips(tokenizer_path):
    tok = load_tokenizer(tokenizer_path)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.get_vocab_size() <= 400
    assert eos_token_id(tok) == 0 and pad_token_id(tok) == 1
    text = "Über data 東京 |||EMAIL_ADDRESS||| x_y 3.14\n\n\tend emoji 🦀"
    ids = tok.encode(text).ids
    assert tok.decode(ids, skip_special_tokens=False) == text
    # a PII mask is one token, not split into pieces
    assert ids.count(tok.token_to_id("|||EMAIL_ADDRESS|||")) == 1
    # bytes never seen in training still encode (byte-level alphabet) and decode exactly
    assert tok.decode(tok.encode("ŋ\u2603").ids) == "ŋ\u2603"


def test_training_counts_documents_and_skips_bad_lines(tmp_path):
    good = [{"id": str(i), "text": f"hello world {i}"} for i in range(5)]
    write_documents(str(tmp_path / "a.jsonl"), good)
    with open(tmp_path / "a.jsonl", "ab") as f:
        f.write(b"{broken\n")
    out = str(tmp_path / "tok.json")
    with pytest.raises(InputError, match=r"a\.jsonl:6: malformed JSON"):
        train_tokenizer(str(tmp_path / "a.jsonl"), 300, out)
    result = train_tokenizer(str(tmp_path / "a.jsonl"), 300, out, on_error="skip")
    assert (result.documents, result.rejected) == (5, 1)
    assert load_tokenizer(out).token_to_id("<|endoftext|>") == 0
    with pytest.raises(ValueError, match="at least 261"):
        train_tokenizer(str(tmp_path / "a.jsonl"), 100, out)


def test_load_from_folder_file_and_errors(tokenizer_path, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(tokenizer_path, folder / "tokenizer.json")
    a, b = load_tokenizer(tokenizer_path), load_tokenizer(str(folder))
    assert a.encode("the data").ids == b.encode("the data").ids
    assert tokenizer_sha256(str(folder)) == tokenizer_sha256(tokenizer_path)
    with pytest.raises(FileNotFoundError, match=r"no tokenizer\.json"):
        load_tokenizer(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such tokenizer"):
        load_tokenizer(str(tmp_path / "missing.json"))


def test_eos_choice(tokenizer_path, tmp_path):
    tok = load_tokenizer(tokenizer_path)
    assert eos_token_id(tok, 4) == 4  # explicit wins (OLMo-1 used |||IP_ADDRESS||| as EOS)
    with pytest.raises(ValueError, match="outside the tokenizer"):
        eos_token_id(tok, 10_000)
    # a tokenizer whose EOS is spelled </s>
    with open(tokenizer_path) as f:
        spec = json.load(f)

    def rename(old: str, new: str) -> None:
        for added in spec["added_tokens"]:
            if added["content"] == old:
                added["content"] = new
        spec["model"]["vocab"][new] = spec["model"]["vocab"].pop(old)
        path.write_text(json.dumps(spec))

    path = tmp_path / "s.json"
    rename("<|endoftext|>", "</s>")
    assert eos_token_id(load_tokenizer(str(path))) == 0
    rename("</s>", "<nothing>")
    with pytest.raises(ValueError, match="pass --eos-id"):
        eos_token_id(load_tokenizer(str(path)))


def test_cli_train(tmp_path, capsys):
    from lmforge.cli import main

    write_documents(str(tmp_path / "d" / "a.jsonl.gz"), [{"id": "1", "text": "abc abd abe " * 20}])
    out = tmp_path / "t.json"
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--input",
                str(tmp_path / "d" / "*.jsonl.gz"),
                "--vocab-size",
                "270",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["documents"] == 1
    # three words give far fewer than 270 - 261 merges: the shortfall is reported, not silent
    assert result["vocab_size"] == load_tokenizer(str(out)).get_vocab_size() < 270
    assert f"note: {result['vocab_size']} ids, not the 270 asked for" in captured.err


def test_hub_names_are_fetched_with_huggingface_hub(tokenizer_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    import lmforge.tokenize.tokenizer as tokenizer_module

    # online as far as lmforge can tell (the suite sets HF_HUB_OFFLINE), yet no network: the download is faked
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(tokenizer_module, "_hub_unreachable", lambda endpoint: None)
    asked = []

    def fake_download(repo_id: str, filename: str) -> str:
        asked.append((repo_id, filename))
        return tokenizer_path

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    tok = load_tokenizer("allenai/OLMo-1B-hf")
    assert asked == [("allenai/OLMo-1B-hf", "tokenizer.json")]
    assert tok.token_to_id("<|endoftext|>") == 0
    with pytest.raises(FileNotFoundError, match="no such tokenizer"):
        load_tokenizer("not/a/hub/name")

    def offline(repo_id: str, filename: str) -> str:
        raise OSError("We cannot find the requested files in the local cache.")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    # the name the user typed leads the message (the hub's own text alone does not say which)
    with pytest.raises(FileNotFoundError, match=r"^allenai/OLMo-1B-hf: not a local .*local cache\.\)$"):
        load_tokenizer("allenai/OLMo-1B-hf")


def _closed_local_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_hub_fails_fast_and_falls_back_to_the_cache(tokenizer_path, tmp_path, monkeypatch):
    from huggingface_hub import constants

    # a hub that refuses connections (a closed port on this machine: no network needed), an empty cache
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_local_port()}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    started = time.monotonic()
    with pytest.raises(FileNotFoundError, match=r"^someorg/missing: .*127\.0\.0\.1:\d+\) cannot be reached"):
        load_tokenizer("someorg/missing")
    # huggingface_hub alone retries with back-off for ~25 s before giving up; lmforge asks once (~1 s here,
    # the bound leaves room for a loaded machine)
    assert time.monotonic() - started < 15
    # a tokenizer downloaded earlier is used from the cache (huggingface_hub's layout: refs -> snapshot)
    snapshot = cache / "models--someorg--cached" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    shutil.copy(tokenizer_path, snapshot / "tokenizer.json")
    (cache / "models--someorg--cached" / "refs").mkdir()
    (cache / "models--someorg--cached" / "refs" / "main").write_text("0" * 40)
    assert tokenizer_sha256("someorg/cached") == tokenizer_sha256(tokenizer_path)


def test_hf_hub_offline_asks_only_the_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    import lmforge.tokenize.tokenizer as tokenizer_module

    def no_probe(endpoint):
        raise AssertionError("HF_HUB_OFFLINE: the hub must not be contacted")

    monkeypatch.setattr(tokenizer_module, "_hub_unreachable", no_probe)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError, match=r"^someorg/missing: .*HF_HUB_OFFLINE is set"):
        load_tokenizer("someorg/missing")


def test_special_ids_for_keeps_fitting_ids_and_replaces_the_others():
    from tokenizers import AddedToken, Tokenizer, models

    from lmforge.tokenize.tokenizer import special_ids_for

    names = [f"w{i}" for i in range(20)]
    names[5], names[6] = "<|endoftext|>", "<|padding|>"
    tok = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="w0"))
    tok.add_tokens([AddedToken("|||IP_ADDRESS|||")])  # id 20, an added (not special) token, as in OLMo-1's
    assert special_ids_for(tok, 20, 1) == (20, 1)  # OLMo-1's convention: an added token as EOS is kept
    assert special_ids_for(tok, 50279, 1) == (5, 1)  # no such id: the tokenizer's EOS; PAD "w1" is a token
    # an ordinary word piece is no EOS (a preset's 50279 kept with a 50 280-id BPE tokenizer of one's own)
    assert special_ids_for(tok, 10, 99) == (5, 6)
    assert special_ids_for(tok, 5, None) == (5, None)
    names[6] = "w6"
    no_pad = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="w0"))
    assert special_ids_for(no_pad, 50279, 50) == (5, 5)  # no padding token: PAD falls back to EOS


def test_cli_train_stdout_is_one_json_line_off_a_terminal(tmp_path):
    # the Rust trainer's progress bars once left blank lines on a piped stdout, ahead of the JSON summary
    write_documents(str(tmp_path / "a.jsonl.gz"), [{"id": "1", "text": "abc abd abe " * 20}])
    cmd = [sys.executable, "-m", "lmforge", "tokenizer", "train", "--input", str(tmp_path / "a.jsonl.gz"),
           "--vocab-size", "270", "--output", str(tmp_path / "t.json")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["vocab_size"] <= 270 and proc.stdout.count("\n") == 1
