"""Named per-example preprocessing for tasks whose prompt is not a plain template.

Each function takes the raw example (the dataset's own fields) and returns it with extra fields the task's
templates use. The behaviour mirrors lm-eval 0.4.13's preprocessing for the same tasks, so prompts and
answer strings are character-identical (tests compare them with lm-eval's functions).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Example = dict[str, Any]


def _clean_hellaswag(text: str) -> str:
    # WikiHow-derived examples carry "[title]"-style markup: lm-eval turns " [title]" into a sentence break
    # and drops every other bracketed tag, then collapses the double spaces this leaves.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag(doc: Example) -> Example:
    context = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    return {
        **doc,
        "query": _clean_hellaswag(doc["activity_label"] + ": " + context),
        "clean_endings": [_clean_hellaswag(e) for e in doc["endings"]],
        "gold": int(doc["label"]),
    }


def winogrande(doc: Example) -> Example:
    """Partial scoring: each option fills the blank in its own context; the rest of the sentence is scored."""
    blank = doc["sentence"].index("_")
    return {
        **doc,
        "option_contexts": [doc["sentence"][:blank] + option for option in (doc["option1"], doc["option2"])],
        "continuation": doc["sentence"][blank + 1 :].strip(),
        "gold": {"1": 0, "2": 1}[str(doc["answer"])],
    }


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def copa(doc: Example) -> Example:
    """ "<premise without its final period> because|therefore" + " <choice, first letter lowered>"."""
    connector = {"cause": "because", "effect": "therefore"}[doc["question"]]
    return {
        **doc,
        "prompt": doc["premise"].strip()[:-1] + " " + connector,
        "connected_choices": [" " + _lower_first(doc["choice1"]), " " + _lower_first(doc["choice2"])],
    }


PREPROCESSORS: dict[str, Callable[[Example], Example]] = {
    "hellaswag": hellaswag,
    "winogrande": winogrande,
    "copa": copa,
}


def get_preprocessor(name: str) -> Callable[[Example], Example]:
    if name not in PREPROCESSORS:
        raise KeyError(f"unknown preprocess {name!r}; known: {sorted(PREPROCESSORS)}")
    return PREPROCESSORS[name]
