"""The curate stage with a relative run_dir (`run_dir: runs/my-corpus`, as configs/pipeline-dolma.yaml has it,
and the quickstart's default `runs/quickstart`): the run's copies of the inputs are relative paths too, and
must not be placed under the copy a second time (`runs/x/curated/documents/runs/x/curated/documents/...`)."""

from __future__ import annotations

import gzip
import json
import os

from lmforge.config import build_config
from lmforge.pipeline.config import PipelineConfig
from lmforge.pipeline.curate_stage import curate_stage, mixed_root
from lmforge.pipeline.layout import RunLayout


def _write_documents(path: str, source: str, texts: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"{source}-{i}", "text": text, "source": source}) + "\n")


def test_relative_run_dir_and_inputs_curate_every_document_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_documents("corpus/documents/web/part-0.jsonl.gz", "web", ["a web page\nwith two lines", "short"])
    _write_documents("corpus/documents/code/part-0.jsonl.gz", "code", ["def f():\n    return 1\n"])
    recipe = {
        "steps": ["tag", "dedup", "mix"],  # tag, dedup and the stream take the default documents
        "tag": {"taggers": ["char_length_v1"]},
        "dedup": {"paragraphs": {"method": "exact"}},
        "mix": {"streams": [{"name": "all", "attributes": ["char_length_v1", "dedupe"]},
                            {"name": "web", "documents": ["web/*"]}]},
    }  # fmt: skip
    cfg = build_config(
        PipelineConfig,
        base={
            "run_dir": "runs/rel",
            "documents": ["corpus/documents/*/*.jsonl.gz"],
            "curate": {"recipe": recipe},
        },
    )
    layout = RunLayout(cfg.run_dir)
    summary = curate_stage(cfg, layout, list(cfg.documents)).run()

    assert summary["documents_in"] == 3 + 2  # stream "all": every document; stream "web": its two
    assert os.path.isfile("runs/rel/curated/attributes/char_length_v1/web/part-0.jsonl.gz")
    assert os.path.isfile("runs/rel/curated/attributes/dedupe/code/part-0.jsonl.gz")
    assert not os.path.exists("runs/rel/curated/documents/runs")
    assert sorted(os.listdir(mixed_root(layout))) == ["all", "web"]
