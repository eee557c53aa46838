"""Cutting one document's tokens into scoring windows (lm-eval's ``loglikelihood_rolling`` layout).

Each window is a ``(context, continuation)`` pair: the model reads ``context + continuation[:-1]`` (at most
``max_seq_len`` tokens) and every continuation token is scored exactly once over the whole document.
- The first window starts with the prefix token (BOS, else EOS) and scores up to ``max_seq_len`` tokens.
- Each later window scores the next ``stride`` tokens (default ``max_seq_len``: disjoint windows), and its
  context is filled back with the preceding tokens so the model always reads a full ``max_seq_len``.
With ``stride == max_seq_len`` this is lm-eval's ``get_rolling_token_windows(context_len=1)`` followed by
``make_disjoint_window``; a smaller stride gives every scored token at least ``max_seq_len - stride`` tokens
of context (Paloma's sliding evaluation), at proportionally more compute.
"""

from __future__ import annotations

from collections.abc import Sequence


def rolling_windows(
    tokens: Sequence[int], prefix_token: int, max_seq_len: int, stride: int | None = None
) -> list[tuple[list[int], list[int]]]:
    stride = max_seq_len if stride is None else stride
    if not 1 <= stride <= max_seq_len:
        raise ValueError(f"stride must be in [1, max_seq_len={max_seq_len}], got {stride}")
    tokens = list(tokens)
    if not tokens:
        return []
    first = min(max_seq_len, len(tokens))
    windows = [([prefix_token], tokens[:first])]
    scored = first
    while scored < len(tokens):
        end = min(len(tokens), scored + stride)
        # read tokens[end - max_seq_len - 1 : end - 1]; score tokens[scored:end]
        windows.append((tokens[end - max_seq_len - 1 : scored], tokens[scored:end]))
        scored = end
    return windows
