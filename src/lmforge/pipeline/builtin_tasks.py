"""Two small multiple-choice tasks made from the built-in corpus's *held-out* documents.

- ``stdlib_docstrings``: the first half of a docstring sentence; pick its real second half among four (the
  other three are second halves of other held-out sentences).
- ``stdlib_next_line``: a few lines of standard-library code; pick the line that really follows among four.

Examples come only from the eval split, so the model never trained on them. Each task is written as JSONL
(``context``, ``choices``, ``gold``) plus a task YAML in lmforge.eval's format (see docs/evaluation.md), which
``lmforge eval tasks --tasks path/to/task.yaml`` runs like any other task. Chance is 25 %.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from typing import Any

import yaml

from lmforge.documents import read_documents, write_documents
from lmforge.io import expand_paths, write_text

N_CHOICES = 4
MAX_ANSWER_CHARS = 100  # short answers keep every example within a small model's context
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _texts(paths: Sequence[str]) -> list[tuple[str, str]]:
    docs = []
    for path in expand_paths(list(paths)):
        for _, doc in read_documents(path):
            docs.append((str(doc.get("id", "")), doc["text"]))
    return sorted(docs)


def docstring_examples(paths: Sequence[str], max_examples: int, seed: int = 0) -> list[dict[str, Any]]:
    """Sentences of 8-40 words from prose documents, split in the middle at a word boundary."""
    halves: list[tuple[str, str]] = []
    for _, text in _texts(paths):
        for paragraph in text.split("\n\n"):
            flat = " ".join(paragraph.split())
            for sentence in _SENTENCE.split(flat):
                words = sentence.split(" ")
                fits = 8 <= len(words) <= 40 and len(sentence) <= 2 * MAX_ANSWER_CHARS
                if fits and sentence[:1].isupper() and sentence.endswith("."):
                    cut = len(words) // 2
                    halves.append((" ".join(words[:cut]), " ".join(words[cut:])))
    return _multiple_choice(halves, max_examples, seed)


def next_line_examples(
    paths: Sequence[str], max_examples: int, seed: int = 0, context_lines: int = 4
) -> list[dict[str, Any]]:
    """Windows of code lines; the choice is the (stripped) next line, distractors come from elsewhere."""
    pairs: list[tuple[str, str]] = []
    for _, text in _texts(paths):
        lines = [line for line in text.split("\n") if line.strip()]
        for i in range(context_lines, len(lines), 7):  # every 7th line: many files, not one file's lines
            target = lines[i].strip()
            if 12 <= len(target) <= MAX_ANSWER_CHARS and not target.startswith("#"):
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                context = "\n".join(lines[i - context_lines : i]) + "\n" + indent
                pairs.append((context, target))
    return _multiple_choice(pairs, max_examples, seed)


def _multiple_choice(pairs: list[tuple[str, str]], max_examples: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pairs = list(dict.fromkeys(pairs))  # exact repeats would make two "right" answers
    rng.shuffle(pairs)
    answers = [a for _, a in pairs]
    if len(set(answers)) < N_CHOICES:
        # too few distinct answers for three distractors each (a tiny held-out split): no task, rather than
        # drawing distractors forever
        return []
    examples = []
    for index, (context, answer) in enumerate(pairs[:max_examples]):
        distractors: list[str] = []
        while len(distractors) < N_CHOICES - 1:
            other = answers[rng.randrange(len(answers))]
            if other != answer and other not in distractors:
                distractors.append(other)
        gold = rng.randrange(N_CHOICES)
        choices = [*distractors[:gold], answer, *distractors[gold:]]
        examples.append({"id": index, "context": context, "choices": choices, "gold": gold})
    return examples


def task_yaml(name: str, data_file: str, target_delimiter: str) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"files": data_file, "split": "test"},
        "context": "{context}",
        "choices": "{choices}",
        "gold": "{gold}",
        "target_delimiter": target_delimiter,
        "metrics": ["acc", "acc_norm"],
    }


def write_builtin_tasks(
    docs_paths: Sequence[str],
    code_paths: Sequence[str],
    output_dir: str,
    max_examples: int = 200,
    seed: int = 0,
) -> list[str]:
    """Write both tasks (JSONL + YAML) under ``output_dir``; returns the YAML paths of tasks with examples."""
    written = []
    for name, examples, delimiter in (
        ("stdlib_docstrings", docstring_examples(docs_paths, max_examples, seed) if docs_paths else [], " "),
        ("stdlib_next_line", next_line_examples(code_paths, max_examples, seed) if code_paths else [], ""),
    ):
        if len(examples) < 2:
            continue
        data_file = os.path.abspath(os.path.join(output_dir, f"{name}.jsonl"))
        write_documents(data_file, examples)
        yaml_path = os.path.join(output_dir, f"{name}.yaml")
        write_text(yaml_path, yaml.safe_dump(task_yaml(name, data_file, delimiter), sort_keys=False))
        written.append(yaml_path)
    return written
