"""Multiple-choice metrics from per-choice log-likelihoods.

- ``acc``: the choice with the highest log-likelihood is the gold one.
- ``acc_norm``: log-likelihood divided by the choice's length in characters (the choice as the task defines
  it, without the target delimiter; lm-eval's definition).
- ``acc_per_token``: log-likelihood divided by the number of continuation tokens.
- ``acc_uncond``: log-likelihood minus the choice's unconditional log-likelihood (PMI; lm-eval's
  ``acc_mutual_info``), the unconditional context being the task's ``uncond_context`` (default empty:
  the prefix token only).
Ties go to the first choice (``numpy.argmax``'s rule, which lm-eval uses).
"""

from __future__ import annotations

from collections.abc import Sequence


def argmax(values: Sequence[float]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def choice_scores(
    metric: str,
    loglikelihoods: Sequence[float],
    choice_texts: Sequence[str],
    num_tokens: Sequence[int],
    uncond_loglikelihoods: Sequence[float] | None = None,
) -> list[float]:
    if metric == "acc":
        return list(loglikelihoods)
    if metric == "acc_norm":
        return [ll / len(text) if text else float("-inf") for ll, text in zip(loglikelihoods, choice_texts)]
    if metric == "acc_per_token":
        return [ll / max(n, 1) for ll, n in zip(loglikelihoods, num_tokens)]
    if metric == "acc_uncond":
        if uncond_loglikelihoods is None:
            raise ValueError("acc_uncond needs the unconditional log-likelihoods")
        return [ll - u for ll, u in zip(loglikelihoods, uncond_loglikelihoods)]
    raise ValueError(f"unknown metric {metric!r}")


def example_predictions(
    metrics: Sequence[str],
    loglikelihoods: Sequence[float],
    choice_texts: Sequence[str],
    num_tokens: Sequence[int],
    uncond_loglikelihoods: Sequence[float] | None = None,
) -> dict[str, int]:
    """The predicted choice index under each metric."""
    return {
        m: argmax(choice_scores(m, loglikelihoods, choice_texts, num_tokens, uncond_loglikelihoods))
        for m in metrics
    }
