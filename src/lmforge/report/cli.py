"""``lmforge report RUN_DIR``: write report.md, report.html (+ figures) and the model card of a run folder."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lmforge report", description=__doc__)
    parser.add_argument("run_dir", help="a pipeline run folder (with pipeline_manifest.json)")
    parser.add_argument("--output", help="where to write the report (default: RUN_DIR/report)")
    parser.add_argument(
        "--no-model-card", action="store_true", help="do not (re)write the HF folder's README.md"
    )
    args = parser.parse_args(list(argv))
    if not os.path.isdir(args.run_dir):
        raise FileNotFoundError(f"{args.run_dir}: not a folder")
    from lmforge.report.build import write_report

    paths = write_report(args.run_dir, args.output, model_card=not args.no_model_card)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
