"""The built-in corpus: Dolma format, three sources, deterministic bytes, a stable held-out split."""

from __future__ import annotations

import gzip
import hashlib
import json
import os

from lmforge.documents import read_documents
from lmforge.pipeline.stdlib_corpus import (
    SOURCES,
    build_corpus,
    docstrings_and_comments,
    is_held_out,
    module_name,
    stdlib_files,
)

MODULE = '''"""Module docstring."""
#!/usr/bin/env python
# A comment block
# on two lines.
import os  # noqa: F401

def f(x):
    """Return x."""
    # trailing thought
    return x


class C:
    """A class."""
'''


def _fake_stdlib(root):
    os.makedirs(os.path.join(root, "pkg"))
    os.makedirs(os.path.join(root, "test"))
    os.makedirs(os.path.join(root, "site-packages", "thirdparty"))
    files = {
        "alpha.py": MODULE,
        "pkg/__init__.py": '"""The package."""\n',
        "pkg/beta.py": "x = 1\n",
        "test/test_alpha.py": "assert True\n",
        "site-packages/thirdparty/mod.py": "y = 2\n",
        "broken.py": "def (:\n",
    }
    for rel, text in files.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)


def test_file_listing_skips_tests_and_site_packages(tmp_path):
    _fake_stdlib(str(tmp_path))
    assert stdlib_files(str(tmp_path)) == ["alpha.py", "broken.py", "pkg/__init__.py", "pkg/beta.py"]
    assert module_name("pkg/__init__.py") == "pkg" and module_name("pkg/beta.py") == "pkg.beta"


def test_prose_is_docstrings_and_comment_blocks_in_source_order():
    assert docstrings_and_comments(MODULE) == [
        "Module docstring.",
        "A comment block on two lines.",
        "f: Return x.",
        "trailing thought",
        "C: A class.",
    ]


def test_build_writes_dolma_documents_with_counts_that_add_up(tmp_path):
    _fake_stdlib(str(tmp_path / "lib"))
    out = str(tmp_path / "corpus")
    stats = build_corpus(out, root=str(tmp_path / "lib"), eval_fraction=0.0)
    assert stats.skipped_files == ["broken.py"]
    docs = {}
    for split in ("documents", "eval"):
        for source in SOURCES:
            folder = os.path.join(out, split, source)
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                for _, doc in read_documents(os.path.join(folder, name)):
                    assert doc["source"] == source and doc["id"].startswith(source + "/")
                    assert set(doc) == {"id", "text", "source", "added", "created", "metadata"}
                    docs[doc["id"]] = doc
    assert docs["stdlib-code/alpha.py"]["text"] == MODULE
    assert docs["stdlib-docs/alpha.py"]["text"].startswith("Module docstring.\n\nA comment block")
    assert "stdlib-docs/pkg/beta.py" not in docs  # no prose in it
    assert any(k.startswith("python-topics/") for k in docs)  # from pydoc_data, present on any Python
    written = json.loads((tmp_path / "corpus" / "stats.json").read_text())
    assert sum(written["documents"].values()) + sum(written["eval_documents"].values()) == len(docs)


def _tree_digest(root):
    digest = hashlib.sha256()
    for directory, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            path = os.path.join(directory, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def test_real_stdlib_build_is_byte_identical_and_capped(tmp_path):
    a = build_corpus(str(tmp_path / "a"), max_mb_per_source=0.05, eval_fraction=0.2)
    build_corpus(str(tmp_path / "b"), max_mb_per_source=0.05, eval_fraction=0.2)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    for source in SOURCES:
        assert (
            0 < a.bytes[source] <= 50_000 or a.documents.get(source, 0) + a.eval_documents.get(source, 0) == 1
        )
    some_shard = next(p for p in (tmp_path / "a" / "documents").rglob("*.jsonl.gz"))
    with gzip.open(some_shard) as handle:
        assert handle.readline()  # valid gzip with no timestamp/name dependence


def test_held_out_split_is_stable_and_near_the_fraction():
    ids = [f"stdlib-code/mod{i}.py" for i in range(4000)]
    held = [i for i in ids if is_held_out(i, 0.05)]
    assert 0.035 < len(held) / len(ids) < 0.065
    assert held == [i for i in ids if is_held_out(i, 0.05)]
    assert not any(is_held_out(i, 0.0) for i in ids)


def _ids(folder):
    ids = []
    for path in sorted(folder.rglob("*.jsonl.gz")) if folder.is_dir() else []:
        ids += [doc["id"] for _, doc in read_documents(str(path))]
    return ids


def test_every_source_holds_out_a_document_however_small(tmp_path):
    """With a low cap the id hash can hold out nothing from a source; the quickstart with
    --corpus.max_mb_per_source=0.05 then failed at tokenize on missing eval/<source> folders."""
    stats = build_corpus(str(tmp_path / "c"), max_mb_per_source=0.02, eval_fraction=0.05, shard_mb=0.005)
    for source in SOURCES:
        held_out = _ids(tmp_path / "c" / "eval" / source)
        trained = _ids(tmp_path / "c" / "documents" / source)
        assert len(held_out) == stats.eval_documents[source] >= 1, source
        assert len(trained) == stats.documents[source] >= 1, source
        assert not set(held_out) & set(trained)
    assert len(list((tmp_path / "c" / "documents").rglob("*.jsonl.gz"))) > len(SOURCES)  # several shards
    # nothing is held out when nothing is asked for
    none = build_corpus(str(tmp_path / "n"), max_mb_per_source=0.02, eval_fraction=0.0)
    assert not none.eval_documents and not (tmp_path / "n" / "eval").exists()


def test_no_held_out_fraction_means_no_built_in_eval_sources(tmp_path):
    from lmforge.pipeline.cli import load_pipeline_config
    from lmforge.pipeline.layout import RunLayout
    from lmforge.pipeline.stages import eval_documents

    base = {"run_dir": str(tmp_path / "r"), "corpus": {"builtin": "stdlib", "eval_fraction": 0.0}}
    cfg = load_pipeline_config(None, [], base=base)
    assert eval_documents(cfg, RunLayout(cfg.run_dir)) == {}
    cfg = load_pipeline_config(None, ["--corpus.eval_fraction=0.1"], base=base)
    assert sorted(eval_documents(cfg, RunLayout(cfg.run_dir))) == sorted(SOURCES)
