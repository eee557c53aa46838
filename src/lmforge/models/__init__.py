"""Model presets and model folders."""

from lmforge.models.folder import load_model_folder, read_model_config, save_model_folder
from lmforge.models.loading import load_model
from lmforge.models.presets import PRESETS, get_preset

__all__ = [
    "PRESETS",
    "get_preset",
    "load_model",
    "load_model_folder",
    "read_model_config",
    "save_model_folder",
]
