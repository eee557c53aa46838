import numpy as np
import pytest

from lmforge.curate.bloom import BloomFilter, StaleFilterError, optimal_size


def _hashes(rng, n):
    h = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64) * np.uint64(2) + rng.integers(
        0, 2, size=(n, 2), dtype=np.uint64
    )
    return h[:, 0].copy(), h[:, 1].copy()


@pytest.mark.parametrize("target", [1e-2, 1e-3])
def test_false_positive_rate_within_target(target):
    rng = np.random.default_rng(0)
    n = 20_000
    bloom = BloomFilter.for_capacity(n, target)
    a1, a2 = _hashes(rng, n)
    bloom.add(a1, a2)
    assert bloom.contains(a1, a2).all()  # no false negatives
    b1, b2 = _hashes(rng, 200_000)
    observed = bloom.contains(b1, b2).mean()
    assert observed <= target
    assert bloom.expected_false_positive_rate(n) <= target


def test_sizing():
    m, k = optimal_size(1_000_000, 1e-6)
    assert m & (m - 1) == 0 and m >= 1_000_000 * 28  # ~28.8 bits per item for 1e-6
    assert 10 <= k <= 32


def test_check_and_add_is_sequential_within_a_batch():
    bloom = BloomFilter.for_capacity(1000, 1e-6)
    h1 = np.array([1, 2, 1, 3, 2], dtype=np.uint64)
    h2 = np.array([9, 8, 9, 7, 8], dtype=np.uint64)
    assert bloom.check_and_add(h1, h2).tolist() == [False, False, True, False, True]
    assert bloom.check_and_add(h1[:1], h2[:1]).tolist() == [True]
    fresh = BloomFilter.for_capacity(1000, 1e-6)
    assert fresh.check_and_add(h1, h2, read_only=True).tolist() == [False, False, True, False, True]
    assert not fresh.contains(h1, h2).any()


def test_save_load_and_staleness(tmp_path):
    bloom = BloomFilter.for_capacity(1000, 1e-4, settings="abc")
    h1, h2 = _hashes(np.random.default_rng(1), 100)
    bloom.add(h1, h2)
    bloom.meta["inputs"] = ["a.jsonl.gz:10"]
    path = str(tmp_path / "f.bin")
    bloom.save(path)
    loaded = BloomFilter.load(path)
    assert loaded.m == bloom.m and loaded.k == bloom.k and loaded.contains(h1, h2).all()
    loaded.check_fresh("abc", ["b.jsonl.gz:5"], allow_stale=False, path=path)
    with pytest.raises(StaleFilterError, match="other dedup settings"):
        loaded.check_fresh("xyz", ["b.jsonl.gz:5"], allow_stale=False, path=path)
    with pytest.raises(StaleFilterError, match=r"already contains .* or pass --allow-stale \(YAML: dedup"):
        loaded.check_fresh("abc", ["a.jsonl.gz:10"], allow_stale=False, path=path)
    loaded.check_fresh("xyz", ["a.jsonl.gz:10"], allow_stale=True, path=path)
    (tmp_path / "bad.bin").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad magic"):
        BloomFilter.load(str(tmp_path / "bad.bin"))


def test_corrupt_or_truncated_filters_are_located_input_errors(tmp_path):
    from lmforge.io import InputError

    path = tmp_path / "f.bin"
    BloomFilter.for_capacity(1000, 1e-4, settings="abc").save(str(path))
    raw = path.read_bytes()
    for name, content, reason in [
        ("magic.bin", b"nope", "bad magic"),
        ("cut3.bin", raw[:-3], "truncated Bloom filter"),  # not even a whole 8-byte word at the end
        ("cut8.bin", raw[:-8], "truncated Bloom filter"),
        ("header.bin", raw[:8] + b"\xff\xff\x00\x00{", "corrupt Bloom filter header"),
    ]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=reason) as err:
            BloomFilter.load(str(tmp_path / name))
        assert str(err.value).startswith(str(tmp_path / name))
