"""fastText classifier tagger for any user-supplied ``.bin`` model (quality, toxicity, language, ...).

Options: ``model_path`` (local path or fsspec URL; remote files are copied to a local cache once),
``level`` (``document`` or ``paragraph``), ``k`` (top-k labels, -1 for all), ``labels`` (keep only these,
without the ``__label__`` prefix). Each label becomes an attribute named after it; with ``level:
paragraph`` there is one span per non-blank line plus ``doc_<label>``, the character-weighted mean.
Text is flattened to one line (fastText reads one example a line).

Configure it like any tagger, e.g. ``taggers: [{name: fasttext_v1, options: {model_path: q.bin}}]``.
Models load once per worker process.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import Any, Literal

from lmforge.curate.segment import split_paragraphs
from lmforge.curate.taggers.registry import Attributes, Tagger, register_tagger
from lmforge.io import is_remote, open_file

# (text) -> [(label without prefix, probability), ...]
Predictor = Callable[[str], list[tuple[str, float]]]
LABEL_PREFIX = "__label__"


def _local_copy(path: str) -> str:
    if not is_remote(path):
        return path
    cache = os.path.join(tempfile.gettempdir(), "lmforge-fasttext")
    os.makedirs(cache, exist_ok=True)
    local = os.path.join(cache, hashlib.sha256(path.encode()).hexdigest()[:16] + ".bin")
    if not os.path.exists(local):
        tmp = f"{local}.tmp-{os.getpid()}"
        with open_file(path, "rb", compression=False) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.replace(tmp, local)
    return local


@functools.lru_cache(maxsize=4)
def load_fasttext_predictor(model_path: str, k: int = -1) -> Predictor:
    import fasttext  # optional extra: lmforge[curate] (fasttext-predict)

    model = fasttext.load_model(_local_copy(model_path))

    def predict(text: str) -> list[tuple[str, float]]:
        labels, probs = model.predict(text, k=k)
        return [(label.removeprefix(LABEL_PREFIX), float(p)) for label, p in zip(labels, probs)]

    return predict


def _one_line(text: str) -> str:
    # one example a line; lone surrogates cannot cross into fastText's C++ (UTF-8) and become "?"
    return " ".join(text.split()).encode("utf-8", "replace").decode("utf-8")


@register_tagger("fasttext_v1")
class FastTextClassifier(Tagger):
    def __init__(
        self,
        model_path: str | None = None,
        level: Literal["document", "paragraph"] = "document",
        k: int = -1,
        labels: list[str] | None = None,
        predictor: Predictor | None = None,
    ) -> None:
        if predictor is None:
            if not model_path:
                raise ValueError("fasttext_v1 needs the option model_path (a fastText .bin classifier)")
            predictor = load_fasttext_predictor(model_path, k)
        if level not in ("document", "paragraph"):
            raise ValueError(f"fasttext_v1: level must be 'document' or 'paragraph', got {level!r}")
        self.predict = predictor
        self.level = level
        self.labels = set(labels) if labels else None

    def _scores(self, text: str) -> list[tuple[str, float]]:
        preds = self.predict(_one_line(text))
        return [(label, p) for label, p in preds if self.labels is None or label in self.labels]

    def tag(self, doc: dict[str, Any]) -> Attributes:
        text = doc["text"]
        attrs: Attributes = {}
        if self.level == "document":
            for label, p in self._scores(text):
                attrs[label] = [[0, len(text), p]]
            return attrs
        weighted: dict[str, float] = {}
        for s, e in split_paragraphs(text):
            for label, p in self._scores(text[s:e]):
                attrs.setdefault(label, []).append([s, e, p])
                weighted[label] = weighted.get(label, 0.0) + (e - s) * p
        for label, total in sorted(weighted.items()):
            attrs[f"doc_{label}"] = [[0, len(text), total / len(text)]]
        return attrs
