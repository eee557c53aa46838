"""The ``data:`` section of a training config."""

from __future__ import annotations

import dataclasses

from lmforge.config import require


@dataclasses.dataclass
class SourceConfig:
    """One source of a mixture: its token files and how often each of its instances is seen per epoch.

    ``weight`` 1 keeps every instance once per epoch; 2 repeats each twice (upsampling); 0.5 keeps a seeded
    half, a different half every epoch (downsampling); 2.5 repeats every instance twice plus half of them a
    third time. The source contributes ``round(weight * instances)`` instances to each epoch.
    """

    paths: list[str]
    weight: float = 1.0
    name: str | None = None

    def validate(self) -> None:
        require(len(self.paths) > 0, "paths", "must list at least one token file, folder or glob")
        require(self.weight >= 0, "weight", f"must be >= 0, got {self.weight}")


@dataclasses.dataclass
class DataConfig:
    paths: list[str] = dataclasses.field(default_factory=list)  # token files, folders or globs
    seq_len: int = 2048
    eos_token_id: int | None = None  # None: from manifest.json beside the files
    dtype: str = "auto"  # auto: from manifest.json beside the files, else uint16
    generate_doc_lengths: bool = False  # yield doc_lens for intra-document attention
    label_mask_paths: list[str] | None = None  # bool arrays, one per token file, same order and length
    mixture: list[SourceConfig] | None = None  # several sources with weights (instead of paths)
    seed: int | None = None  # None: the run's seed
    num_workers: int = 0  # threads reading instances of a batch (order never depends on it)
    allow_dataset_change: bool = False  # resume even if the files differ from the checkpoint's

    def validate(self) -> None:
        require(self.seq_len > 0, "seq_len", f"must be positive, got {self.seq_len}")
        require(
            self.dtype in ("auto", "uint16", "uint32", "uint64"),
            "dtype",
            "must be auto, uint16, uint32 or uint64",
        )
        require(self.num_workers >= 0, "num_workers", "must be >= 0")
        require(
            bool(self.paths) != bool(self.mixture),
            "paths",
            "give either paths or mixture (exactly one of them)"
            if not (self.paths and self.mixture)
            else "paths and mixture are exclusive: put every source under mixture",
        )
        if self.label_mask_paths is not None:
            require(self.mixture is None, "label_mask_paths", "is not supported with a mixture")
        if self.mixture:
            require(sum(s.weight for s in self.mixture) > 0, "mixture", "needs a source with weight > 0")
