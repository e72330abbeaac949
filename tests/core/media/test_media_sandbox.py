"""`run_limited`: results come back, limits hold, every failure is a typed error, none hangs."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import sandbox_targets as t
from uffizi.errors import CorruptMedia, MediaTooLarge
from uffizi.media.sandbox import MEMORY_SETTING, TIMEOUT_SETTING, run_limited

LIMITS = {"timeout_s": 10, "memory_mb": 1024}


def test_result_comes_back_from_another_process():
    assert run_limited(t.add, 2, b=3, **LIMITS) == 5
    assert run_limited(t.pid, **LIMITS) != os.getpid()


def test_limits_are_set_in_the_child():
    address_space, cpu = run_limited(t.limits, timeout_s=5, memory_mb=700)
    assert address_space == 700 * 1024 * 1024
    assert 5 <= cpu <= 7


def test_large_arrays_come_back_whole_and_writable():
    a = run_limited(t.big_array, 3000, 4000, **LIMITS)
    assert a.shape == (3000, 4000, 3) and a.dtype == np.uint8
    assert a.flags.writeable and a.flags.c_contiguous
    np.testing.assert_array_equal(a, t.big_array(3000, 4000))


def test_nested_results_with_several_arrays():
    x, meta, empty = run_limited(t.arrays_and_meta, **LIMITS)
    np.testing.assert_array_equal(x, np.arange(12, dtype=np.float32).reshape(3, 4))
    assert meta == {"k": [1, "two"]} and empty.size == 0


def test_a_4000x3000_image_comes_back_well_under_a_second():
    run_limited(t.big_array, 8, 8, **LIMITS)  # the fork server is warm
    started = time.perf_counter()
    run_limited(t.big_array, 3000, 4000, **LIMITS)
    assert time.perf_counter() - started < 1.0  # about 0.1 s on an idle 2-core machine


def test_memory_limit_is_media_too_large_naming_the_setting():
    with pytest.raises(MediaTooLarge) as info:
        run_limited(t.hog_memory, 2048, timeout_s=10, memory_mb=512)
    assert MEMORY_SETTING in str(info.value) and "512 MB" in str(info.value)
    assert info.value.details["setting"] == MEMORY_SETTING
    assert info.value.code == "media_too_large"


def test_timeout_kills_the_child_and_names_the_setting():
    started = time.perf_counter()
    with pytest.raises(MediaTooLarge) as info:
        run_limited(t.sleep, 30, timeout_s=0.5, memory_mb=512)
    assert time.perf_counter() - started < 5
    assert TIMEOUT_SETTING in str(info.value)
    assert info.value.details["limit"] == "decode_timeout_s"


def test_a_busy_loop_is_stopped_too():
    with pytest.raises(MediaTooLarge, match=TIMEOUT_SETTING):
        run_limited(t.spin, timeout_s=0.5, memory_mb=512)


@pytest.mark.parametrize("crash", [t.segfault, t.abort])
def test_a_crash_is_corrupt_media(crash):
    with pytest.raises(CorruptMedia, match="crashed") as info:
        run_limited(crash, **LIMITS)
    assert info.value.details["signal"] in ("SIGSEGV", "SIGABRT")


def test_a_killed_child_is_reported_as_out_of_memory():
    with pytest.raises(MediaTooLarge, match="OOM killer") as info:
        run_limited(t.kill_self, **LIMITS)
    assert info.value.details["setting"] == MEMORY_SETTING


def test_an_exit_without_an_answer_is_corrupt_media():
    with pytest.raises(CorruptMedia, match="status 3"):
        run_limited(t.exit_quietly, 3, **LIMITS)


def test_uffizi_errors_keep_their_class_message_and_details():
    with pytest.raises(CorruptMedia) as info:
        run_limited(t.raise_corrupt, **LIMITS)
    assert str(info.value) == "bad bytes at 17"
    assert info.value.details == {"offset": 17}


def test_other_exceptions_come_back_with_the_child_traceback():
    with pytest.raises(ValueError, match="plain failure") as info:
        run_limited(t.raise_value_error, **LIMITS)
    assert "raise_value_error" in str(info.value.__cause__)


def test_functions_from_main_are_refused():
    def local():  # pragma: no cover - never runs
        return 1

    local.__module__ = "__main__"
    with pytest.raises(ValueError, match="importable"):
        run_limited(local, **LIMITS)


def test_no_children_are_left_behind():
    import multiprocessing as mp

    for _ in range(3):
        with pytest.raises(MediaTooLarge):
            run_limited(t.sleep, 30, timeout_s=0.2, memory_mb=512)
    assert not [p for p in mp.active_children() if p.name == "uffizi-decode"]


def test_concurrent_calls_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: run_limited(t.add, i, b=1, **LIMITS), range(12)))
    assert results == list(range(1, 13))
