"""lmforge: curate, tokenize, pretrain, evaluate and release OLMo-architecture language models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from lmforge.nn.transformer import Transformer


def load_model(path: str, device: Any = "cpu", dtype: Any = None) -> Transformer:
    """Load an lmforge checkpoint folder or a Hugging Face OLMo / OLMo-2 folder as an ``nn.Module``.

    ``model(input_ids).logits`` has shape [batch, seq, vocab]. See :mod:`lmforge.models.loading`.
    """
    from lmforge.models.loading import load_model as _load

    return _load(path, device=device, dtype=dtype)


__all__ = ["__version__", "load_model"]
