"""Where attributes go for a documents path: beside ``documents/``, never at the file-system root."""

from __future__ import annotations

import gzip
import json
import os

from lmforge.cli import main
from lmforge.curate.layout import attribute_dir, attribute_path


def test_relative_documents_paths_keep_attributes_relative():
    assert attribute_path("documents/web/a.jsonl.gz", "t") == "./attributes/t/web/a.jsonl.gz"
    assert attribute_dir("documents/web/a.jsonl.gz", "t") == "./attributes/t"
    assert attribute_path("data/documents/a.jsonl", "t") == "data/attributes/t/a.jsonl"
    assert attribute_path("/documents/a.jsonl", "t") == "/attributes/t/a.jsonl"
    assert attribute_path("s3://b/documents/x/a.gz", "t") == "s3://b/attributes/t/x/a.gz"


def test_tag_from_inside_the_corpus_root_writes_there(tmp_path, monkeypatch, capsys):
    os.makedirs(tmp_path / "documents" / "web")
    with gzip.open(tmp_path / "documents" / "web" / "a.jsonl.gz", "wt") as f:
        f.write(json.dumps({"id": "1", "text": "hello there", "source": "web"}) + "\n")
    monkeypatch.chdir(tmp_path)
    args = ["curate", "tag", "--documents", "documents/*/*", "--taggers", "char_length_v1", "--no-progress"]
    assert main(args) == 0
    with gzip.open(tmp_path / "attributes" / "char_length_v1" / "web" / "a.jsonl.gz", "rt") as f:
        assert json.loads(f.readline())["id"] == "1"
