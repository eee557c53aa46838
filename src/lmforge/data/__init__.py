"""Training data: memmap token files, deterministic global order, rank slices, stateful loading, mixtures."""

from lmforge.data.config import DataConfig, SourceConfig
from lmforge.data.loader import DataLoader

__all__ = ["DataConfig", "DataLoader", "SourceConfig"]
