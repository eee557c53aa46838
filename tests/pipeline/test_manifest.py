"""The manifest's skip/resume decisions and the stage runner's bookkeeping."""

from __future__ import annotations

import json
import os

import pytest

from lmforge.pipeline.manifest import Manifest, config_hash, fingerprint
from lmforge.pipeline.runner import Stage, run_stages


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_fingerprint_tracks_content_names_and_missing(tmp_path):
    a = tmp_path / "in" / "a.txt"
    _write(str(a), "hello")
    base = fingerprint([str(tmp_path / "in")])
    assert base["files"] == 1 and base["bytes"] == 5 and not base["missing"]
    os.utime(a, (1, 1))  # mtime alone does not count
    assert fingerprint([str(tmp_path / "in")])["sha256"] == base["sha256"]
    _write(str(a), "hellO")
    assert fingerprint([str(tmp_path / "in")])["sha256"] != base["sha256"]
    _write(str(a), "hello")
    os.rename(a, tmp_path / "in" / "b.txt")
    assert fingerprint([str(tmp_path / "in")])["sha256"] != base["sha256"]
    _write(str(tmp_path / "in" / ".tmp-partial"), "ignored: temporaries of atomic writes")
    assert fingerprint([str(tmp_path / "in")])["files"] == 1
    assert fingerprint([str(tmp_path / "nope")])["missing"] == [str(tmp_path / "nope")]


def test_fingerprint_of_large_files_uses_size_and_edges(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * (3 << 20))
    small_limit = 1 << 20
    first = fingerprint([str(big)], full_hash_bytes=small_limit)["sha256"]
    data = bytearray(big.read_bytes())
    data[-1:] = b"b"  # the end changed: seen
    big.write_bytes(bytes(data))
    assert fingerprint([str(big)], full_hash_bytes=small_limit)["sha256"] != first


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


class Counter:
    """A stage body that copies its input and counts its runs."""

    def __init__(self, src, dst, fail_at=None):
        self.src, self.dst, self.runs, self.fail_at = src, dst, 0, fail_at

    def __call__(self):
        self.runs += 1
        if self.fail_at == self.runs:
            raise RuntimeError("injected failure")
        with open(self.src) as f:
            _write(self.dst, f.read().upper())
        return {"runs": self.runs}


def _stages(tmp_path, first, second, cfg=None):
    raw, mid, out = (str(tmp_path / n) for n in ("raw.txt", "mid/x.txt", "out/y.txt"))
    return [
        Stage("one", cfg or {"k": 1}, [raw], [os.path.dirname(mid)], first),
        Stage("two", {"k": 2}, [os.path.dirname(mid)], [os.path.dirname(out)], second),
    ]


def test_runner_skips_unchanged_and_reruns_downstream_of_changes(tmp_path):
    run = str(tmp_path / "run")
    os.makedirs(run)
    _write(str(tmp_path / "raw.txt"), "abc")
    one = Counter(str(tmp_path / "raw.txt"), str(tmp_path / "mid/x.txt"))
    two = Counter(str(tmp_path / "mid/x.txt"), str(tmp_path / "out/y.txt"))
    outcomes = run_stages(_stages(tmp_path, one, two), run)
    assert [o.skipped for o in outcomes] == [False, False]
    outcomes = run_stages(_stages(tmp_path, one, two), run)
    assert [o.skipped for o in outcomes] == [True, True] and (one.runs, two.runs) == (1, 1)

    # a config change reruns that stage; identical output bytes keep the next stage skipped
    outcomes = run_stages(_stages(tmp_path, one, two, cfg={"k": 99}), run)
    assert [o.skipped for o in outcomes] == [False, True]
    assert outcomes[0].reason == "config changed"

    # an input change reruns the stage and, its output changing, the next one too
    _write(str(tmp_path / "raw.txt"), "abcd")
    outcomes = run_stages(_stages(tmp_path, one, two, cfg={"k": 99}), run)
    assert [o.skipped for o in outcomes] == [False, False]
    assert outcomes[0].reason == "inputs changed"
    assert (tmp_path / "out/y.txt").read_text() == "ABCD"

    # a deleted or edited output is noticed
    (tmp_path / "out/y.txt").write_text("tampered")
    outcomes = run_stages(_stages(tmp_path, one, two, cfg={"k": 99}), run)
    assert [o.skipped for o in outcomes] == [True, False]
    assert "outputs changed" in outcomes[1].reason

    # --force
    outcomes = run_stages(_stages(tmp_path, one, two, cfg={"k": 99}), run, force=["one"])
    assert [o.skipped for o in outcomes] == [False, True]


