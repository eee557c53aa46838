"""Task definitions as data: a YAML mapping -> :class:`TaskSpec` (validated, errors name the field).

A task says where its examples come from (:class:`DatasetSpec`), how one example becomes a context, answer
choices and a gold index (templates, see :mod:`lmforge.eval.tasks.template`), and which metrics to report.
``variants`` hold named overrides (``arc_easy:mc``, ``piqa:olmes``) applied on top of the base task.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lmforge.config import ConfigError, from_dict, merge, require, validate

KNOWN_METRICS = ("acc", "acc_norm", "acc_per_token", "acc_uncond")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclasses.dataclass
class DatasetSpec:
    """Where the examples live.

    ``path``/``name``: a Hugging Face hub dataset and config, loaded with ``datasets``. ``local_name``: the
    file stem in a ``--data-dir`` (``<local_name>.<split>.jsonl.gz``). ``files``: a local JSONL(.gz) file,
    folder or glob that overrides both (the eval split; ``fewshot_files`` for few-shot examples).
    """

    path: str | None = None
    name: str | None = None
    split: str = "validation"
    fewshot_split: str | None = None  # None: the eval split itself (the example is never its own shot)
    local_name: str | None = None
    files: str | None = None
    fewshot_files: str | None = None
    filter_field: str | None = None  # keep only examples whose field equals filter_value (MMLU subjects)
    filter_value: str | None = None

    def validate(self) -> None:
        require(
            bool(self.path or self.files or self.local_name),
            "path",
            "give a hub path, local files or local_name",
        )


@dataclasses.dataclass
class McSpec:
    """The lettered multiple-choice rendering (``format: mc``): question, then `` A. text`` lines, then the
    answer prompt; the continuations scored are the letters (``letter_prefix`` + letter)."""

    question: str = "Question: {question}"
    choice_line: str = " {letter}. {text}"
    answer_prompt: str = "Answer:"
    letter_prefix: str = ""


@dataclasses.dataclass
class TaskSpec:
    name: str
    dataset: DatasetSpec
    context: str  # template: the prompt (for partial scoring: the shared rest of the sentence)
    choices: str | list[str]  # template for a list, or a list of templates
    gold: int | str  # index, or template rendering to an index (or to a label, see gold_labels)
    gold_labels: str | None = None  # field path of the labels ``gold`` is looked up in (ARC's choices.label)
    gold_offset: int = 0  # added to the rendered gold (1-based labels: -1)
    partial: bool = False  # winogrande: the choices are contexts, ``context`` is the continuation scored
    preprocess: str | None = None  # a named function of lmforge.eval.tasks.preprocess applied to each example
    description: str | None = None  # template placed before the few-shot examples
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    num_fewshot: int = 0
    fewshot_sampler: str = "random"  # random (seeded) | first_n
    fewshot_seed: int = 1234
    # lm-eval's random sampler draws k + 1 examples and drops the evaluated one whenever the task has no
    # separate test split (it compares the few-shot split with the test split); otherwise it draws k.
    # Matching that keeps k-shot prompts identical; the example itself is never its own shot either way.
    fewshot_draw_extra: bool = True
    format: str = "rc"  # rc: score each answer text; mc: lettered choices in the prompt, score the letter
    mc: McSpec = dataclasses.field(default_factory=McSpec)
    metrics: list[str] = dataclasses.field(default_factory=lambda: ["acc", "acc_norm"])
    uncond_context: str = ""  # context of the unconditional probability used by acc_uncond
    group_by: str | None = None  # a field splitting the task into sub-tasks (MMLU's subject)
    limit_per_group: bool = False  # --limit applies to each group (as lm-eval does for MMLU's subtasks)
    id_field: str | None = None
    variants: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    variant: str | None = None

    def validate(self) -> None:
        for metric in self.metrics:
            require(
                metric in KNOWN_METRICS, "metrics", f"unknown metric {metric!r}; known: {list(KNOWN_METRICS)}"
            )
        if self.preprocess is not None:
            from lmforge.eval.tasks.preprocess import PREPROCESSORS

            require(
                self.preprocess in PREPROCESSORS,
                "preprocess",
                f"unknown preprocess {self.preprocess!r}; known: {sorted(PREPROCESSORS)}",
            )
        require(self.format in ("rc", "mc"), "format", f"must be rc or mc, got {self.format!r}")
        require(self.fewshot_sampler in ("random", "first_n"), "fewshot_sampler", "must be random or first_n")
        require(self.num_fewshot >= 0, "num_fewshot", "must be >= 0")
        require(not (self.partial and self.format == "mc"), "format", "partial scoring has no lettered form")


def task_from_dict(data: dict[str, Any], variant: str | None = None, where: str = "") -> TaskSpec:
    """Build and validate a task; ``variant`` applies ``variants[variant]`` over the base mapping."""
    data = dict(data)
    if variant:
        variants = data.get("variants") or {}
        if variant not in variants:
            raise ConfigError(
                f"{where}variants",
                f"task {data.get('name')!r} has no variant {variant!r}; known: {sorted(variants)}",
            )
        data = merge(data, variants[variant])
        data["variant"] = variant
        # results are keyed by name: "arc_easy:mc" must not overwrite "arc_easy"; files keep the base name
        data["dataset"] = {"local_name": data.get("name"), **(data.get("dataset") or {})}
        data["name"] = f"{data.get('name')}:{variant}"
    try:
        spec = from_dict(TaskSpec, data)
        validate(spec)
    except ConfigError as err:
        raise err.prefixed(where.rstrip(".")) if where else err from None
    return spec
