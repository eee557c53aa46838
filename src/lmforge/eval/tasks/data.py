"""Loading a task's examples: a local file/folder, a ``--data-dir`` of ``<name>.<split>.jsonl.gz`` files, or
the Hugging Face hub (``datasets.load_dataset``; needs the ``hf`` extra and network)."""

from __future__ import annotations

import logging
import os
from typing import Any

from lmforge.eval.tasks.spec import DatasetSpec
from lmforge.io import expand_paths, iter_lines, parse_json_line

log = logging.getLogger(__name__)


class Row(dict):
    """An example as read from a file, remembering where (``path:line``), so that an example the task cannot
    render is reported by its file and line. Equality is the plain dict's: a row equals the same example
    read from elsewhere, as lm-eval's few-shot sampler compares them."""

    location: str | None = None


def location_of(row: Any) -> str | None:
    return getattr(row, "location", None)


def read_jsonl(pattern: str) -> list[dict[str, Any]]:
    """Every JSON object of every file matching ``pattern`` (file, folder or glob); errors name file:line."""
    rows = []
    for path in expand_paths(pattern):
        if not path.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz")):
            continue
        for line_no, raw in iter_lines(path):
            if raw.strip():
                row = Row(parse_json_line(path, line_no, raw))
                row.location = f"{path}:{line_no}"
                rows.append(row)
    return rows


def _data_dir_file(data_dir: str, stem: str, split: str) -> str | None:
    for suffix in (".jsonl.gz", ".jsonl", ".jsonl.zst"):
        path = os.path.join(data_dir, f"{stem}.{split}{suffix}")
        if os.path.isfile(path):
            return path
    return None


def _from_hub(spec: DatasetSpec, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError("loading tasks from the hub needs `datasets` (pip install 'lmforge[hf]')") from err
    try:
        rows = datasets.load_dataset(spec.path, spec.name, split=split)
    except ConnectionError as err:  # offline, or the hub is down: the local alternative is --data-dir
        stem = spec.local_name or spec.path.rsplit("/", 1)[-1]
        raise ConnectionError(
            f"{err}; without the hub, pass --data-dir DIR holding {stem}.{split}.jsonl.gz "
            "(the datasets' rows as JSON lines)"
        ) from None
    return [dict(row) for row in rows]


def _filter(spec: DatasetSpec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if spec.filter_field is None:
        return rows
    return [r for r in rows if str(r.get(spec.filter_field)) == str(spec.filter_value)]


def load_examples(spec: DatasetSpec, task_name: str, data_dir: str | None = None) -> list[dict[str, Any]]:
    """The evaluation split."""
    if spec.files:
        return _filter(spec, read_jsonl(spec.files))
    if data_dir:
        stem = spec.local_name or task_name
        path = _data_dir_file(data_dir, stem, spec.split)
        if path is None:
            raise FileNotFoundError(f"{task_name}: no {stem}.{spec.split}.jsonl[.gz] in {data_dir}")
        return _filter(spec, read_jsonl(path))
    return _filter(spec, _from_hub(spec, spec.split))


def load_fewshot_pool(
    spec: DatasetSpec, task_name: str, data_dir: str | None, eval_rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], bool]:
    """(few-shot pool, whether it is the evaluation split itself). Falls back to the eval split, with a
    warning, when the few-shot split is not available locally."""
    if spec.fewshot_files:
        return _filter(spec, read_jsonl(spec.fewshot_files)), False
    split = spec.fewshot_split
    if split is None or split == spec.split:
        return eval_rows, True
    if spec.files:
        log.warning("%s: no fewshot_files; few-shot examples come from the evaluation split", task_name)
        return eval_rows, True
    if data_dir:
        path = _data_dir_file(data_dir, spec.local_name or task_name, split)
        if path is None:
            log.warning(
                "%s: no %s split in %s; few-shot examples come from the eval split",
                task_name,
                split,
                data_dir,
            )
            return eval_rows, True
        return _filter(spec, read_jsonl(path)), False
    return _filter(spec, _from_hub(spec, split)), False
