"""Dolma's on-disk layout: ``<root>/documents/<rel>`` -> ``<root>/attributes/<name>/<rel>``.

Attribute files hold the same rows as their document file, in the same order: ``{"id", "attributes":
{key: [[start, end, score], ...]}}``. Keys are ``<experiment>__<tagger>__<attribute>``; the tag step uses
the tagger name as experiment unless one is given (as dolma does).
"""

from __future__ import annotations

import re

from lmforge.io import InputError

DOCUMENTS = "documents"
ATTRIBUTES = "attributes"
_VARIABLE_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def split_documents_path(path: str) -> tuple[str, str]:
    """``(root, relative)`` around the last ``documents`` path component of ``path``."""
    parts = path.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == DOCUMENTS:
            # a relative "documents/..." has root "." (an empty root would put attributes under "/")
            return "/".join(parts[:i]) or ("." if i == 0 else ""), "/".join(parts[i + 1 :])
    raise InputError(path, None, f"not under a '{DOCUMENTS}/' folder (Dolma layout: <root>/documents/...)")


def attribute_path(document_path: str, name: str) -> str:
    root, rel = split_documents_path(document_path)
    return f"{root}/{ATTRIBUTES}/{name}/{rel}"


def attribute_dir(document_path: str, name: str) -> str:
    root, _ = split_documents_path(document_path)
    return f"{root}/{ATTRIBUTES}/{name}"


def source_of(document_path: str, doc: dict | None = None) -> str:
    """A document's source: its ``source`` field, else the first folder under ``documents/``."""
    if doc is not None and isinstance(doc.get("source"), str) and doc["source"]:
        return doc["source"]
    try:
        _, rel = split_documents_path(document_path)
    except InputError:
        return "unknown"
    return rel.split("/", 1)[0] if "/" in rel else "unknown"


def attribute_key(experiment: str, tagger: str, attribute: str) -> str:
    """``<experiment>__<tagger>__<attribute>`` with unsafe characters replaced by ``_`` (dolma's rule)."""
    return "__".join(_VARIABLE_UNSAFE.sub("_", part) for part in (experiment, tagger, attribute))
