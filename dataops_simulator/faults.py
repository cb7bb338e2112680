"""The fault plan: which requests get a failure instead of (or before) a normal answer.

Two sources, checked in this order for every request:
- injected faults (``inject``): the next ``count`` requests whose path starts with ``path_prefix``;
- random faults: each request fails with probability ``rate``, the kind drawn from ``kinds``, from a
  generator seeded with ``seed`` (so a single-threaded client sees the same faults every run).

How each kind is answered is ``server.py``'s business; this module only decides.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

FAULT_KINDS = ("500", "502_html", "503_retry_after", "reset", "stall", "truncated", "empty", "429")


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: float | None = None
    reset_after: float | None = None  # a 429's RateLimit-Reset, when it differs from Retry-After


class FaultPlan:
    def __init__(self, rate: float = 0.0, kinds=None, seed: int = 0):
        kinds = tuple(kinds) if kinds is not None else FAULT_KINDS
        for kind in kinds:
            _check(kind)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must lie within 0..1")
        self.rate = rate
        self.kinds = kinds
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._injected: list[list] = []  # [kind, remaining, path_prefix, retry_after, reset_after]

    def inject(self, kind: str, count: int = 1, path_prefix: str | None = None, retry_after=None,
               reset_after=None) -> None:
        _check(kind)
        with self._lock:
            self._injected.append([kind, int(count), path_prefix, retry_after, reset_after])

    def pending(self) -> int:
        with self._lock:
            return sum(entry[1] for entry in self._injected)

    def decide(self, *paths: str) -> Fault | None:
        """The fault for a request known by ``paths`` (e.g. "/api/v4/projects" and "/projects")."""
        with self._lock:
            for entry in self._injected:
                kind, remaining, prefix, retry_after, reset_after = entry
                if remaining > 0 and (prefix is None or any(p.startswith(prefix) for p in paths)):
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._injected.remove(entry)
                    return Fault(kind, retry_after, reset_after)
            if self.rate and self.kinds and self._rng.random() < self.rate:
                return Fault(self._rng.choice(self.kinds))
        return None


def _check(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
