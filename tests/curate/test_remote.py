"""The steps on fsspec URLs (memory://, the same code path as s3://): Dolma layout, markers, stats."""

import gzip
import json
import uuid

import fsspec

from lmforge.config import build_config
from lmforge.curate.config import DedupConfig, ExecutionConfig, MixConfig, TagConfig
from lmforge.curate.dedup import run_dedup
from lmforge.curate.mix import run_mix
from lmforge.curate.tag import run_tag


def test_tag_dedup_mix_on_fsspec_urls():
    fs = fsspec.filesystem("memory")
    bucket = f"/bkt-{uuid.uuid4().hex[:8]}"
    rows = [{"id": "1", "text": "hello world\nsame line"}, {"id": "2", "text": "same line\nfresh"}]
    with fs.open(f"{bucket}/data/documents/web/a.jsonl.gz", "wb") as f:
        f.write(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    docs = f"memory://{bucket}/data/documents/*/*.gz"
    execution = ExecutionConfig(progress=False)
    run_tag(TagConfig(documents=[docs], taggers=["char_length_v1"]), execution)
    run_dedup(DedupConfig(documents=[docs]), execution)
    mix = build_config(
        MixConfig,
        overrides={
            "streams": [
                {
                    "name": "m",
                    "documents": [docs],
                    "attributes": ["char_length_v1", "dedupe"],
                    "output": {"path": f"memory://{bucket}/mixed"},
                    "span_replacement": [{"span": "bff_duplicate_paragraph_spans"}],
                }
            ]
        },
    )
    summary = run_mix(mix, execution)["m"]
    [out] = summary["output_paths"]
    with fs.open(out.removeprefix("memory://"), "rb") as f:
        texts = [json.loads(line)["text"] for line in gzip.decompress(f.read()).decode().splitlines()]
    assert texts == ["hello world\nsame line", "fresh"]
    assert fs.exists(f"{bucket}/data/attributes/char_length_v1/stats.json")
    assert run_tag(TagConfig(documents=[docs], taggers=["char_length_v1"]), execution)["skipped_shards"] == 1
