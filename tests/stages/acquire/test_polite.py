import logging
import random
import threading
import time
from email.utils import formatdate

import pytest

from stages.acquire.polite import (
    Pacer,
    Retry,
    RetryPolicy,
    backoff_s,
    call_with_retries,
    parse_retry_after,
)

NO_JITTER = RetryPolicy(jitter=0.0)


class FakeTime:
    """A clock that only `sleep` moves; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """Raises `errors[i]` on call i, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class CountingPacer:
    def __init__(self) -> None:
        self.waits = 0

    def wait(self) -> None:
        self.waits += 1


def always(retry: Retry | None):
    return lambda exc: retry


# --- Pacer -------------------------------------------------------------------------------


def test_pacer_spaces_consecutive_waits():
    t = FakeTime()
    pacer = Pacer(1.5, clock=t.clock, sleep=t.sleep)
    pacer.wait()  # the first call goes at once
    pacer.wait()
    t.now += 0.5  # work done between calls counts toward the interval
    pacer.wait()
    t.now += 2.0  # more than the interval passed: no wait
    pacer.wait()
    assert t.sleeps == [1.5, 1.0]


def test_pacer_holds_one_pace_across_threads():
    interval, n = 0.02, 6
    pacer = Pacer(interval)
    barrier = threading.Barrier(n)
    returned: list[float] = []

    def worker() -> None:
        barrier.wait()
        pacer.wait()
        returned.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(n)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(returned) == n
    # n waits need at least n - 1 full intervals, however the threads interleave.
    assert max(returned) - start >= (n - 1) * interval


def test_shared_pacer_is_one_per_name_and_the_politest_interval_wins():
    a = Pacer.shared("test_polite.shared", 0.5)
    assert Pacer.shared("test_polite.shared", 0.1) is a
    assert a.min_interval_s == 0.5
    assert Pacer.shared("test_polite.shared", 2.0) is a
    assert a.min_interval_s == 2.0
    assert Pacer.shared("test_polite.other", 0.5) is not a


def test_pacer_rejects_a_negative_interval():
    with pytest.raises(ValueError, match="min_interval_s"):
        Pacer(-1.0)


# --- backoff -----------------------------------------------------------------------------


def test_backoff_doubles_from_base_and_caps_at_max_delay():
    assert [backoff_s(NO_JITTER, i) for i in range(7)] == [2, 4, 8, 16, 32, 60, 60]


def test_backoff_jitter_stays_within_bounds():
    rng = random.Random(7)
    waits = [backoff_s(RetryPolicy(jitter=0.1), 1, rng=rng) for _ in range(200)]
    assert all(3.6 <= w <= 4.4 for w in waits)
    assert max(waits) - min(waits) > 0.4  # it really varies


def test_backoff_retry_after_is_a_floor():
    assert backoff_s(NO_JITTER, 0, retry_after_s=30.0) == 30.0
    assert backoff_s(NO_JITTER, 2, retry_after_s=1.0) == 8.0


# --- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # past


# --- call_with_retries -------------------------------------------------------------------


def test_retries_with_exponential_waits_then_succeeds():
    t, fn, pacer = FakeTime(), Flaky(OSError(1), OSError(2), OSError(3)), CountingPacer()
    result = call_with_retries(
        fn, NO_JITTER, always(Retry()), pacer=pacer, sleep=t.sleep, clock=t.clock
    )
    assert result == "ok"
    assert (fn.calls, pacer.waits) == (4, 4)  # every attempt is paced
    assert t.sleeps == [2.0, 4.0, 8.0]


def test_gives_up_after_max_attempts_with_the_last_exception():
    t = FakeTime()
    fn = Flaky(*(OSError(f"attempt {i}") for i in range(1, 10)))
    with pytest.raises(OSError, match="attempt 4"):
        call_with_retries(fn, NO_JITTER, always(Retry()), sleep=t.sleep, clock=t.clock)
    assert fn.calls == 4
    assert t.sleeps == [2.0, 4.0, 8.0]


def test_non_retryable_exception_is_reraised_at_once():
    t, fn = FakeTime(), Flaky(KeyError("boom"))
    with pytest.raises(KeyError, match="boom"):
        call_with_retries(fn, NO_JITTER, always(None), sleep=t.sleep, clock=t.clock)
    assert (fn.calls, t.sleeps) == (1, [])


def test_retry_after_longer_than_max_delay_is_honoured_up_to_the_deadline():
    t = FakeTime()
    fn = Flaky(*(OSError(i) for i in range(10)))
    policy = RetryPolicy(max_attempts=10, max_delay_s=60.0, deadline_s=300.0, jitter=0.0)
    with pytest.raises(OSError):
        call_with_retries(fn, policy, always(Retry(120.0)), sleep=t.sleep, clock=t.clock)
    # 0 + 120 and 120 + 120 fit in 300 s; 240 + 120 would not.
    assert t.sleeps == [120.0, 120.0]
    assert fn.calls == 3


def test_deadline_counts_time_spent_in_the_calls():
    t = FakeTime()

    def slow_failure() -> None:
        t.now += 5.0  # each attempt itself takes 5 s
        raise TimeoutError

    policy = RetryPolicy(max_attempts=10, base_delay_s=2.0, deadline_s=20.0, jitter=0.0)
    with pytest.raises(TimeoutError):
        call_with_retries(slow_failure, policy, always(Retry()), sleep=t.sleep, clock=t.clock)
    # 5 + 2 = 7 <= 20; 12 + 4 = 16 <= 20; 21 + 8 > 20: stop after three attempts.
    assert t.sleeps == [2.0, 4.0]


def test_each_retry_is_logged_with_reason_and_wait(caplog):
    t = FakeTime()
    with caplog.at_level(logging.INFO, logger="stages.acquire.polite"):
        call_with_retries(
            Flaky(OSError()),
            NO_JITTER,
            always(Retry(reason="HTTP 429")),
            sleep=t.sleep,
            clock=t.clock,
            label="abc list",
        )
    assert "abc list: HTTP 429; retry 1/3 in 2.0 s" in caplog.messages
