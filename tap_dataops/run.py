"""What one run of the tap shares across its streams: handed to every stream when it is made.

The streams never reach into the tap for these; each stream gets the ``RunContext``.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t
from collections import Counter

if t.TYPE_CHECKING:
    from tap_dataops.api import ApiClient
    from tap_dataops.client import DataOpsStream
    from tap_dataops.concurrency import Fetcher

MEMBERSHIP = "membership"  # the projects and groups the token's user belongs to (GitLab's membership=true)
INSTANCE = "instance"  # everything the token can see (an administrator: the whole instance)
SCOPES = (MEMBERSHIP, INSTANCE)


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
class Scope:
    """What this run covers, as the listings found it.

    The projects stream fills ``projects`` and the groups stream ``groups`` as their pages
    are written; the namespaces stream and the removed-projects stream read them once
    those listings are complete (``projects_complete``, ``groups_complete``).
    """

    mode: str = MEMBERSHIP
    group_refs: tuple[str, ...] = ()  # the groups setting
    project_refs: tuple[str, ...] = ()  # the projects setting
    projects: set[int] = dataclasses.field(default_factory=set)  # the projects listed
    # The namespace objects those projects are in, once per namespace (by id): memory grows
    # with the namespaces, not with the projects.
    project_namespaces: dict[int, dict] = dataclasses.field(default_factory=dict)
    groups: dict[int, dict] = dataclasses.field(default_factory=dict)  # id -> its record
    ci_disabled_projects: set[int] = dataclasses.field(default_factory=set)
    without_statistics: int = 0
    projects_complete: bool = False
    groups_complete: bool = False

    @property
    def narrowed(self) -> bool:
        return bool(self.group_refs or self.project_refs)

    def describe(self) -> str:
        what = ("the projects and groups the token's user is a member of" if self.mode == MEMBERSHIP
                else "everything the token can see")
        if self.narrowed:
            what += ", narrowed by the groups/projects settings"
        return f"scope {self.mode} ({what}): {len(self.projects)} projects, {len(self.groups)} groups"


@dataclasses.dataclass
class RunContext:
    """The API client and fetcher every request goes through, and what the run has learned."""

    api: ApiClient
    fetcher: Fetcher
    page_size: int
    scope: Scope = dataclasses.field(default_factory=Scope)
    skips: SkipCounter = dataclasses.field(default_factory=SkipCounter)
    # The version every record of a full-table stream carries in this run; an
    # ACTIVATE_VERSION with it follows once the run is complete (milliseconds: two runs in
    # one second must not share one).
    version: int = dataclasses.field(default_factory=lambda: int(time.time() * 1000))
    # Resolved groups of the groups setting (ref -> group record), asked for once.
    named_groups: dict[str, dict] = dataclasses.field(default_factory=dict)
    # Every stream of the run by name, for a stream whose records depend on another's listing
    # (namespaces on projects and groups) when that one is not selected.
    streams: dict[str, DataOpsStream] = dataclasses.field(default_factory=dict)
