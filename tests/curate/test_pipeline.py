import gzip
import json
import re
import shutil

import pytest
import yaml
from curate_testlib import doc, read_jsonl, write_docs

from lmforge.curate.cli import main as curate_main
from lmforge.curate.config import ExecutionConfig, TagConfig
from lmforge.curate.pipeline import load_curate_config, run_curation
from lmforge.curate.tag import run_tag
from lmforge.curate.taggers import Tagger, register_tagger
from lmforge.io import InputError

FAIL_ON = {"text": None}


@register_tagger("test_explodes_v1", replace=True)
class Explodes(Tagger):
    """Fails on one chosen text, to simulate a run killed half-way."""

    def tag(self, doc):
        if doc["text"] == FAIL_ON["text"]:
            raise RuntimeError("killed")
        return {"n": [[0, len(doc["text"]), 1.0]]}


def _files(root):
    """Every output file's bytes (completion markers, which name absolute paths, left out)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".lmforge-state" not in p.parts
    }


def test_yaml_config_runs_every_step(corpus, tmp_path):
    docs = str(corpus / "documents/**/*.jsonl.gz")
    config = {
        "steps": ["tag", "dedup", "decontaminate", "mix"],
        "execution": {"processes": 2, "progress": False},
        "tag": {
            "documents": [docs],
            "taggers": ["char_length_v1", {"name": "pii_regex_with_counts_fast_v2"}],
        },
        "dedup": {"documents": [docs], "name": "dd"},
        "decontaminate": {
            "documents": [docs],
            "eval": [str(tmp_path / "eval.jsonl")],
            "ngram_size": 3,
        },
        "mix": {
            "streams": [
                {
                    "name": "all",
                    "documents": [docs],
                    "attributes": ["char_length_v1", "pii_regex_with_counts_fast_v2", "dd", "decontam"],
                    "output": {"path": str(tmp_path / "mixed")},
                    "filter": {
                        "exclude": [
                            "char_length_v1__char_length_v1__length < 10",
                            "exists('decontam__ngram_overlap__contaminated')",
                        ]
                    },
                    "span_replacement": [
                        {"span": "dd__bff_duplicate_paragraph_spans", "replacement": ""},
                        {"span": "bff_duplicate_paragraph_spans", "replacement": ""},
                        {
                            "span": "pii_regex_with_counts_fast_v2__pii_regex_with_counts_fast_v2__EMAIL_ADDRESS",
                            "replacement": " |||EMAIL_ADDRESS||| ",
                        },
                    ],
                }
            ]
        },
    }
    # an evaluation question that appears verbatim in the books source
    (tmp_path / "eval.jsonl").write_text(
        json.dumps({"question": "Ünïcødé line ☃. End.", "answer": "x"}) + "\n"
    )
    path = tmp_path / "curate.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    result = run_curation(load_curate_config(str(path), ["--execution.processes=1"]))
    assert set(result) == {"tag", "dedup", "decontaminate", "mix"}
    for step in ("tag", "dedup", "decontaminate"):
        assert result[step]["reconciles"] and result[step]["total"]["documents_in"] == 7
    mixed = result["mix"]["all"]
    assert mixed["reconciles"]
    assert mixed["total"]["filtered_by"] == {
        "exclude: char_length_v1__char_length_v1__length < 10": 1,
        "exclude: exists('decontam__ngram_overlap__contaminated')": 1,
    }
    texts = {d["id"]: d["text"] for d in read_jsonl(next((tmp_path / "mixed").glob("*.jsonl.gz")))}
    # the shared paragraph's first copy is in books (earlier in the global order): removed here
    assert texts["0"] == "Intro one is unique here.\nMail me at |||EMAIL_ADDRESS||| now."
    assert texts["1"] == "Second doc has its own line."  # duplicate paragraph removed
    assert (corpus / "attributes/char_length_v1/stats.json").exists()
    # a rerun finds every shard finished and changes nothing
    before = _files(tmp_path)
    again = run_curation(load_curate_config(str(path)))
    assert again["tag"]["skipped_shards"] == 3 and again["mix"]["all"]["skipped_shards"] == 1
    assert _files(tmp_path) == before


def test_rerun_after_a_crash_skips_finished_shards_and_ends_identical(corpus, tmp_path):
    clean = tmp_path / "clean"
    shutil.copytree(corpus, clean)
    config = TagConfig(
        documents=[str(corpus / "documents/**/*.jsonl.gz")], taggers=["test_explodes_v1", "c4_v2"]
    )
    execution = ExecutionConfig(progress=False)
    FAIL_ON["text"] = "Short."  # in web/part-0, the second file in global order
    try:
        with pytest.raises(RuntimeError, match="killed"):
            run_tag(config, execution)
    finally:
        FAIL_ON["text"] = None
    assert not (corpus / "attributes/c4_v2/web/part-0.jsonl.gz").exists()  # nothing half-written
    resumed = run_tag(config, execution)
    assert resumed["skipped_shards"] == 1
    run_tag(TagConfig(documents=[str(clean / "documents/**/*.jsonl.gz")], taggers=config.taggers), execution)
    assert _files(corpus / "attributes") == _files(clean / "attributes")


def _bad_inputs(root):
    good = json.dumps(doc(0, "fine text")) + "\n"
    (root / "documents/s").mkdir(parents=True)
    (root / "documents/s/json.jsonl").write_text(good + '{"id": "1", "text": \n' + good)
    (root / "documents/s/utf8.jsonl").write_bytes(good.encode() + b'{"id": "2", "text": "\xff\xfe"}\n')
    (root / "documents/s/missing.jsonl").write_text(good + '{"id": "3"}\n' + '{"id": "4", "text": 5}\n')
    data = gzip.compress((good * 50).encode())
    (root / "documents/s/trunc.jsonl.gz").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("json.jsonl", r"json.jsonl:2: malformed JSON"),
        ("utf8.jsonl", r"utf8.jsonl:2: invalid UTF-8"),
        ("missing.jsonl", r"missing.jsonl:2: missing 'text' field"),
        ("trunc.jsonl.gz", r"trunc.jsonl.gz:\d+: truncated or corrupt"),
    ],
)
def test_bad_input_fails_with_file_and_line(tmp_path, name, message):
    root = tmp_path / "data"
    _bad_inputs(root)
    config = TagConfig(documents=[str(root / "documents/s" / name)], taggers=["char_length_v1"])
    with pytest.raises(InputError, match=message):
        run_tag(config, ExecutionConfig(progress=False))


def test_bad_input_with_two_processes_fails_with_file_and_line(tmp_path, capsys):
    # the worker's InputError must cross the process boundary (it used to hang the pool's result thread)
    import signal

    root = tmp_path / "data"
    _bad_inputs(root)

    def alarm(signum, frame):
        raise TimeoutError("curate tag hung on a worker's error")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    try:
        code = curate_main(
            ["tag", "--documents", str(root / "documents/s/*.jsonl"), "--taggers", "char_length_v1",
             "--processes", "2", "--no-progress"]
        )  # fmt: skip
    except InputError as err:
        assert re.search(
            r"json.jsonl:2: malformed JSON|utf8.jsonl:2: invalid UTF-8|missing.jsonl:2", str(err)
        )
    else:
        raise AssertionError(f"expected an InputError, got exit code {code}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_bad_input_skipped_is_counted_never_lost(tmp_path, capsys):
    root = tmp_path / "data"
    _bad_inputs(root)
    code = curate_main(
        ["tag", "--documents", str(root / "documents/s/*"), "--taggers", "char_length_v1", "--on-error", "skip",
         "--no-progress"]
    )  # fmt: skip
    assert code == 0
    stats = json.loads((root / "attributes/char_length_v1/stats.json").read_text())
    total = stats["total"]
    assert total["rejected"] == 5 and stats["reconciles"]
    assert total["documents_in"] == total["kept"] + total["rejected"]
    reasons = {(r["path"].rsplit("/", 1)[1], r["line"]): r["reason"] for r in stats["rejections"]}
    assert reasons[("missing.jsonl", 3)] == "'text' must be a string, got int"
    assert len(read_jsonl(root / "attributes/char_length_v1/s/json.jsonl")) == 2  # rows of the valid docs
    assert "rejected 5" in capsys.readouterr().err
    # dedup and mix under the same policy stay aligned with those attribute rows and count the same lines
    docs = str(root / "documents/s/*")
    assert curate_main(["dedup", "--documents", docs, "--on-error", "skip", "--no-progress"]) == 0
    mix = tmp_path / "mix.yaml"
    stream = {"name": "m", "documents": [docs], "attributes": ["char_length_v1", "dedupe"],
              "output": {"path": str(tmp_path / "mixed")}, "span_replacement": [{"span": "bff_duplicate_paragraph_spans"}],
              "filter": {"exclude": ["char_length_v1__char_length_v1__length < 5"]}}  # fmt: skip
    mix.write_text(yaml.safe_dump({"streams": [stream]}))
    assert curate_main(["mix", str(mix), "--on-error", "skip", "--no-progress"]) == 0
    mixed = json.loads((tmp_path / "mixed/stats-m.json").read_text())
    assert mixed["reconciles"] and mixed["total"]["rejected"] == 5
    assert mixed["total"]["documents_in"] == total["documents_in"]
    # every valid document is "fine text": the first copy is kept, the others lose their only paragraph
    assert mixed["total"]["kept"] == 1
    assert mixed["total"]["filtered_by"] == {"empty after span replacement": total["kept"] - 1}


def test_ten_megabyte_document_streams_through(tmp_path):
    root = tmp_path / "data"
    big = ("Lorem ipsum dolor sit amet, mail x@y.com now.\n" * 230_000)[:10_000_000]
    write_docs(root / "documents/s/big.jsonl", [doc(0, big), doc(1, "small one")])
    summary = run_tag(
        TagConfig(documents=[str(root / "documents/s/big.jsonl")], taggers=["c4_v2", "char_length_v1"]),
        ExecutionConfig(progress=False),
    )
    assert summary["total"]["kept"] == 2
    rows = read_jsonl(root / "attributes/char_length_v1/s/big.jsonl")
    assert rows[0]["attributes"]["char_length_v1__char_length_v1__length"] == [[0, len(big), float(len(big))]]


def test_cli_subcommands(corpus, tmp_path, capsys):
    docs = str(corpus / "documents/**/*.jsonl.gz")
    assert curate_main(["tag", "--documents", docs, "--taggers", "gopher_v1,c4_v2", "--experiment", "q",
                        "--no-progress", "--processes", "2"]) == 0  # fmt: skip
    row = read_jsonl(corpus / "attributes/q/web/part-0.jsonl.gz")[0]["attributes"]
    assert "q__gopher_v1__word_count" in row and "q__c4_v2__line_count" in row
    # every command says where its outputs went (the attribute folder is decided by the documents' root)
    assert f"written: {corpus}/attributes/q/ (stats.json in each)" in capsys.readouterr().err
    assert (
        curate_main(["dedup", "--documents", docs, "--minhash", "--exact-key", "text", "--no-progress"]) == 0
    )
    assert (corpus / "attributes/dedupe/stats.json").exists()
    assert f"written: {corpus}/attributes/dedupe/ (stats.json in each)" in capsys.readouterr().err
    mix = tmp_path / "mix.yaml"
    mix.write_text(
        yaml.safe_dump(
            {
                "streams": [
                    {
                        "name": "m",
                        "documents": [docs],
                        "attributes": ["q"],
                        "output": {"path": str(tmp_path / "m")},
                        "filter": {"exclude": ["q__gopher_v1__word_count < 3"]},
                    }
                ]
            }
        )
    )
    assert curate_main(["mix", str(mix), "--no-progress", "--seed=3"]) == 0
    err = capsys.readouterr().err
    assert "filtered 1" in err and f"written: {tmp_path / 'm'}/ (stats-m.json)" in err
    assert curate_main(["taggers"]) == 0
    assert "gopher_v1" in capsys.readouterr().out


def test_rerun_after_sigkill_ends_byte_identical(corpus, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    clean = tmp_path / "clean"
    shutil.copytree(corpus, clean)
    here = str(Path(__file__).parent)

    def tag(root, kill_on=None):
        env = {**os.environ, "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
        if kill_on:
            env["LMFORGE_TEST_KILL_ON"] = kill_on
        cmd = [sys.executable, "-m", "lmforge.cli", "curate", "tag", "--documents", str(root / "documents/**/*.gz"),
               "--taggers", "test_killer_v1,gopher_v1", "--import", "curate_killer", "--no-progress"]  # fmt: skip
        return subprocess.run(cmd, env=env, capture_output=True, text=True)

    killed = tag(
        corpus,
        kill_on="Another start.\n" + "This paragraph appears in several documents across the corpus.\n",
    )
    assert killed.returncode == -9  # SIGKILL in the middle of web/part-1, the last file
    assert not (corpus / "attributes/gopher_v1/web/part-1.jsonl.gz").exists()
    assert (corpus / "attributes/gopher_v1/web/part-0.jsonl.gz").exists()
    resumed = tag(corpus)
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped finished shards: 2" in resumed.stderr
    assert tag(clean).returncode == 0
    assert _files(corpus / "attributes") == _files(clean / "attributes")


def test_every_step_gives_the_same_bytes_with_one_or_two_processes(corpus, tmp_path):
    outputs = []
    for processes in (1, 2):
        root = tmp_path / f"p{processes}"
        shutil.copytree(corpus, root / "data")
        docs = str(root / "data/documents/**/*.jsonl.gz")
        config = {
            "steps": ["tag", "dedup", "mix"],
            "execution": {"processes": processes, "progress": False},
            "tag": {"documents": [docs], "taggers": ["gopher_v1", "c4_v2", "pii_regex_with_counts_fast_v2"]},
            "dedup": {"documents": [docs], "minhash": {}, "exact_documents": {}},
            "mix": {
                "streams": [
                    {
                        "name": "all",
                        "documents": [docs],
                        "attributes": ["gopher_v1", "dedupe"],
                        "output": {"path": str(root / "mixed"), "max_size_in_bytes": 300},
                        "span_replacement": [{"span": "bff_duplicate_paragraph_spans"}],
                        "sampling_rate": 1.5,
                        "provenance": False,  # absolute paths differ between the two copies
                    }
                ]
            },
        }
        run_curation(load_curate_config(None, config))
        outputs.append(_files(root))
    assert outputs[0] == outputs[1]
    assert any(name.startswith("mixed/all-") for name in outputs[0])


def test_a_file_named_by_two_overlapping_inputs_is_read_once(corpus, tmp_path, monkeypatch):
    from lmforge.analyze import analyze_corpus
    from lmforge.documents import expand_document_paths

    monkeypatch.chdir(tmp_path)
    inputs = [
        str(corpus / "documents/**/*.jsonl.gz"),
        "./data/documents/web/part-0.jsonl.gz",
        "data/documents/web",
    ]
    assert len(expand_document_paths(inputs)) == 3
    summary = run_tag(
        TagConfig(documents=inputs, taggers=["char_length_v1"]), ExecutionConfig(progress=False)
    )
    assert summary["total"]["documents_in"] == 7 and summary["files"] == 3
    report = analyze_corpus(inputs, None, top_k=0, languages=False, plots=False, progress=False)
    assert report["totals"]["documents"] == 7
