"""What one run of the tap shares across its streams: handed to every stream when it is made.

The streams never reach into the tap for these; each stream gets the ``RunContext``.
"""

from __future__ import annotations

import dataclasses
import typing as t
from collections import Counter

if t.TYPE_CHECKING:
    from tap_dataops.api import ApiClient
    from tap_dataops.concurrency import Fetcher


class SkipCounter:
    """Parents skipped per child stream (403/404, CI disabled), reported once at the end."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def record(self, stream: str, reason: int | str | None) -> None:
        self.counts[(stream, str(reason))] += 1

    def summary(self) -> list[str]:
        return [
            f"{stream}: skipped {n} parent(s): {reason if not reason.isdigit() else 'HTTP ' + reason}"
            for (stream, reason), n in sorted(self.counts.items())
        ]


@dataclasses.dataclass
class RunContext:
    """The API client and fetcher every request goes through, and what the run has learned."""

    api: ApiClient
    fetcher: Fetcher
    page_size: int
    skips: SkipCounter = dataclasses.field(default_factory=SkipCounter)
    # Projects whose pipelines and jobs are not requested at all (CI/CD is off), as the
    # projects stream found them.
    ci_disabled_projects: set[int] = dataclasses.field(default_factory=set)
