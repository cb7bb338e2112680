"""The request budget: how many requests may start, shared by every stream and thread of a run."""

from __future__ import annotations

import collections
import re
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


# GitLab.com's per-endpoint limits, per user (doc/security/rate_limits.md,
# doc/administration/settings/rate_limit_on_projects_api.md and rate_limit_on_groups_api.md;
# Gitlab::ApplicationRateLimiter): endpoint -> (requests, seconds). Self-managed GitLab 18.0
# sets them to 0 (off); DataOps.live does not publish its own.
GITLAB_COM_ENDPOINT_LIMITS: dict[str, tuple[int, float]] = {
    "GET /projects": (2000, 600),
    "GET /projects/:id": (400, 60),
    "GET /groups": (200, 60),
    "GET /groups/:id": (400, 60),
    "GET /groups/:id/projects": (600, 60),
}
_ENDPOINT_PATTERNS = {
    "GET /projects": re.compile(r"/projects/?"),
    "GET /projects/:id": re.compile(r"/projects/[^/]+/?"),
    "GET /groups": re.compile(r"/groups/?"),
    "GET /groups/:id": re.compile(r"/groups/[^/]+/?"),
    "GET /groups/:id/projects": re.compile(r"/groups/[^/]+/projects/?"),
}
# Our window is a second longer than the server's, as for the per-user budget.
WINDOW_MARGIN_SECONDS = 1.0


def endpoint_family(path: str) -> str | None:
    """The rate-limited endpoint a path (relative to the API base, e.g. ``/projects/42``) belongs to."""
    for family, pattern in _ENDPOINT_PATTERNS.items():
        if pattern.fullmatch(path):
            return family
    return None


class EndpointBudgets:
    """One budget per rate-limited endpoint, beside the per-user one."""

    def __init__(
        self,
        limits: t.Mapping[str, tuple[int, float]],
        *,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.intervals = {family: float(seconds) for family, (_, seconds) in limits.items()}
        self.budgets = {
            family: RequestBudget(int(requests), float(seconds) + WINDOW_MARGIN_SECONDS, clock=clock, sleep=sleep)
            for family, (requests, seconds) in limits.items()
            if requests
        }

    def budget_for(self, family: str | None) -> RequestBudget | None:
        return self.budgets.get(family) if family else None
