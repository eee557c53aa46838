"""Helpers shared by the curation tests (documents on disk, a tiny real fastText model)."""

import gzip
import json
import struct
from pathlib import Path


def write_docs(path: Path, docs: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def doc(i: int | str, text: str, source: str = "web", **extra) -> dict:
    return {"id": str(i), "text": text, "source": source, **extra}


# A tiny but real fastText supervised model (.bin, format version 12) written without training, so the
# fastText tagger is tested offline with the actual fasttext-predict loader.
MAGIC, VERSION = 793712314, 12
LOSS_SOFTMAX, MODEL_SUPERVISED = 3, 3


def write_fasttext_model(
    path: Path,
    words: list[str],
    labels: list[str],
    word_vectors: list[list[float]],
    label_vectors: list[list[float]],
) -> Path:
    dim = len(word_vectors[0])
    out = bytearray(struct.pack("<ii", MAGIC, VERSION))
    # args: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, then t
    out += struct.pack("<12i", dim, 5, 1, 1, 5, 1, LOSS_SOFTMAX, MODEL_SUPERVISED, 0, 0, 0, 100)
    out += struct.pack("<d", 1e-4)
    entries = [(w, 0) for w in words] + [(f"__label__{label}", 1) for label in labels]
    out += struct.pack("<iiiqq", len(entries), len(words), len(labels), len(entries), -1)
    for name, kind in entries:
        out += name.encode() + b"\0" + struct.pack("<qb", 1, kind)
    for matrix in (word_vectors, label_vectors):
        out += struct.pack("<?", False)  # not quantized
        out += struct.pack("<qq", len(matrix), dim)
        out += struct.pack(f"<{len(matrix) * dim}f", *[x for row in matrix for x in row])
    path.write_bytes(bytes(out))
    return path
