"""Text generation: KV-cache decoding, sampling, batched prompts of different lengths."""

from lmforge.generate.decode import generate
from lmforge.generate.sampling import SamplingParams
from lmforge.generate.text import generate_text

__all__ = ["SamplingParams", "generate", "generate_text"]
