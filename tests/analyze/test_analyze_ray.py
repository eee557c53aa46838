import pytest
from analyze_fixtures import doc, write_docs

from lmforge.analyze import AnalyzeOptions, analyze_corpus

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_executor_gives_the_same_report_as_local(tmp_path):
    for source in ("a", "b"):
        write_docs(
            str(tmp_path / source / "0.jsonl.gz"),
            [
                doc(f"{source}{i}", f"shared line\nline {i % 3} of {source}\nmail x{i}@example.com", source)
                for i in range(20)
            ],
        )
    options = AnalyzeOptions(top_k=5, ngram_sizes=[1, 2], languages=False, progress=False, plots=False)
    local = analyze_corpus(str(tmp_path / "*" / "*.jsonl.gz"), None, options)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        remote = analyze_corpus(str(tmp_path / "*" / "*.jsonl.gz"), None, options, executor="ray")
    finally:
        ray.shutdown()
    for key in ("read", "totals", "sources", "duplicates", "ngrams"):
        assert remote[key] == local[key], key
    assert local["duplicates"]["paragraphs"]["per_source"]["a"]["cross_share"] > 0
