"""The request budget: how many requests may start, shared by every stream and thread of a run."""

from __future__ import annotations

import collections
import threading
import time
import typing as t

# The server's window is one minute; ours is a little longer so that network jitter
# between our clock and the server's cannot push 601 requests into one of its windows.
BUDGET_WINDOW_SECONDS = 61.0


class RequestBudget:
    """At most ``limit`` request starts in any sliding ``window`` seconds, across all threads.

    The server can also pause everyone (a 429, or ``RateLimit-Remaining`` running low):
    ``pause_until`` holds back every caller of ``acquire`` until that moment. ``clock`` and
    ``sleep`` are the monotonic clock and the wait (tests drive them).
    """

    def __init__(
        self,
        limit: int,
        window: float = BUDGET_WINDOW_SECONDS,
        *,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._starts: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a request may start; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.window:
                    self._starts.popleft()
                delay = self._paused_until - now
                if len(self._starts) >= self.limit:
                    delay = max(delay, self._starts[0] + self.window - now)
                if delay <= 0:
                    self._starts.append(now)
                    return waited
            step = min(delay, 5.0)
            self._sleep(step)
            waited += step

    def pause_until(self, monotonic_deadline: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, monotonic_deadline)
