"""The steps on fsspec URLs (memory://, the same code path as s3://): Dolma layout, markers, stats."""

import uuid

import fsspec
from curate_testlib import check_steps_on_url


def test_tag_dedup_mix_on_fsspec_urls():
    check_steps_on_url(fsspec.filesystem("memory"), "memory", f"/bkt-{uuid.uuid4().hex[:8]}")
