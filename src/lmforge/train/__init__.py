"""Pretraining: ``train(config)`` / ``Trainer``, the config tree, optimizer groups, schedules, callbacks.

See docs/training.md. ``lmforge train CONFIG.yaml`` is :func:`lmforge.train.cli.main`.
"""

from lmforge.train.config import TrainConfig
from lmforge.train.trainer import Trainer, TrainingStopped, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingStopped", "train"]
