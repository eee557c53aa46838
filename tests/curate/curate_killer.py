"""A tagger that SIGKILLs its own process on a chosen text (env LMFORGE_TEST_KILL_ON), for resume tests."""

import os
import signal

from lmforge.curate.taggers import Tagger, register_tagger


@register_tagger("test_killer_v1", replace=True)
class Killer(Tagger):
    def tag(self, doc):
        if doc["text"] == os.environ.get("LMFORGE_TEST_KILL_ON"):
            os.kill(os.getpid(), signal.SIGKILL)
        return {"chars": [[0, len(doc["text"]), float(len(doc["text"]))]]}
