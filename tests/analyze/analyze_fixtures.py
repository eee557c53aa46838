"""Small hand-made Dolma corpora for the analysis tests."""

from __future__ import annotations

import gzip
import json
import os
from typing import Any


def write_docs(path: str, docs: list[dict[str, Any]], extra_lines: list[str] = ()) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


def doc(ident: str, text: str, source: str | None = None, url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ident, "text": text}
    if source is not None:
        out["source"] = source
    if url is not None:
        out["metadata"] = {"url": url}
    return out
