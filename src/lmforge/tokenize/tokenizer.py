"""Loading Hugging Face tokenizers and deciding which id ends a document.

A tokenizer is named by a ``tokenizer.json`` file, a folder holding one (a model or Hugging Face folder), or a
hub repository name. Token files record the tokenizer's sha256 so a run can tell which vocabulary made them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re

from tokenizers import Tokenizer

from lmforge.io import InputError, exists, is_remote, join, open_file

# Names that mean "end of document" in common tokenizers, in order of preference.
EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "<|im_end|>", "[SEP]")
PAD_CANDIDATES = ("<|padding|>", "<|pad|>", "<pad>", "[PAD]")
HUB_NAME = re.compile(r"[\w.-]+(/[\w.-]+)?")  # "gpt2", "allenai/OLMo-1B-hf"
HUB_PROBE_TIMEOUT_S = 5.0  # one request that tells whether the hub answers at all


def resolve_tokenizer_file(path_or_name: str) -> str:
    """Return the path of the ``tokenizer.json`` that ``path_or_name`` designates.

    Local or fsspec files and folders are used as they are; anything else is taken as a Hugging Face hub
    repository and its ``tokenizer.json`` is downloaded into the hub cache (needs ``lmforge[hf]``).
    """
    path_or_name = str(path_or_name)
    if is_remote(path_or_name) or os.path.exists(path_or_name):
        if path_or_name.endswith(".json") or os.path.isfile(path_or_name):
            return path_or_name  # load_tokenizer says so if the file is not a tokenizer
        candidate = join(path_or_name, "tokenizer.json")
        if exists(candidate):
            return candidate
        raise FileNotFoundError(f"{path_or_name}: no tokenizer.json in this folder")
    if not HUB_NAME.fullmatch(path_or_name) or path_or_name.endswith(".json"):
        raise FileNotFoundError(f"{path_or_name}: no such tokenizer file or folder")
    return _download_from_hub(path_or_name)


def _download_from_hub(name: str) -> str:
    try:
        from huggingface_hub import constants, hf_hub_download
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"{name}: not a local tokenizer, and huggingface_hub (lmforge[hf]) is not installed"
        ) from None
    # huggingface_hub retries a connection that fails with back-off (about 25 s) before it looks in its cache:
    # with HF_HUB_OFFLINE set, or a hub that one request shows unreachable, the cache is the only place asked.
    offline = bool(constants.HF_HUB_OFFLINE)
    unreachable = None if offline else _hub_unreachable(constants.ENDPOINT)
    try:
        if offline or unreachable:
            return hf_hub_download(repo_id=name, filename="tokenizer.json", local_files_only=True)
        return hf_hub_download(repo_id=name, filename="tokenizer.json")
    except OSError as err:  # offline, no such repository, no tokenizer.json in it (all OSErrors)
        if offline:
            why = "HF_HUB_OFFLINE is set and the hub cache holds no tokenizer.json for it"
        elif unreachable:
            why = (
                f"the Hugging Face hub ({constants.ENDPOINT}) cannot be reached ({unreachable}) and the hub "
                "cache holds no tokenizer.json for it"
            )
        else:
            reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            why = f"no tokenizer.json could be fetched from the Hugging Face hub ({reason})"
        raise FileNotFoundError(f"{name}: not a local tokenizer file or folder, and {why}") from None


def _hub_unreachable(endpoint: str) -> str | None:
    """Why ``endpoint`` does not answer one request (no retries), or None when it answers at all."""
    from huggingface_hub import get_session  # its proxies, certificates and headers, as the download uses

    try:
        get_session().head(endpoint, timeout=HUB_PROBE_TIMEOUT_S)
    except Exception as err:  # requests or httpx, by huggingface_hub version: no common base but Exception
        return str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return None


def load_tokenizer(path_or_name: str) -> Tokenizer:
    """Load a tokenizer from a ``tokenizer.json`` file, a folder containing one, or a hub name."""
    path = resolve_tokenizer_file(path_or_name)
    with open_file(path, "rb", compression=False) as f:
        raw = f.read()
    try:
        return Tokenizer.from_str(raw.decode("utf-8"))
    except Exception as err:  # `tokenizers` raises a bare Exception for anything it cannot parse
        raise InputError(path, None, f"not a tokenizer.json ({err})") from None


def tokenizer_sha256(path_or_name: str) -> str:
    """sha256 of the tokenizer's JSON bytes: the identity recorded beside token files."""
    with open_file(resolve_tokenizer_file(path_or_name), "rb", compression=False) as f:
        return hashlib.sha256(f.read()).hexdigest()


def vocab_size(tok: Tokenizer) -> int:
    """Number of ids the tokenizer can produce (added tokens included)."""
    return tok.get_vocab_size(with_added_tokens=True)


def eos_token_id(tok: Tokenizer, explicit: int | None = None) -> int:
    """The id appended after every document: ``explicit`` if given, else the first known EOS token.

    OLMo-1 used 50279 (``|||IP_ADDRESS|||``) with the GPT-NeoX tokenizer, so an explicit id always wins; it
    must still be a valid id of this tokenizer.
    """
    size = vocab_size(tok)
    if explicit is not None:
        if not 0 <= explicit < size:
            raise ValueError(f"eos id {explicit} is outside the tokenizer's vocabulary (0..{size - 1})")
        return int(explicit)
    for name in EOS_CANDIDATES:
        token_id = tok.token_to_id(name)
        if token_id is not None:
            return int(token_id)
    raise ValueError(f"the tokenizer has none of the usual EOS tokens {list(EOS_CANDIDATES)}; pass --eos-id")


def pad_token_id(tok: Tokenizer) -> int | None:
    for name in PAD_CANDIDATES:
        token_id = tok.token_to_id(name)
        if token_id is not None:
            return int(token_id)
    return None


def special_ids_for(tok: Tokenizer, eos: int | None, pad: int | None) -> tuple[int | None, int | None]:
    """A model config's EOS and PAD ids, each replaced by the tokenizer's own where it does not fit.

    An EOS fits when it is one of the tokenizer's added tokens (OLMo-1's 50279, ``|||IP_ADDRESS|||``, is one
    in OLMo's GPT-NeoX tokenizer) or is named like an EOS token; an ordinary word piece does not: a config
    that kept a preset's 50279 with a 50 280-id BPE tokenizer of its own would stop at some merge, and one
    with a smaller tokenizer would never stop and would export an EOS no token has. A PAD fits when it is
    any token of the tokenizer (padding is masked, so an ordinary token is harmless).
    """

    def is_token(token_id: int | None) -> bool:
        return token_id is not None and token_id >= 0 and tok.id_to_token(token_id) is not None

    def is_end_token(token_id: int | None) -> bool:
        if not is_token(token_id):
            return False
        return token_id in tok.get_added_tokens_decoder() or tok.id_to_token(token_id) in EOS_CANDIDATES

    if not is_end_token(eos):
        with contextlib.suppress(ValueError):  # a tokenizer naming no EOS either: nothing better to offer
            eos = eos_token_id(tok)
    if pad is not None and not is_token(pad):
        pad = pad_token_id(tok)
        if pad is None:
            pad = eos  # transformers' usual fallback for tokenizers without a padding token
    return eos, pad
