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

from typing_extensions import override

from tap_dataops.client import DataOpsStream, RecordPages
from tap_dataops.errors import AccessError, ApiError
from tap_dataops.pagination import ShiftAwareOffsetPaginator, UpdatedAtCursorPaginator

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


def _path_ref(ref: str | int) -> str:
    """A project or group given by id or by full path, as one URL path segment."""
    return quote(str(ref), safe="")


class DedupedOffsetStream(DataOpsStream):
    """An offset listing read again when it changes mid-walk; ids already emitted are dropped."""

    @override
    def new_paginator(self, context: Context | None) -> ShiftAwareOffsetPaginator:
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

    @override
    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"order_by": "id", "sort": "asc", "statistics": "true"}
        if not self.config.get("include_archived", True):
            params["archived"] = "false"
        since = self.get_starting_timestamp(context)
        if since is not None:
            params["last_activity_after"] = since.isoformat()
        return params

    @override
    def first_params(self, context: Context | None) -> dict[str, t.Any]:
        # Keyset on the main listing only: scoped listings (/groups/:id/projects) reuse
        # listing_params with offset pagination.
        return {"pagination": "keyset", **super().first_params(context)}

    @override
    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        if self.config.get("projects") or self.config.get("groups"):
            return self._scoped_pages(self.listing_params(context))
        return super().record_pages(context, lookahead=lookahead)

    def _scoped_pages(self, params: dict[str, t.Any]) -> RecordPages:
        emitted: set[int] = set()
        for page in self._pages_in_scope(params):
            new = [project for project in page if project["id"] not in emitted]
            emitted.update(project["id"] for project in new)
            yield new

    def _pages_in_scope(self, params: dict[str, t.Any]) -> RecordPages:
        since = params.get("last_activity_after")
        named = []
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
            named.append(project)
        if named:
            yield named
        for ref in self.config.get("groups") or []:
            try:
                yield from self.fetch_pages(
                    f"{self.url_base}/groups/{_path_ref(ref)}/projects",
                    {"per_page": self.run.page_size, **params, "include_subgroups": "true", "with_shared": "false"},
                    ShiftAwareOffsetPaginator(),
                )
            except AccessError as exc:
                raise ApiError(
                    f"the groups setting names {str(ref)!r}, which this token cannot see ({exc.status}); "
                    "fix the path or id, or the token's access"
                ) from None

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        # The runner registration token is a secret: it never leaves the tap.
        row.pop("runners_token", None)
        return row

    @override
    def observe_page(self, records: list[dict]) -> None:
        for project in records:
            if project.get("builds_access_level") == "disabled" or project.get("jobs_enabled") is False:
                self.run.ci_disabled_projects.add(project["id"])

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
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

    @override
    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"all_available": "true", "order_by": "id", "sort": "asc"}

    @override
    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        if self.config.get("groups"):
            return self._scoped_pages()
        return super().record_pages(context, lookahead=lookahead)

    def _scoped_pages(self) -> RecordPages:
        emitted: set[int] = set()
        for ref in self.config["groups"]:
            try:
                top = self.fetch_one(f"/groups/{_path_ref(ref)}", {"with_projects": "false"})
                descendants = self.fetch_pages(
                    f"{self.url_base}/groups/{_path_ref(ref)}/descendant_groups",
                    {"per_page": self.run.page_size, "all_available": "true", "order_by": "id", "sort": "asc"},
                    ShiftAwareOffsetPaginator(),
                )
                for page in [[top], *descendants]:
                    new = [group for group in page if group["id"] not in emitted]
                    emitted.update(group["id"] for group in new)
                    yield new
            except AccessError as exc:
                raise ApiError(
                    f"the groups setting names {str(ref)!r}, which this token cannot see ({exc.status}); "
                    "fix the path or id, or the token's access"
                ) from None

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        row.pop("runners_token", None)  # a secret, sent on group details to owners
        row.pop("projects", None)  # deprecated embedded list; the projects stream has them
        row.pop("shared_projects", None)
        return row

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"group_id": record["id"]}


class ChildStream(DataOpsStream):
    """A listing under one parent record. 403/404 (CI disabled, no access) skips that parent
    for this stream with one warning line and is counted; the run goes on."""

    parent_key: str = ""
    # Full-table children keep no per-parent state (it would grow with every project).
    state_partitioning_keys: t.ClassVar[list[str]] = []

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        try:
            yield from super().get_records(context)
        except AccessError as exc:
            self.run.skips.record(self.name, exc.status)
            self.logger.warning(
                "%s: skipping %s %s: %s", self.name, self.parent_key, (context or {}).get(self.parent_key), exc
            )

    @override
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

    @override
    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"order_by": "updated_at", "sort": "asc"}

    @override
    def new_paginator(self, context: Context | None) -> UpdatedAtCursorPaginator:
        since = self.get_starting_timestamp(context)
        return UpdatedAtCursorPaginator(self.run.page_size, since.isoformat() if since else None)

    @override
    def prefetch(self, context: Context) -> None:
        if context["project_id"] not in self.run.ci_disabled_projects:
            super().prefetch(context)

    @override
    def prefetch_children(self, records: list[dict], context: Context | None) -> None:
        """Jobs are started with each pipeline's detail (get_records), in the same order."""

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        project_id = (context or {})["project_id"]
        if project_id in self.run.ci_disabled_projects:
            self.run.skips.record(self.name, "CI/CD disabled")
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

        for listed, pipeline in self.run.fetcher.map_ordered(detail, super().get_records(context), start_jobs):
            if pipeline is None:
                for stream in jobs:
                    stream.discard_prefetch(self.get_child_context(listed, context))
                continue
            yield pipeline

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"project_id": record["project_id"], "pipeline_id": record["id"]}


class JobsStream(ChildStream):
    """Jobs of each new or updated pipeline, retried ones included."""

    name = "jobs"
    path = "/projects/{project_id}/pipelines/{pipeline_id}/jobs"
    primary_keys = ("id",)
    parent_stream_type = PipelinesStream
    parent_key = "pipeline_id"

    @override
    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"include_retried": "true"}

    @override
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
# The streams' names, in sync order: the one list tests and benchmarks use too.
STREAM_NAMES: tuple[str, ...] = tuple(vars(stream_type)["name"] for stream_type in STREAM_TYPES)
