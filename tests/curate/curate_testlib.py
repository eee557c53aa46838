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


def check_steps_on_url(fs, protocol: str, root: str) -> None:
    """tag -> dedup -> mix on ``protocol://root`` (an fsspec file system ``fs``): outputs, stats, markers.

    Shared by the memory:// test and the s3:// one (moto), which exercise the same remote code path.
    """
    from lmforge.config import build_config
    from lmforge.curate.config import DedupConfig, ExecutionConfig, MixConfig, TagConfig
    from lmforge.curate.dedup import run_dedup
    from lmforge.curate.mix import run_mix
    from lmforge.curate.tag import run_tag

    rows = [{"id": "1", "text": "hello world\nsame line"}, {"id": "2", "text": "same line\nfresh"}]
    with fs.open(f"{root}/data/documents/web/a.jsonl.gz", "wb") as f:
        f.write(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    docs = f"{protocol}://{root}/data/documents/*/*.gz"
    execution = ExecutionConfig(progress=False)
    run_tag(TagConfig(documents=[docs], taggers=["char_length_v1"]), execution)
    run_dedup(DedupConfig(documents=[docs]), execution)
    stream = {
        "name": "m",
        "documents": [docs],
        "attributes": ["char_length_v1", "dedupe"],
        "output": {"path": f"{protocol}://{root}/mixed"},
        "span_replacement": [{"span": "bff_duplicate_paragraph_spans"}],
    }
    summary = run_mix(build_config(MixConfig, overrides={"streams": [stream]}), execution)["m"]
    [out] = summary["output_paths"]
    with fs.open(out.removeprefix(f"{protocol}://"), "rb") as f:
        texts = [json.loads(line)["text"] for line in gzip.decompress(f.read()).decode().splitlines()]
    assert texts == ["hello world\nsame line", "fresh"]
    assert fs.exists(f"{root}/data/attributes/char_length_v1/stats.json")
    assert fs.exists(f"{root}/data/attributes/dedupe/stats.json")
    assert run_tag(TagConfig(documents=[docs], taggers=["char_length_v1"]), execution)["skipped_shards"] == 1
