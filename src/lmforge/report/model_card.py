"""The model card (README.md of the exported Hugging Face folder), in the spirit of OLMo's open release.

It answers four questions with the run's own records: which data, which code, which settings, which results;
and says how to load the model and how to reproduce it.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from lmforge.io import write_text
from lmforge.render import Code, Heading, Paragraph, Table, fmt, to_markdown
from lmforge.report.build import data_blocks, eval_blocks, headline


def code_version() -> dict[str, str]:
    """lmforge's version and, when run from a git checkout, the commit (marked dirty if it has edits)."""
    from lmforge import __version__

    info = {"lmforge": __version__}
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0:
            info["commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--", "."],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=10,
            )
            if dirty.stdout.strip():
                info["commit"] += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _hf_config(hf_dir: str) -> dict[str, Any]:
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def model_card_markdown(data: dict[str, Any], hf_dir: str) -> str:
    hf = _hf_config(hf_dir)
    name = data["name"]
    sources = sorted((data.get("corpus") or {}).get("documents", {}))
    front = ["---", "license: apache-2.0", "library_name: transformers", "pipeline_tag: text-generation",
             "tags:", "  - olmo", "  - lmforge", "  - fully-open"]  # fmt: skip
    # no `datasets:` key: it names Hugging Face hub datasets, and these sources are described below instead
    front.append("---")
    blocks = [
        Heading(f"{name}", 1),
        Paragraph(
            "A fully open language model trained with lmforge: the data, the code, the settings and the "
            "results below are all it took to make it, and the run folder holds every intermediate file."
        ),
    ]
    if headline(data):
        blocks.append(Paragraph(headline(data)))
    arch = [
        ["architecture", ", ".join(hf.get("architectures", [])) or hf.get("model_type")],
        ["layers", hf.get("num_hidden_layers")],
        ["hidden size", hf.get("hidden_size")],
        ["attention heads", hf.get("num_attention_heads")],
        ["MLP hidden size", hf.get("intermediate_size")],
        ["vocabulary", hf.get("vocab_size")],
        ["context length", hf.get("max_position_embeddings")],
        ["parameters", ((data.get("stages") or {}).get("train") or {}).get("summary", {}).get("parameters")],
    ]
    blocks += [Heading("Model details"), Table(["", ""], [r for r in arch if r[1] is not None])]
    blocks += data_blocks(data) or [
        Heading("Data provenance"),
        Paragraph("No data records were found in the run."),
    ]
    code = code_version()
    blocks += [
        Heading("Code"),
        Paragraph(
            f"lmforge {code['lmforge']}"
            + (f", commit `{code['commit']}`" if "commit" in code else "")
            + ". The complete pipeline config is below; `lmforge pipeline pipeline_config.yaml` reruns it."
        ),
    ]
    compute = data.get("compute") or {}
    settings = [
        ["optimizer steps", compute.get("steps")],
        ["tokens", compute.get("tokens")],
        ["wall time (s)", compute.get("wall_seconds")],
        ["tokens / s", compute.get("tokens_per_second")],
        ["MFU", compute.get("mfu")],
    ]
    blocks += [Heading("Training settings"), Table(["", ""], [r for r in settings if r[1] is not None])]
    if data.get("config_text"):
        blocks.append(Code(data["config_text"], "yaml"))
    blocks += eval_blocks(data, {}) or [
        Heading("Evaluation"),
        Paragraph("No evaluation results were recorded."),
    ]
    blocks += [
        Heading("How to use"),
        Code(
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")\n'
            'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")\n'
            'inputs = tokenizer("def fibonacci(n):", return_tensors="pt")\n'
            "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=40)[0]))",
            "python",
        ),
        Heading("Limitations"),
        Paragraph(
            "A small model trained briefly on a narrow corpus: it imitates the style of its training text and "
            f"knows little else. Do not rely on its output. Results above are from held-out data of the same "
            f"sources ({fmt(len(sources))} sources), not from broad benchmarks."
        ),
    ]
    return "\n".join(front) + "\n\n" + to_markdown(blocks)


def write_model_card(data: dict[str, Any], hf_dir: str) -> str:
    path = os.path.join(hf_dir, "README.md")
    write_text(path, model_card_markdown(data, hf_dir))
    return path
