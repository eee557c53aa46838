"""The run manifest: what each stage read, with which config, what it wrote, and whether it finished.

``run_dir/pipeline_manifest.json`` is rewritten atomically after every state change, so a process killed at
any moment leaves the previous consistent version. A stage is *done* only after its run returned and its
outputs were fingerprinted; a kill in between leaves it ``running``, and the next run starts it again (the
stage's own resume - tokenizer shards, trainer checkpoints - picks up the work already on disk).

Fingerprints are content hashes where that is cheap and metadata where it is not: files up to
``full_hash_bytes`` are hashed whole; larger ones by size plus their first and last MiB (a changed corpus
shard almost always changes its size or its ends, and hashing terabytes on every run is not an option).
Modification times are deliberately left out, so copying or re-creating identical files does not force
downstream stages to run again.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import time
from collections.abc import Iterable
from typing import Any, Literal

from lmforge.io import exists, read_json, write_json

MANIFEST_NAME = "pipeline_manifest.json"
FULL_HASH_BYTES = 64 << 20
EDGE_BYTES = 1 << 20
Status = Literal["pending", "running", "done", "failed"]


def _file_digest(path: str, full_hash_bytes: int) -> str:
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= full_hash_bytes:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        else:
            digest.update(f"size={size};".encode())
            digest.update(handle.read(EDGE_BYTES))
            handle.seek(size - EDGE_BYTES)
            digest.update(handle.read(EDGE_BYTES))
    return digest.hexdigest()


def _walk(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    found = []
    for directory, dirs, names in os.walk(path):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".")
        )  # temp files of atomic writes start with "."
        found += [os.path.join(directory, n) for n in names if not n.startswith(".")]
    return sorted(found)


def _relocatable(text: str, root: str | None) -> str:
    """``text`` with the run folder's path replaced by ``$RUN``: a moved or copied run keeps its hashes."""
    if not root:
        return text
    for prefix in sorted({os.path.abspath(root), os.path.normpath(root)}, key=len, reverse=True):
        text = text.replace(prefix, "$RUN")
    return text


def fingerprint(
    paths: Iterable[str], full_hash_bytes: int = FULL_HASH_BYTES, root: str | None = None
) -> dict[str, Any]:
    """``{"sha256": combined, "files": n, "bytes": total, "missing": [...]}`` for files, folders and globs.

    The combined hash covers every file's path (relative to the argument it was found under), size and
    digest, so renaming, adding or removing a file changes it too. Remote (``s3://``) paths are recorded by
    name only: their contents are the object store's business.
    """
    combined = hashlib.sha256()
    files = total = 0
    missing: list[str] = []
    for path in paths:
        path = str(path)
        combined.update(f"[{_relocatable(path, root)}]".encode())
        if "://" in path:
            combined.update(b"remote")
            continue
        if glob.has_magic(path):
            matches = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
            if not matches:
                missing.append(path)
            found = [(m, os.path.relpath(m, os.path.dirname(path.split("*")[0]) or ".")) for m in matches]
        elif not os.path.exists(path):
            missing.append(path)
            continue
        else:
            found = [
                (f, os.path.relpath(f, path) if f != path else os.path.basename(path)) for f in _walk(path)
            ]
        for file, rel in found:
            size = os.path.getsize(file)
            combined.update(f"{rel}\0{size}\0{_file_digest(file, full_hash_bytes)}\n".encode())
            files += 1
            total += size
    return {"sha256": combined.hexdigest(), "files": files, "bytes": total, "missing": missing}


def config_hash(section: Any, root: str | None = None) -> str:
    """Hash of a JSON-serialisable config section, independent of key order (and of where ``root``, the
    run folder, lives)."""
    text = _relocatable(json.dumps(section, sort_keys=True, default=str, separators=(",", ":")), root)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclasses.dataclass
