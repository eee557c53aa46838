"""Run reports (Markdown + HTML with figures) and model cards, built from a run folder's own records."""

from lmforge.report.build import write_report

__all__ = ["write_report"]
