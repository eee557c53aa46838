"""Encoding one batch of raw JSONL lines into tokens: the work each tokenizer process does.

Workers receive raw lines (the reader process only splits the input into lines), parse and validate them with
the same functions as every other stage, encode the texts in one ``encode_batch_fast`` call of the Rust
tokenizer, and send back one flat array of tokens (EOS after every document) plus one row per document.
Workers never raise for bad input: they report rejections, and the caller decides (``fail`` or ``skip``).
"""

from __future__ import annotations

import dataclasses
from itertools import chain

import numpy as np
from tokenizers import Tokenizer

from lmforge.documents import validate_document
from lmforge.io import InputError, parse_json_line


@dataclasses.dataclass
class Batch:
    """A run of consecutive non-blank lines of one input file."""

    file_index: int
    path: str
    lines: list[tuple[int, bytes]]  # (1-based line number, raw bytes)


@dataclasses.dataclass
class EncodedBatch:
    file_index: int
    tokens: np.ndarray  # every tokenized document followed by EOS, concatenated
    lengths: np.ndarray  # int64, tokens of each tokenized document (EOS included)
    ids: list[str]
    sources: list[str]
    lines: list[int]
    text_bytes: int  # UTF-8 bytes of the tokenized texts
    empty: int  # documents whose text is empty or only whitespace: counted, not tokenized
    rejections: list[tuple[int, str]]  # (line, reason), in line order


class Encoder:
    """Holds the tokenizer of one process (built once per worker, reused for every batch)."""

    def __init__(
        self, tokenizer: Tokenizer | str, eos_id: int, dtype: str, strip_whitespace: bool = False
    ) -> None:
        # a Tokenizer object (same process) or its JSON (a worker builds its own)
        self.tokenizer = Tokenizer.from_str(tokenizer) if isinstance(tokenizer, str) else tokenizer
        self.eos_id = eos_id
        self.dtype = np.dtype(dtype)
        self.strip_whitespace = strip_whitespace

    def encode(self, batch: Batch) -> EncodedBatch:
        texts: list[str] = []
        ids: list[str] = []
        sources: list[str] = []
        lines: list[int] = []
        rejections: list[tuple[int, str]] = []
        empty = 0
        for line_no, raw in batch.lines:
            try:
                doc = validate_document(batch.path, line_no, parse_json_line(batch.path, line_no, raw))
            except InputError as err:
                rejections.append((line_no, err.reason))
                continue
            text = doc["text"].strip() if self.strip_whitespace else doc["text"]
            if not text.strip():
                empty += 1
                continue
            texts.append(text)
            ids.append(str(doc["id"]) if doc.get("id") is not None else "")  # null and missing alike
            sources.append(str(doc.get("source") or ""))
            lines.append(line_no)
        # add_special_tokens=False: the document separator is ours (EOS, appended below), never a
        # post-processor's BOS/EOS, so the stream is exactly encode(text).ids + [eos] per document.
        encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        token_lists = [encoding.ids for encoding in encodings]
        for token_list in token_lists:
            token_list.append(self.eos_id)
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        tokens = np.fromiter(chain.from_iterable(token_lists), dtype=self.dtype, count=int(lengths.sum()))
        return EncodedBatch(
            file_index=batch.file_index,
            tokens=tokens,
            lengths=lengths,
            ids=ids,
            sources=sources,
            lines=lines,
            text_bytes=sum(len(t.encode("utf-8")) for t in texts),
            empty=empty,
            rejections=rejections,
        )


# One encoder per worker process, built by the pool initializer (the tokenizer is not picklable cheaply).
_WORKER_ENCODER: Encoder | None = None


def init_worker(tokenizer_json: str, eos_id: int, dtype: str, strip_whitespace: bool) -> None:
    global _WORKER_ENCODER
    _WORKER_ENCODER = Encoder(tokenizer_json, eos_id, dtype, strip_whitespace)


def encode_in_worker(batch: Batch) -> EncodedBatch:
    assert _WORKER_ENCODER is not None, "init_worker was not called in this process"
    return _WORKER_ENCODER.encode(batch)