class StageRecord:
    name: str
    status: Status = "pending"
    config_hash: str | None = None
    input_hash: str | None = None
    inputs: list[str] = dataclasses.field(default_factory=list)
    outputs: list[str] = dataclasses.field(default_factory=list)
    output_hash: str | None = None
    output_files: int = 0
    output_bytes: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    seconds: float | None = None
    attempts: int = 0
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None


class Manifest:
    """Stage records of one run folder, persisted atomically on every change."""

    def __init__(self, run_dir: str, stages: dict[str, StageRecord] | None = None) -> None:
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, MANIFEST_NAME)
        self.stages: dict[str, StageRecord] = stages or {}

    @classmethod
    def load(cls, run_dir: str) -> Manifest:
        path = os.path.join(run_dir, MANIFEST_NAME)
        if not exists(path):
            return cls(run_dir)
        data = read_json(path)
        fields = {f.name for f in dataclasses.fields(StageRecord)}
        stages = {
            name: StageRecord(**{k: v for k, v in record.items() if k in fields})
            for name, record in data.get("stages", {}).items()
        }
        return cls(run_dir, stages)

    def record(self, name: str) -> StageRecord:
        return self.stages.setdefault(name, StageRecord(name))

    def save(self) -> None:
        write_json(
            self.path,
            {
                "version": 1,
                "updated_at": time.time(),
                "stages": {n: dataclasses.asdict(r) for n, r in self.stages.items()},
            },
        )

    # ------------------------------------------------------------------------------------ decisions

    def is_up_to_date(
        self, name: str, cfg_hash: str, input_hash: str, outputs: list[str]
    ) -> tuple[bool, str]:
        """Whether stage ``name`` can be skipped, and why (or why not), in words for the banner."""
        record = self.stages.get(name)
        if record is None or record.status == "pending":
            return False, "never run"
        if record.status != "done":
            return False, f"last attempt {record.status}; resuming"
        if record.config_hash != cfg_hash:
            return False, "config changed"
        if record.input_hash != input_hash:
            return False, "inputs changed"
        now = fingerprint(outputs, root=self.run_dir)
        if now["missing"]:
            return False, f"outputs missing: {', '.join(now['missing'][:3])}"
        if now["sha256"] != record.output_hash:
            return False, "outputs changed since the stage finished"
        return True, "up to date"

    def is_stale(self, name: str, cfg_hash: str, input_hash: str) -> bool:
        """A previous attempt used another config or other inputs: its partial outputs must not be resumed."""
        record = self.stages.get(name)
        if record is None or record.status == "pending" or record.config_hash is None:
            return False
        return record.config_hash != cfg_hash or record.input_hash != input_hash

    def mark_running(
        self, name: str, cfg_hash: str, input_hash: str, inputs: list[str], outputs: list[str]
    ) -> None:
        record = self.record(name)
        record.status = "running"
        record.config_hash, record.input_hash = cfg_hash, input_hash
        record.inputs, record.outputs = list(inputs), list(outputs)
        record.started_at, record.finished_at, record.seconds = time.time(), None, None
        record.attempts += 1
        record.error = None
        record.output_hash = None
        self.save()

    def mark_done(self, name: str, summary: dict[str, Any]) -> None:
        record = self.record(name)
        out = fingerprint(record.outputs, root=self.run_dir)
        if out["missing"]:
            raise RuntimeError(f"stage {name} finished but did not write {', '.join(out['missing'])}")
        record.status = "done"
        record.output_hash, record.output_files, record.output_bytes = (
            out["sha256"],
            out["files"],
            out["bytes"],
        )
        record.finished_at = time.time()
        record.seconds = round(record.finished_at - (record.started_at or record.finished_at), 3)
        record.summary = summary
        self.save()

    def mark_failed(self, name: str, error: str) -> None:
        record = self.record(name)
        record.status = "failed"
        record.error = error
        record.finished_at = time.time()
        record.seconds = round(record.finished_at - (record.started_at or record.finished_at), 3)
        self.save()
