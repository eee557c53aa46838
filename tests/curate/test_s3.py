"""tag -> dedup -> mix on s3:// against a local moto server (no network)."""

import gzip
import json

import pytest

from lmforge.config import build_config
from lmforge.curate.config import DedupConfig, ExecutionConfig, MixConfig, TagConfig
from lmforge.curate.dedup import run_dedup
from lmforge.curate.mix import run_mix
from lmforge.curate.tag import run_tag

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")


@pytest.fixture
def s3(monkeypatch):
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    fs.mkdir("corpus")
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


@pytest.mark.slow
def test_steps_on_s3(s3):
    rows = [{"id": "1", "text": "hello world\nsame line"}, {"id": "2", "text": "same line\nfresh"}]
    with s3.open("corpus/data/documents/web/a.jsonl.gz", "wb") as f:
        f.write(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    docs = "s3://corpus/data/documents/*/*.gz"
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
                    "output": {"path": "s3://corpus/mixed"},
                    "span_replacement": [{"span": "bff_duplicate_paragraph_spans"}],
                }
            ]
        },
    )
    summary = run_mix(mix, execution)["m"]
    [out] = summary["output_paths"]
    with s3.open(out.removeprefix("s3://"), "rb") as f:
        texts = [json.loads(line)["text"] for line in gzip.decompress(f.read()).decode().splitlines()]
    assert texts == ["hello world\nsame line", "fresh"]
    assert s3.exists("corpus/data/attributes/dedupe/stats.json")
    assert run_tag(TagConfig(documents=[docs], taggers=["char_length_v1"]), execution)["skipped_shards"] == 1
