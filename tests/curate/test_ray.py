import pytest

from lmforge.curate.config import ExecutionConfig, TagConfig
from lmforge.curate.tag import run_tag

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_executor_gives_the_same_bytes_as_local(corpus, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(corpus, other)
    taggers = ["c4_v2", "pii_regex_with_counts_fast_v2", "char_length_v1"]
    run_tag(
        TagConfig(documents=[str(corpus / "documents/**/*.gz")], taggers=taggers),
        ExecutionConfig(progress=False),
    )
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        summary = run_tag(
            TagConfig(documents=[str(other / "documents/**/*.gz")], taggers=taggers),
            ExecutionConfig(executor="ray", progress=False),
        )
    finally:
        ray.shutdown()
    assert summary["total"]["kept"] == 7
    for name in taggers:
        for rel in ("web/part-0.jsonl.gz", "web/part-1.jsonl.gz", "books/part-0.jsonl.gz"):
            a = (corpus / "attributes" / name / rel).read_bytes()
            assert a == (other / "attributes" / name / rel).read_bytes()
