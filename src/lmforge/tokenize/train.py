"""Training a byte-level BPE tokenizer on Dolma documents with Hugging Face ``tokenizers``.

Documents are streamed (never all in memory); the Rust trainer only keeps word counts. The special tokens
come first, so their ids are stable whatever the vocabulary size: ``<|endoftext|>`` = 0 (EOS),
``<|padding|>`` = 1, then the PII masks the curation stage writes into text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from lmforge.config import ConfigError
from lmforge.documents import OnError, ReadStats, expand_document_paths, read_documents
from lmforge.io import InputError, unique_paths, write_text

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|padding|>"
PII_TOKENS = ("|||EMAIL_ADDRESS|||", "|||PHONE_NUMBER|||", "|||IP_ADDRESS|||")
SPECIAL_TOKENS = (EOS_TOKEN, PAD_TOKEN, *PII_TOKENS)
BYTE_ALPHABET_SIZE = 256


@dataclasses.dataclass
class TrainResult:
    output: str
    vocab_size: int
    documents: int
    rejected: int
    bytes: int

    def to_dict(self) -> dict[str, int | str]:
        return dataclasses.asdict(self)


def _texts(
    paths: Sequence[str], on_error: OnError, stats: ReadStats, max_documents: int | None
) -> Iterator[str]:
    seen = 0
    for path in paths:
        for _, doc in read_documents(path, on_error=on_error, stats=stats):
            seen += 1
            yield doc["text"]
            if max_documents is not None and seen >= max_documents:
                return  # before reading another document, so the counts are of the documents used


def new_byte_level_bpe() -> Tokenizer:
    """An untrained byte-level BPE tokenizer (GPT-2 style pre-tokenization, no added prefix space)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def train_tokenizer(
    paths: str | Sequence[str],
    vocab_size: int,
    output: str,
    *,
    min_frequency: int = 2,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    on_error: OnError = "fail",
    max_documents: int | None = None,
    show_progress: bool = False,
) -> TrainResult:
    """Train byte-level BPE on the ``text`` of every document under ``paths`` and save ``output`` atomically.

    ``paths``: files, folders or globs (local or fsspec). ``vocab_size`` counts the 256 byte tokens and the
    special tokens. Returns counts so callers can check that every document was read (``documents`` used,
    ``rejected`` skipped with ``on_error="skip"``).
    """
    files = unique_paths(expand_document_paths(paths if isinstance(paths, str) else list(paths)))
    if max_documents is not None and max_documents < 1:
        raise ConfigError("max_documents", f"must be at least 1, got {max_documents}")
    if min_frequency < 0:
        raise ConfigError("min_frequency", f"must be >= 0, got {min_frequency}")
    minimum = BYTE_ALPHABET_SIZE + len(special_tokens)
    if vocab_size < minimum:
        raise ConfigError(
            "vocab_size", f"must be at least {minimum} (256 bytes + {len(special_tokens)} special)"
        )
    tok = new_byte_level_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    stats = ReadStats()
    tok.train_from_iterator(_texts(files, on_error, stats, max_documents), trainer=trainer)
    if (
        stats.documents == 0
    ):  # e.g. every line rejected under on_error=skip: a bytes-only vocabulary is no use
        raise InputError(
            files[0] if len(files) == 1 else f"{len(files)} files",
            None,
            f"no documents to train on ({stats.rejected} rejected lines)",
        )
    write_text(output, tok.to_str(pretty=True))
    return TrainResult(
        output, tok.get_vocab_size(with_added_tokens=True), stats.documents, stats.rejected, stats.bytes
    )
