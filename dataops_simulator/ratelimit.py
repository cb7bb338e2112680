"""Rate limits, as GitLab applies them.

``RateLimiter`` is the per-user throttle (``Rack::Attack``'s ``throttle_authenticated_api``;
DataOps.live allows 600 requests a minute). Windows are ``window`` seconds long and aligned to
multiples of it since the epoch, as Rack::Attack's period keys are. Requests over the limit are still
counted. Its 429 (``lib/gitlab/rack_attack.rb`` ``throttled_responder`` and
``throttled_response_headers``; ``lib/gitlab/throttle.rb``) is plain text ``Retry later\\n`` with
``RateLimit-Name``, ``RateLimit-Limit`` (scaled to a 60-second window: ``(limit * 60 / period).ceil``),
``RateLimit-Observed``, ``RateLimit-Remaining``, ``RateLimit-Reset``, ``RateLimit-ResetTime`` and
``Retry-After`` (seconds left in the window). GitLab sends those headers **only on the 429**;
``headers="always"`` adds them to every answer (what some proxies do, not GitLab).

``EndpointLimiter`` is ``Gitlab::ApplicationRateLimiter`` (``check_rate_limit!``,
``lib/api/helpers/rate_limiter.rb``): per-endpoint thresholds per user (or per source and user), with
GitLab.com's defaults in ``GITLAB_COM_LIMITS`` (doc/administration/settings/rate_limit_on_projects_api.md,
rate_limit_on_groups_api.md: ``GET /projects`` 2,000 per 10 minutes, ``GET /projects/:id`` 400/min,
``GET /groups`` 200/min, ``GET /groups/:id`` 400/min, ``GET /groups/:id/projects`` 600/min, listing all
members of a group 200/min per group and user; ``/projects/:id/members/all`` shares the 200/min
``project_members_api`` limit). Its 429 is JSON ``{"message":{"error":"This endpoint has been requested
too many times. Try again later."}}`` with ``Retry-After: <interval>`` on recent versions and no headers
at all on older ones (``retry_after=False``).

Tokens are keyed by a digest, never kept in clear.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from email.utils import formatdate

THROTTLED_BODY = b"Retry later\n"
ENDPOINT_BODY = b'{"message":{"error":"This endpoint has been requested too many times. Try again later."}}'
# rule -> (threshold, interval seconds, scoped by the source as well as the user)
GITLAB_COM_LIMITS = {
    "projects_api": (2000, 600, False),
    "project_api": (400, 60, False),
    "groups_api": (200, 60, False),
    "group_api": (400, 60, False),
    "group_projects_api": (600, 60, False),
    "group_members_all": (200, 60, True),
    "project_members_api": (200, 60, True),
}


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class RateLimiter:
    def __init__(self, limit: int | None = 600, window: float = 60.0, clock=time.time, headers: str = "429",
                 name: str = "throttle_authenticated_api"):
        if headers not in ("429", "always"):
            raise ValueError("rate_limit_headers must be '429' or 'always'")
        self.limit = limit
        self.window = float(window)
        self.headers_mode = headers
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[bytes, tuple[float, int]] = {}  # key digest -> (window start, observed)

    @property
    def enabled(self) -> bool:
        return self.limit is not None

    def _window_start(self, now: float) -> float:
        return math.floor(now / self.window) * self.window

    def hit(self, key: str) -> tuple[bool, list[tuple[str, str]]]:
        """Count one request for ``key``: (allowed, headers to send)."""
        limit = self.limit
        if limit is None:
            return True, []
        now = self._clock()
        start = self._window_start(now)
        k = digest(key)
        with self._lock:
            w_start, observed = self._counts.get(k, (start, 0))
            if w_start != start:
                observed = 0
            observed += 1
            self._counts[k] = (start, observed)
        allowed = observed <= limit
        if allowed and self.headers_mode != "always":
            return True, []
        return allowed, self._headers(limit, observed, start + self.window, now, retry_after=not allowed)

    def peek(self, key: str) -> list[tuple[str, str]]:
        """The headers an allowed answer carries now, without counting a request."""
        limit = self.limit
        if limit is None or self.headers_mode != "always":
            return []
        now = self._clock()
        start = self._window_start(now)
        with self._lock:
            w_start, observed = self._counts.get(digest(key), (start, 0))
        return self._headers(limit, observed if w_start == start else 0, start + self.window, now, False)

    def throttled_headers(self, key: str, retry_after: float,
                          reset_after: float | None = None) -> list[tuple[str, str]]:
        """Headers of a forced 429 (fault injection): exhausted quota, ``Retry-After: retry_after``,
        reset in ``reset_after`` s (default: ``retry_after``)."""
        now = self._clock()
        limit = self.limit if self.limit is not None else 600
        observed = limit + 1
        if self.enabled:
            with self._lock:
                w_start, seen = self._counts.get(digest(key), (0.0, 0))
            if w_start == self._window_start(now):
                observed = max(observed, seen)
        reset_in = retry_after if reset_after is None else reset_after
        headers = self._headers(limit, observed, now + max(1.0, reset_in), now, retry_after=False)
        return [*headers, ("Retry-After", str(max(1, math.ceil(retry_after))))]

    def _headers(self, limit: int, observed: int, reset: float, now: float, retry_after: bool):
        reset_at = math.ceil(reset)
        out = [
            ("RateLimit-Name", self.name),
            ("RateLimit-Limit", str(math.ceil(limit * 60 / self.window))),
            ("RateLimit-Observed", str(observed)),
            ("RateLimit-Remaining", str(max(0, limit - observed))),
            ("RateLimit-Reset", str(reset_at)),
            ("RateLimit-ResetTime", formatdate(reset_at, usegmt=True)),
        ]
        if retry_after:
            out.append(("Retry-After", str(max(1, math.ceil(reset - now)))))
        return out


class EndpointLimiter:
    """Per-endpoint thresholds (``Gitlab::ApplicationRateLimiter``); ``limits`` maps a rule name to
    ``(threshold, interval seconds, scoped by source)``; a threshold of 0 disables that rule."""

    def __init__(self, limits: dict | None, retry_after: bool = True, clock=time.time):
        self.limits = dict(limits or {})
        self.retry_after = retry_after
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple, tuple[int, int]] = {}

    def hit(self, rule: str, who: str, source: str | None = None) -> list[tuple[str, str]] | None:
        """Count a request; None if allowed, else the 429's headers."""
        found = self.limits.get(rule)
        if not found or not found[0]:
            return None
        threshold, interval, scoped = found
        period = int(self._clock() // interval)
        key = (rule, digest(who), source if scoped else None)
        with self._lock:
            p, n = self._counts.get(key, (period, 0))
            if p != period:
                n = 0
            n += 1
            self._counts[key] = (period, n)
        if n <= threshold:
            return None
        return [("Retry-After", str(int(interval)))] if self.retry_after else []
