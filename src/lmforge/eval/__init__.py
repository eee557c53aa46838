"""Evaluation: Paloma-style perplexity, downstream tasks (tasks are data), the lm-eval adapter, in-loop eval."""
