"""Reading DCP's ``.metadata`` without trusting it.

torch.distributed.checkpoint stores a checkpoint's index (tensor names, shapes, dtypes, shard offsets) as a
*pickle* and reads it back with a plain ``pickle.load``: opening a checkpoint someone else made would run any
code they put in that file. The readers here unpickle it with an allow-list instead: only DCP's own metadata
classes, torch dtypes / sizes / layouts and paths can be built, anything else is refused before it runs.
Tensor data is unaffected (DCP reads it as raw storage; other items with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import pickle  # only through _MetadataUnpickler below: an allow-list, never plain pickle.load
from typing import IO, Any

import torch
import torch.distributed.checkpoint as dcp

from lmforge.io import InputError

_METADATA_MODULE = "torch.distributed.checkpoint.metadata"
_ALLOWED = {
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),  # a name -> torch.layout lookup
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("pathlib", "Path"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "PureWindowsPath"),
    ("collections", "OrderedDict"),
}


class _MetadataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == _METADATA_MODULE:
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__ == _METADATA_MODULE:  # DCP's dataclasses/enums
                return found
        elif module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        elif (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a checkpoint's .metadata")


def load_metadata(stream: IO[bytes], where: str) -> Any:
    """Unpickle DCP metadata from ``stream`` with the allow-list; ``where`` names the file in errors."""
    try:
        return _MetadataUnpickler(stream).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
        raise InputError(where, None, f"not a readable checkpoint index ({err})") from None


class _SafeMetadataMixin:
    """``read_metadata`` of torch's FileSystemReader, with :func:`load_metadata` instead of ``pickle.load``."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
        from torch.distributed.checkpoint.metadata import StorageMeta

        path = self._get_metadata_path(kwargs.get("rank"))  # type: ignore[attr-defined]
        with self.fs.create_stream(path, "rb") as stream:  # type: ignore[attr-defined]
            metadata = load_metadata(stream, str(path))
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id  # type: ignore[attr-defined]
        return metadata


class SafeFileSystemReader(_SafeMetadataMixin, dcp.FileSystemReader):
    pass


def safe_fsspec_reader(path: str) -> Any:
    from torch.distributed.checkpoint._fsspec_filesystem import FsspecReader

    class SafeFsspecReader(_SafeMetadataMixin, FsspecReader):
        pass

    return SafeFsspecReader(path)
