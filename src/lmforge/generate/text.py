"""Text in, text out: :func:`generate` behind a ``tokenizers.Tokenizer``."""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

from lmforge.generate.decode import generate
from lmforge.generate.sampling import SamplingParams
from lmforge.nn.transformer import Transformer


def generate_text(
    model: Transformer,
    tokenizer: Tokenizer,
    prompts: str | Sequence[str],
    params: SamplingParams | None = None,
    *,
    eos_token_id: int | Sequence[int] | None = -1,
    **overrides,
) -> list[str]:
    """The continuation of each prompt as text (special tokens such as EOS left out).

    ``eos_token_id`` defaults to the model config's, replaced by the tokenizer's EOS when the config's id is
    no EOS token of ``tokenizer`` (:func:`~lmforge.tokenize.tokenizer.special_ids_for`). The prompt is
    encoded without the tokenizer's post-processor additions, as during pretraining, where
    documents are plain token streams separated by EOS.
    """
    if eos_token_id == -1:  # the model's EOS, unless it is no EOS token of this tokenizer (as the CLI does)
        from lmforge.tokenize.tokenizer import special_ids_for

        eos_token_id, _ = special_ids_for(tokenizer, model.config.eos_token_id, None)
    texts = [prompts] if isinstance(prompts, str) else list(prompts)
    encoded = [tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
    new_tokens = generate(model, encoded, params, eos_token_id=eos_token_id, **overrides)
    return [tokenizer.decode(tokens, skip_special_tokens=True) for tokens in new_tokens]
