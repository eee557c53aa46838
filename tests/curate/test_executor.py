"""lmforge.executor.map_shards: errors raised in pool workers reach the caller instead of hanging it."""

import os
import pickle
import signal

import pytest

from lmforge.config import ConfigError
from lmforge.curate.bloom import StaleFilterError
from lmforge.executor import map_shards
from lmforge.io import InputError


class _Unpicklable(Exception):
    def __init__(self, a, b):  # no __reduce__: unpickling calls __init__ with the message only
        super().__init__(f"{a}/{b}")


def _fail_on_two(x):
    if x == 2:
        raise _Unpicklable("bad", x)
    return x * 10


def _killed_on_two(x):
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
    return x


def _input_error_on_two(x):
    if x == 2:
        raise InputError("some/file.jsonl", 7, "malformed JSON")
    return x


@pytest.mark.parametrize(
    "err",
    [
        InputError("a.jsonl", 3, "bad"),
        InputError("a.jsonl", None, "bad"),
        ConfigError("x.y", "must be > 0"),
        StaleFilterError("stale filter"),
    ],
)
def test_project_errors_survive_pickling(err):
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err) and str(again) == str(err)
    assert vars(again) == vars(err)


def test_worker_input_error_reaches_the_caller_as_is(no_hang):
    with pytest.raises(InputError, match=r"^some/file.jsonl:7: malformed JSON$") as info:
        map_shards(_input_error_on_two, [1, 2, 3], processes=2, progress=False)
    assert (info.value.path, info.value.line) == ("some/file.jsonl", 7)


def test_worker_exception_that_cannot_be_unpickled_is_reported_not_hung(no_hang):
    with pytest.raises(RuntimeError, match=r"_Unpicklable: bad/2"):
        map_shards(_fail_on_two, [1, 2, 3], processes=2, progress=False)
    assert map_shards(_fail_on_two, [1, 3, 4], processes=2, progress=False) == [10, 30, 40]


def test_a_worker_killed_by_a_signal_fails_the_map_instead_of_hanging_it(no_hang):
    # multiprocessing.Pool replaced the dead worker and waited forever for its lost task
    with pytest.raises(RuntimeError, match=r"a worker process died before finishing its shard .*e\.g\. \d"):
        map_shards(_killed_on_two, [1, 2, 3, 4], processes=2, progress=False)
    assert map_shards(_killed_on_two, [1, 3, 4], processes=2, progress=False) == [1, 3, 4]
