"""Files everywhere: local paths and fsspec URLs (``s3://``, ``memory://``), compression, atomic writes.

Every stage reads and writes through these few functions so that a path can be local or remote and a
process killed mid-write never leaves a half-written file under the final name.
"""

from __future__ import annotations

import codecs
import contextlib
import glob as _glob
import gzip
import io
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from typing import IO, Any

import fsspec

COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")


def is_remote(path: str) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def compression_of(path: str) -> str | None:
    if path.endswith(".gz"):
        return "gzip"
    if path.endswith((".zst", ".zstd")):
        return "zstd"
    return None


class _ZstdFrames(io.RawIOBase):
    """Decompress a stream of zstd frames, raising ``ZstdError`` when the input ends inside a frame.

    zstandard's ``stream_reader`` reports a truncated file as a clean end of stream: a .zst cut on a line
    boundary would lose its tail silently. One decompression object per frame tells a finished frame
    (``eof``) from one whose bytes ran out.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard

        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame: Any = None  # the frame being decompressed; None between frames
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._frame is not None:
                    import zstandard

                    raise zstandard.ZstdError("the input ends inside a frame")
                return 0
            parts = []
            while chunk:
                if self._frame is None:
                    self._frame = self._dctx.decompressobj()
                parts.append(self._frame.decompress(chunk))
                chunk = b""
                if self._frame.eof:  # frame finished: what follows starts the next one
                    chunk, self._frame = self._frame.unused_data, None
            self._pending = memoryview(b"".join(parts))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def _zstd_reader(raw: IO[bytes]) -> IO[bytes]:
    return io.BufferedReader(_ZstdFrames(raw), buffer_size=1 << 20)  # line iteration


def _zstd_writer(raw: IO[bytes]) -> IO[bytes]:
    import zstandard

    return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=True)


@contextlib.contextmanager
def open_file(path: str, mode: str = "rb", compression: str | bool | None = True) -> Iterator[IO[Any]]:
    """Open a local or remote file, (de)compressing by suffix unless ``compression=False``.

    Text modes use UTF-8 with strict errors: a caller that wants to name the bad line should read
    bytes and decode itself (see :func:`iter_lines`).
    """
    path = str(path)
    comp = compression_of(path) if compression is True else (compression or None)
    binary_mode = mode.replace("t", "").replace("b", "") + "b"
    if is_remote(path):
        raw_cm = fsspec.open(path, binary_mode)
    else:
        raw_cm = open(_local(path), binary_mode)  # noqa: SIM115 - closed by the exit stack below
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(raw_cm)
        if comp == "gzip":
            # no file name or time stamp in the header: the same content gives the same bytes (reruns
            # are byte-identical, and atomic_write's temporary name does not leak into the file)
            stream: IO[bytes] = gzip.GzipFile(filename="", fileobj=raw, mode=binary_mode[0] + "b", mtime=0)
            stack.callback(stream.close)
        elif comp == "zstd":
            stream = _zstd_reader(raw) if "r" in mode else _zstd_writer(raw)
            stack.callback(stream.close)
        else:
            stream = raw
        if "b" in mode:
            yield stream
        else:
            text = io.TextIOWrapper(stream, encoding="utf-8", newline="" if "w" in mode else None)
            try:
                yield text
            finally:
                with contextlib.suppress(ValueError):
                    text.flush()
                text.detach()


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb", compression: str | bool | None = True) -> Iterator[IO[Any]]:
    """Write to a temporary name beside ``path`` and rename it into place only when the block succeeds.

    Local files: temp file in the same directory + ``os.replace`` (atomic on POSIX) after fsync.
    Remote files: written locally, then uploaded in one PUT, which object stores publish atomically.
    """
    path = str(path)
    if is_remote(path):
        fd, tmp = tempfile.mkstemp(suffix=os.path.basename(path))
        os.close(fd)
        try:
            with open_file(
                tmp, mode, compression=compression_of(path) if compression is True else compression
            ) as f:
                yield f
            fs, fs_path = fsspec.core.url_to_fs(path)
            fs.put_file(tmp, fs_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        return
    local = _local(path)
    directory = os.path.dirname(os.path.abspath(local))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(local)}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        comp = compression_of(local) if compression is True else compression
        with open_file(tmp, mode, compression=comp) as f:
            yield f
        with open(tmp, "rb+") as raw:
            os.fsync(raw.fileno())
        os.replace(tmp, local)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def give_default_permissions(path: str) -> None:
    """chmod ``path`` to what a plainly created file gets (0666 minus the umask).

    Writers that create their own temporary file (safetensors makes it 0600) would otherwise publish
    weights that nobody else on a shared file system can read.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_text(path: str, text: str) -> None:
    with atomic_write(path, "wt", compression=False) as f:
        f.write(text)


def write_json(path: str, obj: Any, indent: int | None = 2) -> None:
    with atomic_write(path, "wt", compression=False) as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


