"""Downstream task definitions: specs, templates, built-in YAML tasks, data loading, prompts, metrics."""
