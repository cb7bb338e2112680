"""Per-token fixed-window rate limiting with GitLab's six rate-limit headers.

Windows are ``window`` seconds long and aligned to multiples of ``window`` since the epoch (so a
60 s window resets on the minute, as GitLab's does). Requests over the limit are still counted as
observed. Tokens are keyed by a digest, never kept in clear.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from email.utils import formatdate


class RateLimiter:
    def __init__(self, limit: int | None = 600, window: float = 60.0, clock=time.time):
        self.limit = limit
        self.window = float(window)
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[bytes, tuple[float, int]] = {}  # token digest -> (window start, observed)

    @property
    def enabled(self) -> bool:
        return self.limit is not None

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def _window_start(self, now: float) -> float:
        return math.floor(now / self.window) * self.window

    def hit(self, token: str) -> tuple[bool, list[tuple[str, str]]]:
        """Count one request for ``token``: (allowed, headers to send)."""
        allowed, headers, _ = self._observe(token, count=True)
        return allowed, headers

    def peek(self, token: str) -> list[tuple[str, str]]:
        """The headers for ``token`` without counting a request."""
        return self._observe(token, count=False)[1]

    def throttled_headers(self, token: str, retry_after: float) -> list[tuple[str, str]]:
        """Headers of a forced 429 (fault injection): exhausted quota, reset in ``retry_after`` s."""
        now = self._clock()
        limit = self.limit if self.limit is not None else 600
        reset = now + max(1.0, retry_after)
        observed = self._observe(token, count=False)[2] if self.enabled else limit
        return self._headers(limit, max(observed, limit + 1), reset, now) + [
            ("Retry-After", str(max(1, math.ceil(retry_after))))]

    def _observe(self, token: str, count: bool):
        if not self.enabled:
            return True, [], 0
        now = self._clock()
        start = self._window_start(now)
        key = self._key(token)
        with self._lock:
            w_start, observed = self._counts.get(key, (start, 0))
            if w_start != start:
                observed = 0
            if count:
                observed += 1
                self._counts[key] = (start, observed)
        reset = start + self.window
        allowed = observed <= self.limit
        headers = self._headers(self.limit, observed, reset, now)
        if count and not allowed:
            headers.append(("Retry-After", str(max(1, math.ceil(reset - now)))))
        return allowed, headers, observed

    @staticmethod
    def _headers(limit: int, observed: int, reset: float, now: float) -> list[tuple[str, str]]:
        reset_at = math.ceil(reset)
        return [
            ("RateLimit-Limit", str(limit)),
            ("RateLimit-Observed", str(observed)),
            ("RateLimit-Remaining", str(max(0, limit - observed))),
            ("RateLimit-Reset", str(reset_at)),
            ("RateLimit-ResetTime", formatdate(reset_at, usegmt=True)),
        ]
