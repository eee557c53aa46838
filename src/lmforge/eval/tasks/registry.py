"""Finding tasks by name: built-in YAML files, user YAML files, variants (``name:variant``), MMLU subjects."""

from __future__ import annotations

import glob
import os
from importlib import resources

from lmforge.config import ConfigError, load_yaml
from lmforge.eval.tasks.spec import TaskSpec, task_from_dict

MMLU_SUBJECTS = [
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
]


def _builtin_dir():
    return resources.files("lmforge.eval.tasks").joinpath("builtin")


def builtin_task_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _builtin_dir().iterdir() if p.name.endswith(".yaml"))


def _builtin_data(name: str) -> dict:
    path = _builtin_dir().joinpath(f"{name}.yaml")
    if not path.is_file():
        raise ConfigError(
            "tasks",
            f"unknown task {name!r}; built in: {builtin_task_names()} (or mmlu_<subject>, or a YAML file)",
        )
    return load_yaml(str(path))


def _beside_task_file(pattern: str | None, task_dir: str) -> str | None:
    """A relative ``files`` path of a task YAML file names data beside that file (a task folder travels with
    its data and runs from any directory); a path that matches nothing there keeps its old meaning, relative
    to the current directory."""
    if not pattern or os.path.isabs(pattern) or "://" in pattern:
        return pattern
    beside = os.path.join(task_dir, pattern)
    return beside if glob.glob(beside) else pattern


def get_task(name: str) -> TaskSpec:
    """``arc_easy``, ``arc_easy:mc``, ``mmlu_anatomy``, ``path/to/task.yaml`` or ``path/to/task.yaml:variant``."""
    base, _, variant = name.partition(":")
    if base.endswith((".yaml", ".yml")) or os.sep in base:
        if not os.path.isfile(base):
            raise ConfigError("tasks", f"task file {base!r} not found")
        spec = task_from_dict(load_yaml(base), variant or None, where=f"{base}: ")
        task_dir = os.path.dirname(os.path.abspath(base))
        spec.dataset.files = _beside_task_file(spec.dataset.files, task_dir)
        spec.dataset.fewshot_files = _beside_task_file(spec.dataset.fewshot_files, task_dir)
        return spec
    if base.startswith("mmlu_") and base[len("mmlu_") :] in MMLU_SUBJECTS:
        data = _builtin_data("mmlu")
        subject = base[len("mmlu_") :]
        data["name"] = base
        data["dataset"] = {**data["dataset"], "filter_field": "subject", "filter_value": subject}
        return task_from_dict(data, variant or None)
    return task_from_dict(_builtin_data(base), variant or None, where=f"{base}: ")
