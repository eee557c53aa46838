"""``lmforge train CONFIG.yaml [--dotted.overrides]`` (alone or under ``torchrun ... -m lmforge train``)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from lmforge.config import build_config

USAGE = """usage: lmforge train CONFIG.yaml [--field.name=value ...]

Pretrain a model. Any config key can be overridden, e.g. --max_steps=100 --optimizer.lr=3e-4
--load_path=runs/old/step1000. Distributed: torchrun --nproc_per_node=N -m lmforge train CONFIG.yaml
(with strategy fsdp or ddp). A run resumes from the newest complete checkpoint in save_folder.
See docs/training.md for every key."""


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    from lmforge.data.loader import DatasetChangedError
    from lmforge.train.config import TrainConfig
    from lmforge.train.trainer import TrainingStopped, train

    config = build_config(TrainConfig, args[0], args[1:])
    try:
        result = train(config)
    except TrainingStopped as err:
        print(f"lmforge train: {err}", file=sys.stderr)
        return 1
    except DatasetChangedError as err:
        print(f"lmforge train: error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps({"step": result.step, "tokens_seen": result.tokens_seen, "loss": result.loss,
                          "checkpoint": result.checkpoint, "save_folder": result.save_folder}))  # fmt: skip
    return 0
