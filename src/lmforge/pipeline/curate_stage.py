"""The curate stage: lmforge.curate's tag -> dedup -> mix on the run's own copy of the input documents.

Dolma writes attributes beside the documents (``<root>/attributes/<tagger>/...`` next to
``<root>/documents/...``). To keep the user's input folders (and the corpus stage's outputs) untouched, local
inputs are hard-linked (or copied, across file systems) into ``run_dir/curated/documents/<relative path>``
first; remote inputs are curated where they are.

The recipe is lmforge.curate's config as documented in docs/curation.md, minus the paths the pipeline owns:
``tag.documents``, ``dedup.documents``, every ``mix.streams[].documents`` and ``output.path`` (unless given)
are filled in. The mixed documents under ``run_dir/curated/mixed/`` are what the tokenizer and trainer see.
"""

from __future__ import annotations

import copy
import os
import shutil
from typing import Any

from lmforge.config import dump_yaml
from lmforge.io import expand_paths, is_remote, write_text
from lmforge.pipeline.config import PipelineConfig
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.runner import Stage


def curated_documents(layout: RunLayout) -> str:
    return os.path.join(layout.curated, "mixed")


def _relative_name(path: str) -> str:
    """``.../documents/<rel>`` -> ``<rel>``; anything else -> ``<parent folder>/<file name>``."""
    parts = path.replace(os.sep, "/").split("/")
    if "documents" in parts[:-1]:
        i = len(parts) - 1 - parts[:-1][::-1].index("documents") - 1
        return "/".join(parts[i + 1 :])
    return "/".join(parts[-2:])


def link_inputs(inputs: list[str], target_root: str) -> list[str]:
    """Hard-link (or copy) every local input file under ``target_root/documents/``; returns the new paths."""
    linked = []
    for path in expand_paths(inputs):
        if is_remote(path):
            linked.append(path)
            continue
        target = os.path.join(target_root, "documents", _relative_name(path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            tmp = f"{target}.tmp-link"
            if os.path.exists(tmp):
                os.remove(tmp)
            try:
                os.link(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        linked.append(target)
    return linked


def wired_recipe(recipe: dict[str, Any], documents: list[str], layout: RunLayout) -> dict[str, Any]:
    """The curation config with the pipeline's paths filled in (explicit values in the recipe win)."""
    out = copy.deepcopy(recipe)
    out.setdefault("steps", [s for s in ("tag", "dedup", "mix") if s in out] or ["mix"])
    if "tag" in out:
        out["tag"].setdefault("documents", documents)
    if "dedup" in out:
        out["dedup"].setdefault("documents", documents)
    mix = out.setdefault("mix", {})
    streams = mix.setdefault("streams", [{"name": "all"}])
    for stream in streams:
        stream.setdefault("documents", documents)
        output = stream.setdefault("output", {})
        output.setdefault("path", os.path.join(curated_documents(layout), str(stream.get("name", "all"))))
    return out


def curate_stage(cfg: PipelineConfig, layout: RunLayout, inputs: list[str]) -> Stage:
    def run() -> dict[str, Any]:
        from lmforge.config import build_config
        from lmforge.curate.config import CurateConfig
        from lmforge.curate.run import run_curate

        documents = link_inputs(inputs, layout.curated)
        recipe = wired_recipe(cfg.curate.recipe, documents, layout)
        config = build_config(CurateConfig, base=recipe)
        write_text(os.path.join(layout.curated, "curate_config.yaml"), dump_yaml(config))
        results = run_curate(config)
        return curate_summary(results)

    return Stage(
        "curate", cfg.curate.recipe, inputs, [layout.curated], run, "tag, dedup and mix the documents"
    )


def curate_summary(results: Any) -> dict[str, Any]:
    """Per step: documents in / kept / filtered, from each step's stats."""
    summary: dict[str, Any] = {}
    items = results.items() if isinstance(results, dict) else []
    for step, stats in items:
        total = (stats or {}).get("total") if isinstance(stats, dict) else None
        if total:
            summary[f"{step}_in"] = total.get("documents_in")
            summary[f"{step}_kept"] = total.get("kept")
    return summary
