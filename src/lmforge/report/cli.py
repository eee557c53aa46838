"""``lmforge report RUN_DIR [--eval RESULTS...] [--hf DIR] [--analysis DIR]``: write report.md, report.html
(+ figures) and the model card of a run folder."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lmforge report", description=__doc__)
    parser.add_argument(
        "run_dir", help="a pipeline run folder (with pipeline_manifest.json) or a trainer's save folder"
    )
    parser.add_argument("--output", help="where to write the report (default: RUN_DIR/report)")
    parser.add_argument(
        "--no-model-card", action="store_true", help="do not (re)write the HF folder's README.md"
    )
    parser.add_argument(
        "--eval", nargs="+", default=[], metavar="RESULTS",
        help="results.json files of `lmforge eval ppl` / `lmforge eval tasks` (--output) to report",
    )  # fmt: skip
    parser.add_argument("--hf", help="the `lmforge export --output` folder (its model card is written)")
    parser.add_argument("--analysis", help="the `lmforge analyze --output` folder of the training documents")
    args = parser.parse_args(list(argv))
    if not os.path.isdir(args.run_dir):
        raise FileNotFoundError(f"{args.run_dir}: not a folder")
    from lmforge.report.build import write_report
    from lmforge.report.collect import is_reportable

    if not is_reportable(args.run_dir):  # an empty report would look like a run that recorded nothing
        raise FileNotFoundError(
            f"{args.run_dir}: neither a pipeline run folder (pipeline_manifest.json) nor a training folder "
            "(metrics.jsonl)"
        )

    paths = write_report(
        args.run_dir, args.output, model_card=not args.no_model_card, eval_files=args.eval, hf_dir=args.hf,
        analysis_dir=args.analysis,
    )  # fmt: skip
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
