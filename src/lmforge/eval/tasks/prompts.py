"""Turning examples into scoring requests, with lm-eval 0.4.13's prompt assembly.

A k-shot context is ``description + sum(shot_question + target_delimiter + shot_answer + fewshot_delimiter)
+ question``; every answer choice is scored as the continuation ``target_delimiter + choice``. For partial
scoring (WinoGrande) the choices are the contexts and the shared continuation is scored after each.
Few-shot examples: ``first_n`` takes the first k of the pool; ``random`` draws them with one
``random.Random(fewshot_seed)`` consumed example after example in order (lm-eval's sampler), never using the
example itself.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from lmforge.config import ConfigError
from lmforge.eval.tasks.data import location_of
from lmforge.eval.tasks.preprocess import get_preprocessor
from lmforge.eval.tasks.spec import LETTERS, TaskSpec
from lmforge.eval.tasks.template import TemplateError, render


@dataclasses.dataclass
class RenderedExample:
    task: str
    index: int
    id: Any
    group: str | None
    contexts: list[str]  # one per choice (identical strings unless partial scoring)
    continuations: list[str]  # one per choice, target delimiter included
    choice_texts: list[str]  # the choices as the task defines them (their length normalises acc_norm)
    gold: int
    uncond: list[tuple[str, str]] | None = None  # (context, continuation) per choice, for acc_uncond


def _question_and_choices(spec: TaskSpec, doc: dict[str, Any]) -> tuple[Any, list[str]]:
    choices = render(spec.choices, doc)
    if not isinstance(choices, list) or not choices:
        raise TemplateError(f"choices of task {spec.name} must render to a non-empty list, got {choices!r}")
    choices = [str(c) for c in choices]
    if spec.format == "mc":
        lines = [
            render(spec.mc.choice_line, {"letter": LETTERS[i], "text": c}) for i, c in enumerate(choices)
        ]
        question = "\n".join([render(spec.mc.question, doc), *lines, spec.mc.answer_prompt])
        return question, [spec.mc.letter_prefix + LETTERS[i] for i in range(len(choices))]
    return render(spec.context, doc), choices


def gold_index(spec: TaskSpec, doc: dict[str, Any]) -> int:
    value = render(spec.gold, doc)
    if spec.gold_labels is not None:
        labels = [str(label) for label in render("{" + spec.gold_labels + "}", doc)]
        if str(value) not in labels:
            raise TemplateError(f"gold {value!r} is not among the labels {labels}")
        return labels.index(str(value)) + spec.gold_offset
    return int(value) + spec.gold_offset


def _shot_text(spec: TaskSpec, doc: dict[str, Any]) -> str:
    """One solved example: question + delimiter + its gold answer + few-shot delimiter."""
    question, choices = _question_and_choices(spec, doc)
    gold = gold_index(spec, doc)
    if spec.partial:  # the gold option's context, then the shared rest of the sentence
        return choices[gold] + spec.target_delimiter + question + spec.fewshot_delimiter
    return question + spec.target_delimiter + choices[gold] + spec.fewshot_delimiter


class FewshotSampler:
    def __init__(self, spec: TaskSpec, pool: list[dict[str, Any]], pool_is_eval_split: bool) -> None:
        self.spec = spec
        self.pool = pool
        self.pool_is_eval_split = pool_is_eval_split
        self.rng = random.Random(spec.fewshot_seed)

    def sample(self, k: int, doc: dict[str, Any]) -> list[dict[str, Any]]:
        if k == 0:
            return []
        pool = self.pool
        if self.spec.group_by is not None:
            pool = [d for d in pool if d.get(self.spec.group_by) == doc.get(self.spec.group_by)]
        if self.spec.fewshot_sampler == "first_n":
            candidates = [d for d in pool if d != doc] if self.pool_is_eval_split else pool
            if len(candidates) < k:
                raise ConfigError(
                    "num_fewshot",
                    f"{self.spec.name}: {k} few-shot examples requested, {len(candidates)} available",
                )
            return candidates[:k]
        if self.pool_is_eval_split or self.spec.fewshot_draw_extra:
            drawn = [d for d in self.rng.sample(pool, min(len(pool), k + 1)) if d != doc][:k]
        else:
            drawn = self.rng.sample(pool, k)
        if len(drawn) < k:
            raise ConfigError(
                "num_fewshot", f"{self.spec.name}: {k} few-shot examples requested, {len(drawn)} available"
            )
        return drawn


def _reason(err: Exception) -> str:
    return f"missing field {err}" if isinstance(err, KeyError) else str(err)


def _checked(spec: TaskSpec, what: str, index: int, prep: Any, row: dict[str, Any]) -> dict[str, Any]:
    """``prep(row)``; a row without the fields the task reads is a located error, not a KeyError."""
    if prep is None:
        return row
    try:
        return prep(row)
    except (KeyError, TypeError, IndexError, ValueError) as err:
        raise TemplateError(f"{spec.name} {what} {index}: {_reason(err)}", location_of(row)) from None


def render_examples(
    spec: TaskSpec,
    rows: list[dict[str, Any]],
    num_fewshot: int = 0,
    fewshot_pool: list[dict[str, Any]] | None = None,
    pool_is_eval_split: bool = True,
) -> list[RenderedExample]:
    """Render every row (already limited) of one task into requests."""
    prep = get_preprocessor(spec.preprocess) if spec.preprocess else None
    docs = [_checked(spec, "example", i, prep, r) for i, r in enumerate(rows)]
    pool = (
        docs
        if fewshot_pool is None
        else [_checked(spec, "few-shot example", i, prep, r) for i, r in enumerate(fewshot_pool)]
    )
    sampler = FewshotSampler(spec, pool, pool_is_eval_split or fewshot_pool is None)
    # where each (preprocessed) example came from, so that a bad row is reported by its file and line
    where = {id(d): location_of(r) for d, r in zip(docs, rows)}
    if fewshot_pool is not None:
        where.update({id(d): location_of(r) for d, r in zip(pool, fewshot_pool)})
    out = []
    for index, doc in enumerate(docs):
        shot_texts = []
        for shot in sampler.sample(num_fewshot, doc):
            try:
                shot_texts.append(_shot_text(spec, shot))
            except (TemplateError, KeyError, TypeError, IndexError) as err:
                what = f"{spec.name} few-shot example (for example {index})"
                raise TemplateError(f"{what}: {_reason(err)}", where.get(id(shot))) from None
        try:
            prefix = render(spec.description, doc) if spec.description else ""
            prefix += "".join(shot_texts)
            question, choices = _question_and_choices(spec, doc)
            gold = gold_index(spec, doc)
            if not 0 <= gold < len(choices):
                raise TemplateError(f"gold index {gold} outside {len(choices)} choices")
        except (TemplateError, KeyError, TypeError, IndexError) as err:
            raise TemplateError(f"{spec.name} example {index}: {_reason(err)}", where.get(id(doc))) from None
        if spec.partial:
            contexts = [prefix + c for c in choices]
            continuations = [spec.target_delimiter + question] * len(choices)
        else:
            contexts = [prefix + question] * len(choices)
            continuations = [spec.target_delimiter + c for c in choices]
        uncond = None
        if "acc_uncond" in spec.metrics:
            uncond = [(spec.uncond_context, cont) for cont in continuations]
        out.append(
            RenderedExample(
                task=spec.name,
                index=index,
                id=doc.get(spec.id_field) if spec.id_field else index,
                group=str(doc.get(spec.group_by)) if spec.group_by else None,
                contexts=contexts,
                continuations=continuations,
                choice_texts=choices,
                gold=gold,
                uncond=uncond,
            )
        )
    return out
