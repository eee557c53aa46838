"""Python API: run a whole curation config, or one step.

    from lmforge.curate.pipeline import run_curation, load_curate_config
    summary = run_curation(load_curate_config("curate.yaml", ["--execution.processes=4"]))

Each step returns its stats summary (the dict written to ``stats.json``) plus ``skipped_shards``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmforge.config import build_config
from lmforge.curate.config import CurateConfig
from lmforge.curate.decontaminate import run_decontaminate
from lmforge.curate.dedup import run_dedup
from lmforge.curate.mix import run_mix
from lmforge.curate.tag import import_modules, run_tag

__all__ = ["load_curate_config", "run_curation", "run_decontaminate", "run_dedup", "run_mix", "run_tag"]


def load_curate_config(
    path: str | None = None, overrides: Sequence[str] | dict[str, Any] = ()
) -> CurateConfig:
    return build_config(CurateConfig, path, overrides)


def run_curation(config: CurateConfig) -> dict[str, Any]:
    """Run ``config.steps`` in order; returns ``{step: summary}``."""
    import_modules(config.execution.imports)
    results: dict[str, Any] = {}
    for step in config.steps:
        if step == "tag":
            assert config.tag is not None
            results[step] = run_tag(config.tag, config.execution)
        elif step == "dedup":
            assert config.dedup is not None
            results[step] = run_dedup(config.dedup, config.execution)
        elif step == "mix":
            assert config.mix is not None
            results[step] = run_mix(config.mix, config.execution)
        elif step == "decontaminate":
            assert config.decontaminate is not None
            results[step] = run_decontaminate(config.decontaminate, config.execution)
    return results
