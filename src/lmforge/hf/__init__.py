"""Conversion to and from transformers' OLMo / OLMo-2 folders and OLMo's native checkpoints."""

from lmforge.hf.convert import (
    export_hf_folder,
    from_hf_state_dict,
    hf_config_dict,
    load_hf_folder,
    model_config_from_hf,
    to_hf_state_dict,
)
from lmforge.hf.native import is_native_olmo_checkpoint, load_native_olmo

__all__ = [
    "export_hf_folder",
    "from_hf_state_dict",
    "hf_config_dict",
    "is_native_olmo_checkpoint",
    "load_hf_folder",
    "load_native_olmo",
    "model_config_from_hf",
    "to_hf_state_dict",
]
