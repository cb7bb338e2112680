"""The DataOps.live streams: what each one fetches and how it is keyed.

Request cost of a run (P projects synced, G groups, N new or updated pipelines):
  namespaces and groups: one request per 100 records each;
  projects: one request per 100 projects with activity since the bookmark (first run: all);
  project_members and pipelines: one request per such project (more past 100 records);
  group_members: one request per group;
  pipelines: plus one detail request per new or updated pipeline (the list object lacks
  duration, started_at, finished_at and user);
  jobs: one request per new or updated pipeline (per-pipeline listing: the per-project
  /jobs listing cannot be filtered by time and would re-read every job each run).
Projects with CI/CD disabled cost no pipeline or job request at all.
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from tap_dataops.client import DataOpsStream
from tap_dataops.errors import AccessError, ApiError
from tap_dataops.pagination import ShiftAwareOffsetPaginator, UpdatedAtCursorPaginator

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


def _path_ref(ref: str | int) -> str:
    """A project or group given by id or by full path, as one URL path segment."""
    return quote(str(ref), safe="")


class DedupedOffsetStream(DataOpsStream):
    """An offset listing read again when it changes mid-walk; ids already emitted are dropped."""

    def get_new_paginator(self) -> ShiftAwareOffsetPaginator:
        return ShiftAwareOffsetPaginator()


class ProjectsStream(DataOpsStream):
    """Every project the token can see (or the configured scope), with statistics.

    Keyset pagination ordered by id: a cursor (``id_after``) instead of an offset, so
    projects created or deleted mid-listing shift nothing, and there is no offset cap
    (GitLab answers 405 past offset 50,000 on /projects).
    Incremental by ``last_activity_at``: GitLab filters on it (``last_activity_after``)
    under any ordering, so the id cursor stays; records are not sorted by it, so the
    bookmark is committed only once the listing is complete.
    """

    name = "projects"
    path = "/projects"
    primary_keys = ("id",)
    replication_key = "last_activity_at"
    is_sorted = False

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"order_by": "id", "sort": "asc", "statistics": "true"}
        if not self.config.get("include_archived", True):
            params["archived"] = "false"
        since = self.get_starting_timestamp(context)
        if since is not None:
            params["last_activity_after"] = since.isoformat()
        return params

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        # Keyset on the main listing only: scoped listings (/groups/:id/projects) reuse
        # listing_params with offset pagination.
        return {"pagination": "keyset", **super().get_url_params(context, next_page_token)}

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        if self.config.get("projects") or self.config.get("groups"):
            projects = self._scoped_projects(context)
        else:
            projects = super().get_records(context)
        yield from self.with_children_prefetched(projects, context)

    def _scoped_projects(self, context: Context | None) -> t.Iterator[dict]:
        emitted: set[int] = set()
        for project in self._projects_in_scope(context):
            if project["id"] not in emitted:
                emitted.add(project["id"])
                yield project

    def _projects_in_scope(self, context: Context | None) -> t.Iterator[dict]:
        params = self.listing_params(context)
        since = params.get("last_activity_after")
        for ref in self.config.get("projects") or []:
            try:
                project = self.fetch_one(f"/projects/{_path_ref(ref)}", {"statistics": "true"})
            except AccessError as exc:
                raise ApiError(
                    f"the projects setting names {str(ref)!r}, which this token cannot see ({exc.status}); "
                    "fix the path or id, or the token's access"
                ) from None
            if project.get("archived") and "archived" in params:
                continue
            if since and (project.get("last_activity_at") or "") <= since:
                continue
            yield project
        for ref in self.config.get("groups") or []:
            try:
                yield from self.fetch_all(
                    f"/groups/{_path_ref(ref)}/projects",
                    {**params, "include_subgroups": "true", "with_shared": "false"},
                    ShiftAwareOffsetPaginator(),
                )
            except AccessError as exc:
                raise ApiError(
                    f"the groups setting names {str(ref)!r}, which this token cannot see ({exc.status}); "
                    "fix the path or id, or the token's access"
                ) from None

    def post_process(self, row: dict, context: Context | None = None) -> dict:
        # The runner registration token is a secret: it never leaves the tap.
        row.pop("runners_token", None)
        return row

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        if record.get("builds_access_level") == "disabled" or record.get("jobs_enabled") is False:
            self._tap.ci_disabled_projects.add(record["id"])  # type: ignore[attr-defined]
        # Only the key: the SDK commits a child's per-project bookmark when its context
        # equals its state partition ({"project_id": ...}).
        return {"project_id": record["id"]}


class NamespacesStream(DedupedOffsetStream):
    """Every namespace (groups, subgroups, users' personal namespaces) the token can see.

    /namespaces has offset pagination only. Not narrowed by the groups/projects scope.
    """

    name = "namespaces"
    path = "/namespaces"
    primary_keys = ("id",)


class GroupsStream(DedupedOffsetStream):
    """Every group and subgroup the token can see (all_available), or the configured groups
    and their descendants."""

    name = "groups"
    path = "/groups"
    primary_keys = ("id",)

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"all_available": "true", "order_by": "id", "sort": "asc"}

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        groups = self._scoped_groups() if self.config.get("groups") else super().get_records(context)
        yield from self.with_children_prefetched(groups, context)

    def _scoped_groups(self) -> t.Iterator[dict]:
        emitted: set[int] = set()
        scope = self.config["groups"]
        for ref in scope:
            try:
                top = self.fetch_one(f"/groups/{_path_ref(ref)}", {"with_projects": "false"})
                descendants = self.fetch_all(
                    f"/groups/{_path_ref(ref)}/descendant_groups",
                    {"all_available": "true", "order_by": "id", "sort": "asc"},
                    ShiftAwareOffsetPaginator(),
                )
                for group in [top, *descendants]:
                    if group["id"] not in emitted:
                        emitted.add(group["id"])
                        yield group
            except AccessError as exc:
                raise ApiError(
                    f"the groups setting names {str(ref)!r}, which this token cannot see ({exc.status}); "
                    "fix the path or id, or the token's access"
                ) from None

    def post_process(self, row: dict, context: Context | None = None) -> dict:
        row.pop("runners_token", None)  # a secret, sent on group details to owners
        row.pop("projects", None)  # deprecated embedded list; the projects stream has them
        row.pop("shared_projects", None)
        return row

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"group_id": record["id"]}


class ChildStream(DataOpsStream):
    """A listing under one parent record. 403/404 (CI disabled, no access) skips that parent
    for this stream with one warning line and is counted; the run goes on."""

    parent_key: str = ""
    # Full-table children keep no per-parent state (it would grow with every project).
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        try:
            yield from super().get_records(context)
        except AccessError as exc:
            self._tap.skips.record(self.name, exc.status)  # type: ignore[attr-defined]
            self.logger.warning(
                "%s: skipping %s %s: %s", self.name, self.parent_key, (context or {}).get(self.parent_key), exc
            )

    def post_process(self, row: dict, context: Context | None = None) -> dict:
        row[self.parent_key] = (context or {})[self.parent_key]
        return row


class ProjectMembersStream(ChildStream):
    """Direct members of each project, with access level and expiry."""

    name = "project_members"
    path = "/projects/{project_id}/members"
    primary_keys = ("project_id", "id")
    parent_stream_type = ProjectsStream
    parent_key = "project_id"


class GroupMembersStream(ChildStream):
    """Direct members of each group, with access level and expiry."""

    name = "group_members"
    path = "/groups/{group_id}/members"
    primary_keys = ("group_id", "id")
    parent_stream_type = GroupsStream
    parent_key = "group_id"


class PipelinesStream(ChildStream):
    """Pipelines of each project, incremental by ``updated_at`` per project.

    Listed in ``updated_at`` order from a cursor (see UpdatedAtCursorPaginator), then each
    new or updated pipeline's detail object, which adds duration, timestamps and user.
    The per-project bookmark is committed when that project's listing is done.
    """

    name = "pipelines"
    path = "/projects/{project_id}/pipelines"
    primary_keys = ("id",)
    parent_stream_type = ProjectsStream
    parent_key = "project_id"
    replication_key = "updated_at"
    is_sorted = False
    state_partitioning_keys: t.ClassVar[list[str]] = ["project_id"]

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"order_by": "updated_at", "sort": "asc"}

    def partition_paginator(self, context: Context | None) -> UpdatedAtCursorPaginator:
        since = self.get_starting_timestamp(context)
        return UpdatedAtCursorPaginator(self.config["page_size"], since.isoformat() if since else None)

    def prefetch(self, context: Context) -> None:
        if context["project_id"] not in self._tap.ci_disabled_projects:  # type: ignore[attr-defined]
            super().prefetch(context)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        project_id = (context or {})["project_id"]
        if project_id in self._tap.ci_disabled_projects:  # type: ignore[attr-defined]
            self._tap.skips.record(self.name, "CI/CD disabled")  # type: ignore[attr-defined]
            return
        jobs = [child for child in self.child_streams if isinstance(child, JobsStream)]

        def detail(listed: dict) -> dict | None:
            try:
                return {**listed, **self.fetch_one(f"/projects/{project_id}/pipelines/{listed['id']}")}
            except AccessError as exc:
                if exc.status != 404:
                    raise
                return None  # deleted between the listing and its detail

        def start_jobs(listed: dict) -> None:
            for stream in jobs:
                stream.prefetch(self.get_child_context(listed, context))

        for listed, pipeline in self.fetcher.map_ordered(detail, super().get_records(context), start_jobs):
            if pipeline is None:
                for stream in jobs:
                    stream.discard_prefetch(self.get_child_context(listed, context))
                continue
            yield pipeline

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"project_id": record["project_id"], "pipeline_id": record["id"]}


class JobsStream(ChildStream):
    """Jobs of each new or updated pipeline, retried ones included."""

    name = "jobs"
    path = "/projects/{project_id}/pipelines/{pipeline_id}/jobs"
    primary_keys = ("id",)
    parent_stream_type = PipelinesStream
    parent_key = "pipeline_id"

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"include_retried": "true"}

    def post_process(self, row: dict, context: Context | None = None) -> dict:
        row["project_id"] = (context or {})["project_id"]
        row["pipeline_id"] = (context or {})["pipeline_id"]
        return row


STREAM_TYPES: list[type[DataOpsStream]] = [
    ProjectsStream,
    NamespacesStream,
    GroupsStream,
    ProjectMembersStream,
    GroupMembersStream,
    PipelinesStream,
    JobsStream,
]
