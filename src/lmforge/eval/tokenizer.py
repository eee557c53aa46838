"""The tokenizer as evaluation sees it: text -> ids without special tokens, plus the prefix (BOS/EOS) id.

lm-eval conditions an empty context and the first perplexity window on a *prefix token*: the tokenizer's
BOS when it has one, else its EOS. We resolve the same id, so request tokens match lm-eval's ``hf`` backend.
"""

from __future__ import annotations

import json
import os
from typing import Any


class EvalTokenizer:
    """A ``tokenizers.Tokenizer`` with the ids evaluation needs."""

    def __init__(self, tokenizer: Any, eos_id: int | None, bos_id: int | None = None, name: str = "") -> None:
        self.tokenizer = tokenizer
        self.eos_id = eos_id
        self.bos_id = bos_id
        self.name = name

    @property
    def prefix_id(self) -> int:
        if self.bos_id is not None:
            return self.bos_id
        if self.eos_id is None:
            raise ValueError(
                f"tokenizer {self.name}: neither a BOS nor an EOS id is known (set --prefix-token-id)"
            )
        return self.eos_id

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [list(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


def _special_from_tokenizer_config(folder: str, key: str, tokenizer: Any) -> int | None:
    """``eos_token`` / ``bos_token`` of a Hugging Face ``tokenizer_config.json``, as an id (None if absent)."""
    path = os.path.join(folder, "tokenizer_config.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        value = json.load(f).get(key)
    if isinstance(value, dict):  # {"content": "...", ...} in older files
        value = value.get("content")
    if not isinstance(value, str):
        return None
    return tokenizer.token_to_id(value)


def _model_config_ids(model_dir: str) -> tuple[int | None, int | None]:
    """(eos, bos) ids recorded with the model: ``config.json`` (HF) or ``config.yaml`` (lmforge)."""
    hf_path = os.path.join(model_dir, "config.json")
    if os.path.isfile(hf_path):
        with open(hf_path) as f:
            data = json.load(f)
        return data.get("eos_token_id"), data.get("bos_token_id")
    yaml_path = os.path.join(model_dir, "config.yaml")
    if os.path.isfile(yaml_path):
        from lmforge.config import load_yaml

        model = load_yaml(yaml_path).get("model", {}) or {}
        if "preset" in model:
            from lmforge.models.presets import resolve_model_section

            model = resolve_model_section(model)
        return model.get("eos_token_id"), model.get("bos_token_id")
    return None, None


def model_ids_for_tokenizer(
    tokenizer: Any, eos: int | None, bos: int | None
) -> tuple[int | None, int | None]:
    """A model config's (eos, bos) as this tokenizer can use them.

    A preset's EOS is often no EOS token of the tokenizer the model was trained with (``tiny`` keeps OLMo-1's
    50279 while a BPE trained by ``lmforge tokenizer train`` ends documents with ``<|endoftext|>`` = 0, and
    the token files were written with that). Prefixing windows with the preset's id would condition every
    score on a row training never saw, so the tokenizer's own EOS replaces it, as ``export`` and ``generate``
    do; a BOS that is no token of the tokenizer is dropped."""
    try:
        from lmforge.tokenize.tokenizer import special_ids_for
    except ImportError:  # a minimal install without the tokenization stage: the config's ids as they are
        return eos, bos
    eos, _ = special_ids_for(tokenizer, eos, None)
    if bos is not None and (bos < 0 or tokenizer.id_to_token(bos) is None):
        bos = None
    return eos, bos


def _load_tokenizers_file(path: str) -> Any:
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "tokenizer.json")):
        # e.g. a folder imported from a native OLMo checkpoint, which ships no tokenizer
        raise FileNotFoundError(f"{path}: no tokenizer.json in this folder (pass --tokenizer FILE)")
    try:  # the tokenization stage's loader knows names and folders; a plain file needs only `tokenizers`
        from lmforge.tokenize.tokenizer import load_tokenizer

        return load_tokenizer(path)
    except ImportError:
        pass
    from tokenizers import Tokenizer

    file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{path}: no tokenizer.json (pass --tokenizer FILE)")
    return Tokenizer.from_file(file)


def load_eval_tokenizer(
    model_dir: str | None, tokenizer_path: str | None = None, prefix_token_id: int | None = None
) -> EvalTokenizer:
    """The tokenizer stored in ``model_dir`` or given by ``tokenizer_path`` (file or folder).

    EOS/BOS: the tokenizer folder's ``tokenizer_config.json`` (what lm-eval's hf backend uses), else the
    ids recorded in the model's config. ``prefix_token_id`` overrides both.
    """
    source = tokenizer_path or model_dir
    if source is None:
        raise ValueError("no tokenizer: pass a model folder holding tokenizer.json or --tokenizer")
    tokenizer = _load_tokenizers_file(source)
    folder = source if os.path.isdir(source) else os.path.dirname(source)
    eos = _special_from_tokenizer_config(folder, "eos_token", tokenizer)
    bos = _special_from_tokenizer_config(folder, "bos_token", tokenizer)
    if eos is None and bos is None and model_dir is not None:
        eos, bos = model_ids_for_tokenizer(tokenizer, *_model_config_ids(model_dir))
    if prefix_token_id is not None:
        bos = prefix_token_id
    return EvalTokenizer(tokenizer, eos_id=eos, bos_id=bos, name=source)
