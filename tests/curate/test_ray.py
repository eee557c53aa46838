import pytest

from lmforge.curate.config import ExecutionConfig, TagConfig
from lmforge.curate.tag import run_tag
from lmforge.io import InputError

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
    bad = tmp_path / "bad/documents/s/0.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"id": "1", "text": "fine"}\n{"id": "2", "text": \n')
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        summary = run_tag(
            TagConfig(documents=[str(other / "documents/**/*.gz")], taggers=taggers),
            ExecutionConfig(executor="ray", progress=False),
        )
        # a bad line in a Ray task is the task's own InputError, said as file:line (no remote traceback)
        with pytest.raises(InputError) as err:
            run_tag(
                TagConfig(documents=[str(bad)], taggers=taggers),
                ExecutionConfig(executor="ray", progress=False),
            )
        assert str(err.value).startswith(f"{bad}:2: malformed JSON") and "ray::" not in str(err.value)
    finally:
        ray.shutdown()
    assert summary["total"]["kept"] == 7
    for name in taggers:
        for rel in ("web/part-0.jsonl.gz", "web/part-1.jsonl.gz", "books/part-0.jsonl.gz"):
            a = (corpus / "attributes" / name / rel).read_bytes()
            assert a == (other / "attributes" / name / rel).read_bytes()
