"""The ``lmforge`` command: one entry point, a sub-command per stage.

The table below maps each sub-command to ``module:function``; the module is imported only when its command
runs (so ``lmforge tokenize`` never pays for importing Ray, and a broken optional extra cannot break the
other commands). Each function takes the remaining arguments and returns an exit code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:function", one-line help)
    "model": ("lmforge.models.cli:main", "inspect presets (info) and write initialised checkpoints (init)"),
    "export": ("lmforge.hf.cli:export_main", "write a Hugging Face folder from an lmforge checkpoint"),
    "import": ("lmforge.hf.cli:import_main", "convert a Hugging Face or native OLMo checkpoint to lmforge"),
    "generate": ("lmforge.generate.cli:main", "continue a prompt with a model"),
    "tokenizer": ("lmforge.tokenize.cli:tokenizer_main", "train a byte-level BPE tokenizer"),
    "tokenize": ("lmforge.tokenize.cli:tokenize_main", "turn Dolma documents into OLMo token files"),
    "data": ("lmforge.data.cli:main", "inspect training data (trace a global batch to its documents)"),
    "train": ("lmforge.train.cli:main", "pretrain a model from a YAML config (single process or torchrun)"),
    "checkpoint": ("lmforge.distributed.cli:main", "work with training checkpoints (unshard)"),
    "plot": ("lmforge.train.plot:main", "draw loss, learning-rate and throughput curves of a run"),
    "eval": ("lmforge.eval.cli:main", "perplexity (ppl) and downstream tasks (tasks)"),
    "curate": ("lmforge.curate.cli:main", "tag, dedup, mix and decontaminate Dolma documents"),
    "analyze": ("lmforge.analyze.cli:main", "corpus statistics, n-grams, duplicates, contamination, search"),
    "pipeline": (
        "lmforge.pipeline.cli:main",
        "run curate -> tokenize -> train -> eval -> export from one config",
    ),
    "quickstart": (
        "lmforge.pipeline.quickstart:main",
        "build a small corpus and train a tiny model end to end",
    ),
    "report": ("lmforge.report.cli:main", "write the run report and model card of a run folder"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: lmforge COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `lmforge COMMAND --help` for the arguments of one command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("--version", "version"):
        from lmforge import __version__

        print(__version__)
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"lmforge: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[name]
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("lmforge"):
            print(f"lmforge {name}: not available in this build ({err})", file=sys.stderr)
            return 2
        print(f"lmforge {name}: missing dependency {err.name!r}; install the matching extra", file=sys.stderr)
        return 2
    from lmforge.config import ConfigError
    from lmforge.io import InputError

    try:
        code = getattr(module, func_name)(rest)
    except (ConfigError, InputError, OSError) as err:
        # OSError: a missing input, an output path that is a directory, no permission: the user's to fix
        print(f"lmforge {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lmforge {name}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