def read_json(path: str) -> Any:
    """A JSON file; malformed content (a torn or hand-edited file) is an :class:`InputError` naming it."""
    with open_file(path, "rb", compression=False) as f:
        raw = f.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(path, None, f"invalid UTF-8 at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise InputError(path, err.lineno, f"malformed JSON ({err.msg} at column {err.colno})") from None


def exists(path: str) -> bool:
    if is_remote(path):
        fs, fs_path = fsspec.core.url_to_fs(path)
        return fs.exists(fs_path)
    return os.path.exists(_local(path))


def isdir(path: str) -> bool:
    if is_remote(path):
        fs, fs_path = fsspec.core.url_to_fs(path)
        return fs.isdir(fs_path)
    return os.path.isdir(_local(path))


def makedirs(path: str) -> None:
    if is_remote(path):
        fs, fs_path = fsspec.core.url_to_fs(path)
        fs.makedirs(fs_path, exist_ok=True)
    else:
        os.makedirs(_local(path), exist_ok=True)


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])
    return os.path.join(base, *parts)


def expand_paths(patterns: str | list[str]) -> list[str]:
    """Expand globs (``**`` included) over local paths or fsspec URLs; sorted, de-duplicated.

    A pattern that matches nothing is an error naming the pattern: silently training on, or
    tokenizing, zero files is never what the user meant.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    found: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        if is_remote(pattern):
            fs, fs_path = fsspec.core.url_to_fs(pattern)
            protocol = pattern.split("://", 1)[0]
            if _glob.has_magic(fs_path):
                matches = [f"{protocol}://{p}" for p in fs.glob(fs_path) if fs.isfile(p)]
            elif fs.isdir(fs_path):
                root = fs_path.rstrip("/")
                matches = [
                    f"{protocol}://{p}"
                    for p in fs.find(fs_path)
                    if not any(part.startswith(".") for part in p[len(root) :].split("/"))
                ]
            else:
                matches = [pattern] if fs.exists(fs_path) else []
        else:
            local = _local(pattern)
            if _glob.has_magic(local):
                matches = [p for p in _glob.glob(local, recursive=True) if os.path.isfile(p)]
            elif os.path.isdir(local):
                matches = []
                for root, dirs, names in os.walk(local):
                    # hidden folders (completion markers in .lmforge-state/) are skipped, as `**` skips them
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    matches += [os.path.join(root, name) for name in names if not name.startswith(".")]
            else:
                matches = [local] if os.path.exists(local) else []
        if not matches:
            raise FileNotFoundError(f"no files match {pattern!r}")
        found.extend(matches)
    return unique_paths(found)


def unique_paths(paths: list[str]) -> list[str]:
    """``paths`` sorted, each file once even when spelt twice (``docs/a.jsonl``, ``./docs/a.jsonl``,
    ``/abs/docs/a.jsonl``): overlapping patterns must not make a stage read a file twice."""
    first: dict[str, str] = {}
    for path in paths:
        key = path if is_remote(path) else os.path.abspath(_local(path))
        first.setdefault(key, path)
    return sorted(first.values())


class InputError(ValueError):
    """Bad input data, located: ``path:line: reason``."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # raised in pool workers: the default reduce passes only the message back to __init__, which
        # fails while unpickling in the parent and leaves multiprocessing's result thread dead (a hang)
        return (type(self), (self.path, self.line, self.reason))


def iter_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_bytes)`` (1-based, newline stripped) from a possibly compressed file.

    A truncated or corrupt compressed stream raises :class:`InputError` naming the file and the last
    line read, after every complete line before it has been yielded.
    """
    line_no = 0
    try:
        with open_file(path, "rb") as f:
            for raw in f:
                line_no += 1
                yield line_no, raw.rstrip(b"\r\n")
    except (EOFError, gzip.BadGzipFile, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise InputError(path, line_no + 1, f"truncated or corrupt compressed stream ({err})") from None
    except Exception as err:  # zstandard raises its own ZstdError
        if type(err).__name__ == "ZstdError":
            raise InputError(path, line_no + 1, f"truncated or corrupt zstd stream ({err})") from None
        raise


def parse_json_line(path: str, line_no: int, raw: bytes) -> dict[str, Any]:
    """Decode one JSONL line strictly, raising a located :class:`InputError` on any problem."""
    if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]  # a byte-order mark (files saved by Windows tools) is no content
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(path, line_no, f"invalid UTF-8 at byte {err.start}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, line_no, f"malformed JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(obj, dict):
        raise InputError(path, line_no, f"expected a JSON object, got {type(obj).__name__}")
    if b"\\ud" in raw or b"\\uD" in raw:
        # json.loads joins an escaped surrogate pair into one character but turns an unpaired \ud800 into a
        # lone surrogate, which no UTF-8 writer or tokenizer accepts: reject the line here, located,
        # rather than crash a later stage
        lone = _SURROGATE.search(json.dumps(obj, ensure_ascii=False))
        if lone is not None:
            raise InputError(
                path, line_no, f"unpaired surrogate escape \\u{ord(lone.group()):04x} (not Unicode)"
            )
    return obj


_SURROGATE = re.compile("[\ud800-\udfff]")
