"""lmforge models inside lm-evaluation-harness: ``--model lmforge --model_args path=DIR``.

Importing this module registers the model class under the name ``lmforge``. lm-eval has no plugin
discovery, so run its CLI through this module (it registers, then hands the arguments to lm-eval):

    python -m lmforge.eval.lm_eval_adapter --model lmforge --model_args path=DIR --batch_size 16 --tasks arc_easy

or, from Python, ``import lmforge.eval.lm_eval_adapter`` before ``lm_eval.simple_evaluate(model="lmforge")``.
Model args: ``path`` (required), ``tokenizer``, ``dtype``, ``max_length``, ``prefix_token_id``; the batch
size and device come from lm-eval's own ``--batch_size`` / ``--device`` (giving them twice is an error). Requests are scored by lmforge's own :class:`~lmforge.eval.scoring.Scorer` (same numbers
as lm-eval's ``hf`` backend, faster layout); generation uses :func:`lmforge.generate.generate` (greedy unless
the task asks for sampling).
"""

from __future__ import annotations

import sys
from typing import Any

import lm_eval.models  # noqa: F401  - fill lm-eval's registry first: it skips its own models if not empty
import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm.auto import tqdm

from lmforge.eval.downstream import PairEncoder, model_max_length
from lmforge.eval.scoring import Scorer
from lmforge.eval.tokenizer import load_eval_tokenizer
from lmforge.eval.windows import rolling_windows


def _as_int(value: Any, default: int) -> int:
    if value in (None, "", "auto"):
        return default
    return int(str(value).split(":")[0])


class LmforgeLM(LM):
    def __init__(
        self,
        path: str,
        tokenizer: str | None = None,
        device: str | None = None,
        dtype: str | None = "auto",
        batch_size: int | str | None = 16,
        max_length: int | None = None,
        prefix_token_id: int | None = None,
        max_batch_size: int | None = None,
        **_: Any,
    ) -> None:
        super().__init__()
        import lmforge
        from lmforge.eval.cli import _dtype

        if not device or (str(device).startswith("cuda") and not torch.cuda.is_available()):
            device = "cuda" if torch.cuda.is_available() else "cpu"  # lm-eval's CLI defaults to cuda
        self.model = lmforge.load_model(path, device=device, dtype=_dtype(dtype)).eval()
        self.tok = load_eval_tokenizer(
            path, tokenizer, None if prefix_token_id is None else int(prefix_token_id)
        )
        self.encoder = PairEncoder(self.tok)
        self.max_length = int(max_length) if max_length else model_max_length(self.model)
        self.batch_size = _as_int(batch_size, 16)
        self.path = path

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> LmforgeLM:
        from lm_eval import utils

        return cls.create_from_arg_obj(utils.simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None) -> LmforgeLM:
        """lm-eval passes ``--batch_size`` / ``--device`` beside ``--model_args``; the same key in both used to
        end in a TypeError traceback ("got multiple values for keyword argument")."""
        from lmforge.config import ConfigError

        given = {k: v for k, v in (additional_config or {}).items() if v is not None}
        for key in sorted(set(arg_dict) & set(given)):
            raise ConfigError(
                f"model_args.{key}",
                f"lm-eval sets it from --{key} ({given[key]!r}); drop it from --model_args",
            )
        return cls(**arg_dict, **given)

    @property
    def tokenizer_name(self) -> str:
        return self.tok.name.replace("/", "__")

    def _scorer(self) -> Scorer:
        return Scorer(self.model, self.max_length, batch_size=self.batch_size)

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        pairs = self.encoder.encode_pairs([req.args for req in requests])
        scores = self._scorer().score(pairs, desc="loglikelihood")
        return [(s.logprob, s.is_greedy) for s in scores]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        texts = [req.args[0] for req in requests]
        windows, owner = [], []
        for i, tokens in enumerate(self.tok.encode_batch(texts)):
            doc_windows = rolling_windows(tokens, self.tok.prefix_id, self.max_length)
            windows += doc_windows
            owner += [i] * len(doc_windows)
        scorer = Scorer(
            self.model, self.max_length, batch_size=self.batch_size, share_context=False, need_greedy=False
        )
        totals = [0.0] * len(texts)
        for i, score in zip(owner, scorer.score(windows, desc="loglikelihood_rolling")):
            totals[i] += score.logprob
        return totals

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        from lmforge.generate import generate

        outputs = []
        for req in tqdm(requests, desc="generate_until", disable=disable_tqdm):
            context, gen_kwargs = req.args
            kwargs = dict(gen_kwargs or {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.get("max_gen_toks", 256))
            temperature = float(kwargs.get("temperature", 0.0)) if kwargs.get("do_sample") else 0.0
            prompt = self.encoder.encode_pairs([("", context)])[0] if not context else None
            ids = self.tok.encode(context) if context else prompt[0] + prompt[1]
            ids = ids[-(self.max_length - max_new) :] if max_new < self.max_length else ids[-1:]
            new = generate(
                self.model, [ids], max_new_tokens=min(max_new, self.max_length - len(ids)), temperature=temperature,
                eos_token_id=self.tok.eos_id,
            )[0]  # fmt: skip
            text = self.tok.decode([t for t in new if t != self.tok.eos_id])
            for stop in until:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            outputs.append(text)
        return outputs


if __name__ != "__main__":  # run as a script, the canonical module registers itself when imported below
    register_model("lmforge")(LmforgeLM)


def main(argv: list[str] | None = None) -> None:
    """lm-eval's command line with the ``lmforge`` model registered."""
    from lm_eval.__main__ import cli_evaluate

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    cli_evaluate()


if __name__ == "__main__":
    import lmforge.eval.lm_eval_adapter as adapter  # registers lmforge.eval.lm_eval_adapter.LmforgeLM

    adapter.main()
