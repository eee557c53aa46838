"""tag -> dedup -> mix on s3:// against a local moto server (no network)."""

import pytest
from curate_testlib import check_steps_on_url


@pytest.fixture
def s3(moto_s3):
    moto_s3.mkdir("corpus")
    return moto_s3


@pytest.mark.slow
def test_steps_on_s3(s3):
    check_steps_on_url(s3, "s3", "corpus")
