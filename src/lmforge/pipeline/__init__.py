"""One command from raw documents to a released model: stages, manifest, resume, and the quickstart."""
