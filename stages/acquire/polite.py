"""polite: the one pacing and retry mechanism for everything that talks to YouTube.

Acquisition from YouTube is bounded by politeness, not CPU: too many requests from one IP get
it rate-limited (HTTP 429) or blocked outright. Every caller that touches youtube.com (the
transcript API now, the yt-dlp download stage later) goes through the two tools here:

- `Pacer`: a global request pace. `Pacer.shared(YOUTUBE, interval)` hands every DoFn instance
  and thread in a worker process the same pacer, so the pace holds per process, whatever
  Beam's parallelism.
- `call_with_retries`: exponential backoff with jitter that honours `Retry-After`, a cap on
  attempts and a wall-clock deadline per item. The caller's `classify` decides what is worth
  retrying; everything else is re-raised at once.

Neither knows anything about transcripts or HTTP libraries.
"""

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import ClassVar, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

YOUTUBE = "youtube"
"""The `Pacer.shared` name for everything that requests youtube.com from one IP."""

_RNG = random.Random()


class Pacer:
    """Spaces calls: `wait()` returns at least `min_interval_s` after the previous one returned.

    Thread-safe: waiting threads queue on a lock, so N threads together keep one pace.
    Holds a lock, so it does not pickle: get it in `DoFn.setup()`, not `__init__`.
    """

    _registry: ClassVar[dict[str, "Pacer"]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        min_interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        self.min_interval_s = min_interval_s
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._last: float | None = None  # when the previous wait() returned

    def wait(self) -> None:
        """Block until the pace allows the next call."""
        with self._lock:
            if self._last is not None:
                remaining = self._last + self.min_interval_s - self._clock()
                if remaining > 0:
                    self._sleep(remaining)
            self._last = self._clock()

    @classmethod
    def shared(cls, name: str, min_interval_s: float) -> "Pacer":
        """The process-wide pacer called `name`, created on first use.

        If callers ask for different intervals under one name, the slowest (politest) wins.
        """
        with cls._registry_lock:
            pacer = cls._registry.get(name)
            if pacer is None:
                pacer = cls._registry[name] = cls(min_interval_s)
            elif min_interval_s > pacer.min_interval_s:
                pacer.min_interval_s = min_interval_s
            return pacer


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    """Calls in all, the first included."""
    base_delay_s: float = 2.0
    """Wait before the first retry; doubled for each one after."""
    max_delay_s: float = 60.0
    """Cap on the exponential wait (a longer Retry-After is still honoured, up to the deadline)."""
    jitter: float = 0.1
    """Each wait is scaled by a random factor in [1 - jitter, 1 + jitter]."""
    deadline_s: float = 300.0
    """Wall-clock cap on all attempts of one item: no retry whose wait would pass it."""


@dataclass(frozen=True)
class Retry:
    """`classify`'s verdict that an exception is worth another attempt."""

    retry_after_s: float | None = None
    """The server's Retry-After, if it sent one: the wait is at least this long."""
    reason: str = ""
    """Short, for the log line: "HTTP 429", "ConnectTimeout"."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date.

    None or garbage gives None; a negative delay or a date in the past gives 0.
    `now` (epoch seconds, default `time.time()`) is the reference for an HTTP-date.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 5322 for "UTC, origin unknown"
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_s(
    policy: RetryPolicy,
    retry_index: int,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """The wait before retry number `retry_index` (0 = the first retry)."""
    exponential = min(policy.max_delay_s, policy.base_delay_s * 2**retry_index)
    jittered = exponential * (1 + (rng or _RNG).uniform(-policy.jitter, policy.jitter))
    return max(retry_after_s or 0.0, jittered)


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    classify: Callable[[Exception], Retry | None],
    *,
    pacer: Pacer | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    label: str = "call",
) -> T:
    """`fn()`, paced by `pacer` and retried while `classify` says so.

    An exception `classify` maps to None is re-raised at once. Otherwise the last exception is
    re-raised once `policy.max_attempts` calls have failed, or when the next wait would end
    past `policy.deadline_s` (counted from this call's start). `label` names the call in logs.
    """
    started = clock()
    attempt = 1
    while True:
        if pacer is not None:
            pacer.wait()
        try:
            return fn()
        except Exception as exc:
            retry = classify(exc)
            if retry is None:
                raise
            reason = retry.reason or type(exc).__name__
            if attempt >= policy.max_attempts:
                logger.info("%s: giving up after %d attempts: %s", label, attempt, reason)
                raise
            wait = backoff_s(policy, attempt - 1, retry.retry_after_s, rng)
            if clock() - started + wait > policy.deadline_s:
                logger.info(
                    "%s: giving up: waiting %.1f s after %s would pass the %.0f s deadline",
                    label,
                    wait,
                    reason,
                    policy.deadline_s,
                )
                raise
            logger.info(
                "%s: %s; retry %d/%d in %.1f s",
                label,
                reason,
                attempt,
                policy.max_attempts - 1,
                wait,
            )
            sleep(wait)
            attempt += 1
