"""The whole pipeline on a tiny corpus and model: every stage's artifacts, then a rerun that skips them all."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from lmforge.cli import main as lmforge_main
from lmforge.pipeline.layout import RunLayout

pytestmark = pytest.mark.slow


def _text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _json(path: str):
    return json.loads(_text(path))


def test_pipeline_end_to_end_then_rerun_skips_everything(write_config, capsys):
    config, run_dir = write_config()
    assert lmforge_main(["pipeline", config]) == 0
    layout = RunLayout(run_dir)
    manifest = _json(layout.manifest)["stages"]
    assert list(manifest) == [
        "corpus",
        "curate",
        "analyze",
        "tokenizer",
        "tokenize",
        "train",
        "eval",
        "export",
        "report",
    ]
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in manifest.values())

    curated = manifest["curate"]["summary"]
    assert curated["documents_in"] == curated["kept"] + curated["filtered"] + curated["rejected"]
    assert curated["documents_out"] == curated["kept"]  # no sampling in this recipe
    assert curated["documents_in"] == manifest["corpus"]["summary"]["documents"]
    tokens = _json(os.path.join(layout.tokens, "manifest.json"))
    assert tokens["totals"]["documents_in"] == curated["documents_out"]
    assert tokens["totals"]["documents_in"] == tokens["totals"]["tokenized"] + tokens["totals"]["empty"]
    assert set(tokens["sources"]) == {"stdlib-code", "stdlib-docs", "python-topics"}
    assert manifest["train"]["summary"]["steps"] == 6

    results = _json(layout.eval_results)
    assert set(results["perplexity"]) == {"stdlib-code", "stdlib-docs", "python-topics", "all"}
    for source, row in results["perplexity"].items():
        assert row["tokens"] > 0 and row["loss"] > 0
        assert results["unigram_entropy"][source] > 0
    assert set(results["tasks"]) == {"stdlib_docstrings", "stdlib_next_line"}

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(layout.hf)
    tok = AutoTokenizer.from_pretrained(layout.hf)
    assert model.config.vocab_size >= tok.vocab_size
    card = _text(os.path.join(layout.hf, "README.md"))
    assert "stdlib-code" in card and "Evaluation" in card and "How to use" in card
    samples = _json(layout.samples)
    assert samples[0]["prompt"] == "def " and isinstance(samples[0]["completion"], str)
    html = _text(os.path.join(layout.report, "report.html"))
    assert "data:image/png;base64," in html and "Held-out perplexity" in html
    md = _text(os.path.join(layout.report, "report.md"))
    assert "![training loss and learning rate](loss.png)" in md
    assert "Corpus analysis (training documents)" in md and "Curation step: mix" in md
    assert os.path.isfile(os.path.join(layout.report, "loss.png"))

    capsys.readouterr()
    assert lmforge_main(["pipeline", config]) == 0
    err = capsys.readouterr().err
    assert err.count("skipped (up to date)") == 9
    rerun = _json(layout.manifest)["stages"]
    assert all(r["attempts"] == 1 for r in rerun.values())

    # changing the eval settings reruns eval and what depends on it, nothing upstream
    assert lmforge_main(["pipeline", config, "--eval.limit=4"]) == 0
    after = _json(layout.manifest)["stages"]
    assert [n for n, r in after.items() if r["attempts"] == 2] == ["eval", "export", "report"]
    examples = [json.loads(line) for line in _text(layout.eval_examples).splitlines()]
    assert {e["task"] for e in examples} == {"stdlib_docstrings", "stdlib_next_line"}
    assert len(examples) == 8  # limit 4 per task

    # a named task read from a local folder (offline), k-shot, as `lmforge eval tasks --data-dir` does
    data_dir = os.path.join(os.path.dirname(run_dir), "eval_data")
    os.makedirs(data_dir)
    copa = [
        {"premise": f"The {thing} fell.", "choice1": "It broke.", "choice2": "It sang.", "question": "effect",
         "label": 0}
        for thing in ("glass", "vase", "plate")
    ]  # fmt: skip
    with gzip.open(os.path.join(data_dir, "copa.validation.jsonl.gz"), "wt") as f:
        f.writelines(json.dumps(row) + "\n" for row in copa)
    overrides = [f"--eval.data_dir={data_dir}", "--eval.tasks=[copa]", "--eval.num_fewshot=1"]
    assert lmforge_main(["pipeline", config, *overrides]) == 0
    tasks = _json(layout.eval_results)["tasks"]
    assert tasks["copa"]["num_examples"] == 3 and tasks["copa"]["num_fewshot"] == 1
    copa_examples = [json.loads(line) for line in _text(layout.eval_examples).splitlines()]
    copa_examples = [e for e in copa_examples if e["task"] == "copa"]
    assert len(copa_examples) == 3 and "\n\n" in copa_examples[0]["contexts"][0]  # one shot before it
