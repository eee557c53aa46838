"""A memmap dataset of fixed-length instances over many token files.

Each token file is a raw array (no header) of one dtype, as ``lmforge tokenize`` and OLMo write them.
Instance ``i`` is ``seq_len`` consecutive tokens of one file; each file's last ``tokens % seq_len`` tokens are
dropped and documents may span instances (as in OLMo). Remote files (fsspec URLs) are read by byte range.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lmforge.config import ConfigError
from lmforge.io import InputError, exists, expand_paths, is_remote, join, read_json

MANIFEST = "manifest.json"


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if is_remote(path) else os.path.dirname(_local(path))


def resolve_token_files(patterns: Sequence[str]) -> list[str]:
    """Token files named by ``patterns``, in order: a folder with a ``manifest.json`` gives the manifest's
    files (so leftovers of other runs are ignored), another folder its ``*.npy`` files, a glob its matches."""
    files: list[str] = []
    for pattern in patterns:
        manifest = join(pattern, MANIFEST)
        if not any(ch in pattern for ch in "*?[") and exists(manifest):
            listed = read_json(manifest).get("files")
            if not isinstance(listed, list) or not all(isinstance(f, dict) and "path" in f for f in listed):
                raise InputError(
                    manifest, None, "not a token manifest: no 'files' list of {path: ...} entries"
                )
            manifest_dtype = read_json(manifest).get("dtype")
            for entry in listed:
                path = join(pattern, entry["path"])
                _check_recorded_length(manifest, path, entry.get("tokens"), manifest_dtype)
                files.append(path)
            continue
        files.extend(p for p in expand_paths(pattern) if p.endswith(".npy"))
    if not files:
        raise FileNotFoundError(f"no token files (*.npy) in {list(patterns)}")
    return list(dict.fromkeys(files))


def _check_recorded_length(manifest: str, path: str, tokens: Any, dtype: Any) -> None:
    """A token file whose size is not what tokenize recorded was cut short (a copy that stopped, a full disk)
    or replaced: training on it would silently use other data, so it is an error naming both files."""
    if not isinstance(tokens, int) or not isinstance(dtype, str):
        return
    if is_remote(path):
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(path)
        size = int(fs.size(fs_path))
    else:
        size = os.path.getsize(_local(path))
    expected = tokens * np.dtype(dtype).itemsize
    if size != expected:
        raise InputError(
            path,
            None,
            f"{size} bytes, but {manifest} records {tokens} {dtype} tokens ({expected} bytes): "
            "truncated or replaced since lmforge tokenize wrote it; copy or tokenize it again",
        )


def manifests_for(files: Sequence[str]) -> list[dict[str, Any]]:
    """The ``manifest.json`` files found beside ``files`` (one per folder)."""
    found = []
    for folder in dict.fromkeys(_dirname(f) for f in files):
        path = join(folder, MANIFEST) if folder else MANIFEST
        if exists(path):
            found.append(read_json(path))
    return found


def manifest_checksums(files: Sequence[str]) -> dict[str, str]:
    """sha256 of each of ``files`` that a ``manifest.json`` beside it records (``lmforge tokenize`` does)."""
    by_folder: dict[str, dict[str, str]] = {}
    checksums: dict[str, str] = {}
    for file in files:
        folder = _dirname(file)
        if folder not in by_folder:
            path = join(folder, MANIFEST) if folder else MANIFEST
            entries = read_json(path).get("files", []) if exists(path) else []
            by_folder[folder] = {str(e["path"]): str(e["sha256"]) for e in entries if e.get("sha256")}
        sha = by_folder[folder].get(file.rsplit("/", 1)[-1])
        if sha is not None:
            checksums[file] = sha
    return checksums


def _agreed(manifests: list[dict[str, Any]], key: str) -> Any:
    values = {m.get(key) for m in manifests if m.get(key) is not None}
    if len(values) > 1:
        raise ConfigError(f"data.{key}", f"the token folders disagree ({sorted(values)}); set it explicitly")
    return values.pop() if values else None


def resolve_dtype(requested: str, manifests: list[dict[str, Any]]) -> str:
    if requested != "auto":
        return requested
    return _agreed(manifests, "dtype") or "uint16"


def resolve_eos(requested: int | None, manifests: list[dict[str, Any]]) -> int | None:
    return requested if requested is not None else _agreed(manifests, "eos_token_id")


class TokenFile:
    """One flat array on disk; read by memmap when local, by byte range when remote."""

    def __init__(self, path: str, dtype: str) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        if is_remote(path):
            import fsspec

            self._fs, self._fs_path = fsspec.core.url_to_fs(path)
            size = int(self._fs.size(self._fs_path))
        else:
            size = os.path.getsize(_local(path))
        if size % self.dtype.itemsize:
            raise InputError(
                path, None, f"{size} bytes is not a whole number of {self.dtype} values; wrong dtype?"
            )
        self.length = size // self.dtype.itemsize
        self._memmap: np.memmap | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        if is_remote(self.path):
            raw = self._fs.cat_file(self._fs_path, start * self.dtype.itemsize, stop * self.dtype.itemsize)
            return np.frombuffer(raw, dtype=self.dtype)
        if self._memmap is None:
            # opened lazily: a loader copied into another process opens its own maps
            self._memmap = np.memmap(_local(self.path), dtype=self.dtype, mode="r")
        return np.array(self._memmap[start:stop])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memmap": None}


class MemmapDataset:
    """Fixed-length instances over token files (and optional parallel label-mask files)."""

    def __init__(
        self, files: Sequence[str], seq_len: int, dtype: str, label_mask_files: Sequence[str] | None = None
    ) -> None:
        self.seq_len = seq_len
        self.files = [TokenFile(f, dtype) for f in files]
        self.label_masks: list[TokenFile] | None = None
        if label_mask_files is not None:
            if len(label_mask_files) != len(files):
                raise ConfigError(
                    "data.label_mask_paths",
                    f"{len(label_mask_files)} mask files for {len(files)} token files",
                )
            self.label_masks = [TokenFile(f, "bool") for f in label_mask_files]
            for tokens, mask in zip(self.files, self.label_masks):
                if tokens.length != mask.length:
                    raise ConfigError(
                        "data.label_mask_paths",
                        f"{mask.path} has {mask.length} values but {tokens.path} has {tokens.length} tokens",
                    )
        counts = np.array([f.length // seq_len for f in self.files], dtype=np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(counts)))  # instance offset of each file

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Instance index -> (file index, first token in that file)."""
        if not 0 <= index < len(self):
            raise IndexError(f"instance {index} out of range (0..{len(self) - 1})")
        file_index = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return file_index, int(index - self.offsets[file_index]) * self.seq_len

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        file_index, start = self.locate(index)
        tokens = self.files[file_index].read(start, start + self.seq_len)
        mask = None
        if self.label_masks is not None:
            mask = self.label_masks[file_index].read(start, start + self.seq_len)
        return tokens, mask

    def fingerprint(self, checksums: dict[str, str] | None = None) -> str:
        """Identifies the data, not where it lies: file names (relative to their common folder), sizes,
        dtype and seq_len, plus each file's sha256 where ``checksums`` (from the manifests) has it. Moving
        the folder keeps it; adding, removing or changing a file changes it, even a change that keeps the
        size (the same documents tokenized again with another ``--eos-id``)."""
        checksums = checksums or {}
        # absolute paths: sources given one relative and one absolute share a root too
        paths = [os.path.abspath(_local(f.path)) for f in self.files]
        root = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0])
        digest = hashlib.sha256(f"seq_len={self.seq_len};dtype={self.files[0].dtype}".encode())
        for f, path in zip(self.files, paths):
            name = os.path.relpath(path, root)
            digest.update(f";{name}:{f.length}".encode())
            if f.path in checksums:
                digest.update(f":{checksums[f.path]}".encode())
        return digest.hexdigest()[:16]
