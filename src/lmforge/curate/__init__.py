"""Corpus curation in the Dolma style: taggers, dedup, mixing and decontamination of Dolma documents.

See docs/curation.md. Steps read ``<root>/documents/**`` and write Dolma attribute files to
``<root>/attributes/<name>/<same relative path>`` (same rows, same order), so corpora tagged by dolma work
with lmforge's mixer and the other way round.
"""
