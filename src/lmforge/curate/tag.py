"""The tag step: run taggers over Dolma documents, write Dolma attribute files next to them.

Without an experiment name each tagger writes ``attributes/<tagger>/<rel>`` with keys
``<tagger>__<tagger>__<attribute>`` (what ``dolma tag`` does); with ``experiment=E`` all taggers write
``attributes/E/<rel>`` with keys ``E__<tagger>__<attribute>``. One shard = one document file.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
from typing import Any

from lmforge.config import ConfigError
from lmforge.curate.config import ExecutionConfig, TagConfig, TaggerSpec
from lmforge.curate.layout import attribute_dir, attribute_key, attribute_path, source_of
from lmforge.curate.shards import Execution, ShardTask, merged_stats, run_shards
from lmforge.curate.stats import StepStats
from lmforge.curate.taggers.registry import Tagger, make_tagger
from lmforge.documents import ReadStats, expand_document_paths, read_documents
from lmforge.io import atomic_write, join, write_json


def import_modules(modules: list[str]) -> None:
    """Import user modules so their ``@register_tagger`` decorators run (also inside workers)."""
    for module in modules:
        importlib.import_module(module)


@functools.lru_cache(maxsize=16)
def _taggers(spec_json: str) -> list[tuple[str, Tagger]]:
    specs = json.loads(spec_json)
    return [(s["name"], make_tagger(s["name"], **s["options"])) for s in specs]


def _groups(specs: list[TaggerSpec], experiment: str | None) -> dict[str, list[str]]:
    """Attribute folder name -> tagger names writing into it."""
    if experiment:
        return {experiment: [s.name for s in specs]}
    return {s.name: [s.name] for s in specs}


def _rounded(score: Any, precision: int) -> Any:
    # dolma rounds every score to 5 decimals when it writes attributes; do the same so files compare
    return round(float(score), precision) if isinstance(score, (int, float)) else score


def _tag_shard(task: ShardTask) -> dict[str, Any]:
    params = task.params
    import_modules(params["imports"])
    taggers = _taggers(params["specs"])
    experiment = params["experiment"]
    precision = params["score_precision"]
    (doc_path,) = task.inputs
    groups: dict[str, list[str]] = params["groups"]
    folder_of = {tagger: folder for folder, names in groups.items() for tagger in names}
    stats = StepStats()
    read = ReadStats()
    with contextlib.ExitStack() as stack:
        outs = {folder: stack.enter_context(atomic_write(path, "wt")) for folder, path in params["outputs"]}
        for _, doc in read_documents(doc_path, on_error=params["on_error"], stats=read):
            text = doc["text"]
            rows: dict[str, dict[str, Any]] = {folder: {} for folder in outs}
            for name, tagger in taggers:
                prefix = experiment or name
                attrs = rows[folder_of[name]]
                for attribute, spans in tagger.tag(doc).items():
                    if precision is not None:
                        spans = [[sp[0], sp[1], _rounded(sp[2], precision)] for sp in spans]
                    attrs[attribute_key(prefix, name, attribute)] = spans
            for folder, out in outs.items():
                out.write(json.dumps({"id": doc.get("id"), "attributes": rows[folder]}, ensure_ascii=False))
                out.write("\n")
            stats.keep(source_of(doc_path, doc), len(text.encode("utf-8", "surrogatepass")))
    stats.add_read_stats(source_of(doc_path), read)
    return {"stats": stats.to_json()}


def run_tag(config: TagConfig, execution: ExecutionConfig) -> dict[str, Any]:
    """Tag every document file; returns the step's stats (also written to each attribute folder)."""
    import_modules(execution.imports)
    specs = config.specs()
    for i, spec in enumerate(specs):  # fail fast, before any worker starts, on unknown names or bad options
        try:
            make_tagger(spec.name, **spec.options)
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"tag.taggers[{i}]", str(err).strip('"')) from None
    files = expand_document_paths(config.documents)
    groups = _groups(specs, config.experiment)
    spec_json = json.dumps([{"name": s.name, "options": s.options} for s in specs], sort_keys=True)
    tasks = []
    for path in files:
        outputs = [(folder, attribute_path(path, folder)) for folder in groups]
        params = {
            "specs": spec_json,
            "experiment": config.experiment,
            "groups": groups,
            "outputs": outputs,
            "on_error": execution.on_error,
            "score_precision": config.score_precision,
            "imports": execution.imports,
        }
        tasks.append(ShardTask(key=path, inputs=(path,), outputs=tuple(p for _, p in outputs), params=params))
    first_folder = next(iter(groups))
    state_dir = join(attribute_dir(files[0], first_folder), ".lmforge-state", "tag")
    settings = {
        "step": "tag",
        "specs": spec_json,
        "experiment": config.experiment,
        "on_error": execution.on_error,
        "score_precision": config.score_precision,
    }
    results, skipped = run_shards(
        _tag_shard,
        tasks,
        state_dir=state_dir,
        settings=settings,
        execution=Execution.from_config(execution),
        desc="tag",
    )
    stats = merged_stats(results)
    summary = stats.to_dict("tag", taggers=[s.name for s in specs], files=len(files))
    written = set()
    for path in files:
        for folder in groups:
            target = join(attribute_dir(path, folder), "stats.json")
            if target not in written:
                write_json(target, summary)
                written.add(target)
    return {**summary, "skipped_shards": skipped}
