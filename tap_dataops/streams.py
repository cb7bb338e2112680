"""The DataOps.live streams: what each one fetches and how it is keyed."""

from __future__ import annotations

import typing as t

from tap_dataops.client import DataOpsStream
from tap_dataops.pagination import ShiftAwareOffsetPaginator

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context


class ProjectsStream(DataOpsStream):
    """Every project the token can see, archived ones included (full objects with statistics).

    Keyset pagination ordered by id: a cursor (``id_after``) instead of an offset, so
    projects created or deleted mid-listing shift nothing, and there is no offset cap
    (GitLab answers 405 past offset 50,000 on /projects).
    Incremental by ``last_activity_at``: GitLab filters it (``last_activity_after``) under
    any ordering, so the id cursor stays; records are not sorted by it, so the bookmark
    is committed only when the listing is complete.
    """

    name = "projects"
    path = "/projects"
    schema_name = "projects"
    primary_keys = ("id",)
    replication_key = "last_activity_at"
    is_sorted = False

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {
            "pagination": "keyset",
            "order_by": "id",
            "sort": "asc",
            "statistics": "true",
        }
        since = self.get_starting_timestamp(context)
        if since is not None:
            params["last_activity_after"] = since.isoformat()
        return params


class NamespacesStream(DataOpsStream):
    """Every namespace (groups, subgroups and users' personal namespaces) the token can see.

    /namespaces has offset pagination only: the listing is read again if its size changes
    mid-walk, and ids already emitted are dropped (see ShiftAwareOffsetPaginator).
    """

    name = "namespaces"
    path = "/namespaces"
    schema_name = "namespaces"
    primary_keys = ("id",)

    def get_new_paginator(self) -> ShiftAwareOffsetPaginator:
        self._emitted_ids: set[int] = set()
        return ShiftAwareOffsetPaginator()

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        for record in super().parse_response(response):
            if record["id"] not in self._emitted_ids:
                self._emitted_ids.add(record["id"])
                yield record


STREAM_TYPES: list[type[DataOpsStream]] = [ProjectsStream, NamespacesStream]
