"""The curate stage: lmforge.curate's steps (``run_curation``: tag, dedup, decontaminate, mix in the recipe's
order) on the run's own copy of the input documents.

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


def mixed_root(layout: RunLayout) -> str:
    return os.path.join(layout.curated, "mixed")


def curated_documents(layout: RunLayout) -> str:
    """The mixer's output shards (its stats-<stream>.json files sit beside them and are not documents)."""
    return os.path.join(mixed_root(layout), "*", "*.jsonl*")


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


def _in_run(paths: list[str] | str, layout: RunLayout) -> list[str]:
    """Relative document paths in a recipe are relative to the run's copy: ``stdlib-code/*`` ->
    ``run_dir/curated/documents/stdlib-code/*`` (so a stream can select sources)."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    root = os.path.join(layout.curated, "documents")
    return [p if os.path.isabs(p) or "://" in p else os.path.join(root, p) for p in paths]


def wired_recipe(recipe: dict[str, Any], documents: list[str], layout: RunLayout) -> dict[str, Any]:
    """The curation config with the pipeline's paths filled in (explicit values in the recipe win).

    ``documents`` (the run's copies, from :func:`link_inputs`) are used as they are: they are relative to the
    working directory when ``run_dir`` is, so only paths written in the recipe are placed under the copy."""
    out = copy.deepcopy(recipe)
    out.setdefault("steps", [s for s in ("tag", "dedup", "mix") if s in out] or ["mix"])
    for step in ("tag", "dedup", "decontaminate"):
        if isinstance(out.get(step), dict):
            given = out[step].get("documents")
            out[step]["documents"] = _in_run(given, layout) if given else list(documents)
    mix = out.setdefault("mix", {})
    streams = mix.setdefault("streams", [{"name": "all"}])
    for stream in streams:
        given = stream.get("documents")
        stream["documents"] = _in_run(given, layout) if given else list(documents)
        output = stream.setdefault("output", {})
        output.setdefault("path", os.path.join(mixed_root(layout), str(stream.get("name", "all"))))
    return out


def curate_stage(cfg: PipelineConfig, layout: RunLayout, inputs: list[str]) -> Stage:
    def run() -> dict[str, Any]:
        from lmforge.config import build_config
        from lmforge.curate.config import CurateConfig
        from lmforge.curate.pipeline import run_curation

        documents = link_inputs(inputs, layout.curated)
        recipe = wired_recipe(cfg.curate.recipe, documents, layout)
        config = build_config(CurateConfig, base=recipe)
        write_text(os.path.join(layout.curated, "curate_config.yaml"), dump_yaml(config))
        return curate_summary(run_curation(config))

    return Stage(
        "curate", cfg.curate.recipe, inputs, [layout.curated], run, "tag, dedup and mix the documents"
    )


def curate_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Documents in and out of the mix (summed over streams), and what dedup marked."""
    summary: dict[str, Any] = {}
    mix = results.get("mix") or {}
    if mix:
        for key in ("documents_in", "kept", "filtered", "rejected"):
            summary[key] = sum(s["total"][key] for s in mix.values())
        # differs from kept when a stream samples (sampling_rate < 1 drops, > 1 repeats documents)
        summary["documents_out"] = sum(s.get("documents_out", 0) for s in mix.values())
    dedup = results.get("dedup") or {}
    for reason, count in ((dedup.get("total") or {}).get("modified") or {}).items():
        summary[f"dedup_{reason}"] = count
    return summary