def test_failure_is_recorded_and_the_rerun_resumes_at_the_failed_stage(tmp_path):
    run = str(tmp_path / "run")
    os.makedirs(run)
    _write(str(tmp_path / "raw.txt"), "abc")
    one = Counter(str(tmp_path / "raw.txt"), str(tmp_path / "mid/x.txt"))
    two = Counter(str(tmp_path / "mid/x.txt"), str(tmp_path / "out/y.txt"), fail_at=1)
    with pytest.raises(RuntimeError, match="injected"):
        run_stages(_stages(tmp_path, one, two), run)
    manifest = json.loads((tmp_path / "run" / "pipeline_manifest.json").read_text())
    assert manifest["stages"]["one"]["status"] == "done"
    assert manifest["stages"]["two"]["status"] == "failed"
    assert "injected failure" in manifest["stages"]["two"]["error"]
    outcomes = run_stages(_stages(tmp_path, one, two), run)
    assert [o.skipped for o in outcomes] == [True, False]
    assert "failed" in outcomes[1].reason
    assert Manifest.load(run).stages["two"].attempts == 2


def test_a_stage_killed_while_running_is_not_done(tmp_path):
    """A kill between mark_running and mark_done leaves 'running': the next run starts the stage again and
    keeps its partial outputs (same config and inputs) for the stage's own resume."""
    run = str(tmp_path / "run")
    manifest = Manifest(run)
    partial = tmp_path / "run" / "out" / "partial.bin"
    _write(str(partial), "half")
    manifest.mark_running("train", "cfg", "inp", [], [str(tmp_path / "run" / "out")])
    reloaded = Manifest.load(run)
    ok, reason = reloaded.is_up_to_date("train", "cfg", "inp", [str(tmp_path / "run" / "out")])
    assert not ok and "running" in reason
    assert not reloaded.is_stale("train", "cfg", "inp")  # resume, do not wipe
    assert reloaded.is_stale("train", "other-cfg", "inp")  # another config: wipe and start over


def test_stale_outputs_are_removed_only_inside_the_run_folder(tmp_path):
    run = str(tmp_path / "run")
    os.makedirs(run)
    outside = tmp_path / "keep.txt"
    outside.write_text("user data")
    inside = tmp_path / "run" / "stage-out"
    calls = []

    def body():
        calls.append(sorted(os.listdir(inside)) if inside.exists() else None)
        _write(str(inside / "new.txt"), "x")
        return {}

    run_stages([Stage("s", {"v": 1}, [], [str(inside), str(outside)], body)], run)
    _write(str(inside / "leftover.txt"), "from the old config")
    run_stages([Stage("s", {"v": 2}, [], [str(inside), str(outside)], body)], run)
    assert calls[-1] is None  # the old config's outputs were removed before the rerun
    assert outside.read_text() == "user data"


def test_a_copied_run_folder_keeps_its_hashes(tmp_path):
    """Paths inside the run folder are hashed relative to it: a run moved or copied elsewhere is up to date."""
    import shutil

    def stages(run):
        src, mid, out = f"{run}/in/raw.txt", f"{run}/mid", f"{run}/out"
        return [
            Stage("one", {"where": mid}, [src], [mid], Counter(src, f"{mid}/x.txt")),
            Stage("two", {"k": 2}, [mid], [out], Counter(f"{mid}/x.txt", f"{out}/y.txt")),
        ]

    first = str(tmp_path / "first")
    _write(f"{first}/in/raw.txt", "abc")
    run_stages(stages(first), first)
    second = str(tmp_path / "second")
    shutil.copytree(first, second)
    outcomes = run_stages(stages(second), second)
    assert [o.skipped for o in outcomes] == [True, True]
