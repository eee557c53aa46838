"""Top-k n-grams from the sketch + exact recount equal exact counting."""

from collections import Counter

import numpy as np
from analyze_fixtures import doc, write_docs

from lmforge.analyze import AnalyzeOptions, analyze_corpus
from lmforge.analyze.hashing import ngram_hashes, normalized_words, word_hashes
from lmforge.analyze.ngrams import CountMinSketch, HeavyHitters


def zipf_documents(seed: int, count: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(300)]
    weights = 1.0 / np.arange(1, 301)
    weights /= weights.sum()
    docs = []
    for _ in range(count):
        words = rng.choice(vocabulary, size=int(rng.integers(0, 60)), p=weights)
        docs.append(" ".join(words) + (" The End." if rng.random() < 0.3 else ""))
    return docs


def exact_counts(texts: list[str], n: int) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        words = normalized_words(text)
        counts.update(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return counts


def write_zipf_corpus(tmp_path) -> list[str]:
    texts = []
    for shard in range(3):
        shard_texts = zipf_documents(shard, 150)
        texts += shard_texts
        write_docs(
            str(tmp_path / f"s{shard}" / "0.jsonl.gz"),
            [doc(f"{shard}-{i}", t) for i, t in enumerate(shard_texts)],
        )
    return texts


def ngram_options(**overrides) -> AnalyzeOptions:
    options = dict(
        ngram_sizes=[1, 2, 3],
        top_k=10,
        ngram_candidates=60,
        ngram_pool=100,
        batch_words=500,  # many batches per shard
        languages=False,
        pii=False,
        duplicates=False,
        progress=False,
        plots=False,
    )
    options.update(overrides)
    return AnalyzeOptions(**options)


def test_top_k_equals_exact_counting(tmp_path):
    texts = write_zipf_corpus(tmp_path)
    report = analyze_corpus(str(tmp_path / "s*" / "*.jsonl.gz"), None, ngram_options(sketch_width_log2=16))
    for n in (1, 2, 3):
        counts = exact_counts(texts, n)
        expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        got = [(row["ngram"], row["count"]) for row in report["ngrams"][str(n)]["top"]]
        assert got == expected, n
        assert report["ngrams"][str(n)]["total"] == sum(counts.values())


def test_counts_stay_exact_when_the_sketch_collides(tmp_path):
    texts = write_zipf_corpus(tmp_path)
    # 2^10 counters for ~13k n-grams: estimates are far off, but reported counts come from the recount
    report = analyze_corpus(str(tmp_path / "s*" / "*.jsonl.gz"), None, ngram_options(sketch_width_log2=10))
    for n in (1, 2, 3):
        counts = exact_counts(texts, n)
        for row in report["ngrams"][str(n)]["top"]:
            assert row["count"] == counts[row["ngram"]]
    unigrams = [(row["ngram"], row["count"]) for row in report["ngrams"]["1"]["top"]]
    assert unigrams == sorted(exact_counts(texts, 1).items(), key=lambda kv: (-kv[1], kv[0]))[:10]


def test_ngrams_never_straddle_documents():
    words = ["a", "b", "c", "d", "e"]
    hashes = word_hashes(words)
    doc_ids = np.array([0, 0, 1, 1, 1])
    grams, starts = ngram_hashes(hashes, 2, doc_ids)
    assert starts.tolist() == [0, 2, 3]  # "b c" crosses the boundary
    alone = [ngram_hashes(word_hashes(["a", "b"]), 2)[0][0], ngram_hashes(word_hashes(["c", "d"]), 2)[0][0]]
    assert grams[:2].tolist() == alone
    # sizes never collide: the 1-gram "a" differs from any 2-gram containing it
    assert ngram_hashes(hashes[:1], 1)[0][0] not in grams


def test_heavy_hitters_keep_every_frequent_item():
    rng = np.random.default_rng(1)
    sketch = CountMinSketch(depth=2, width_log2=10)
    hitters = HeavyHitters(sketch, capacity=20)
    heavy = np.array([11, 22, 33], dtype=np.uint64)
    for _ in range(30):
        noise = rng.integers(1000, 1 << 40, size=2000).astype(np.uint64)
        hitters.update(np.concatenate([noise, np.repeat(heavy, 100)]))
    assert set(heavy.tolist()) <= set(hitters.hashes.tolist())
    estimates = sketch.estimate(heavy)
    assert (estimates >= 3000).all()  # a count-min sketch never underestimates


def test_fast_word_split_equals_the_regex():
    import random

    from lmforge.analyze.hashing import normalized_word_bytes

    rng = random.Random(0)
    alphabet = [*"aZ09_ .,;:'\"-()[]{}<>/\\\t\n!?@#$%^&*+=|~`", "é", "ß", "İ", "—", "“", "\u00a0", "日本"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert normalized_word_bytes(text) == [w.encode() for w in normalized_words(text)], repr(text)
