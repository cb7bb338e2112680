"""The DataOps.live streams: what each one fetches and how it is keyed.

Scope (``scope`` setting, see ``run.Scope``): by default the projects and groups the token's
user is a member of (GitLab's ``membership=true`` and ``GET /groups``), never the rest of a
shared instance; ``instance`` lists everything the token can see. ``groups``/``projects``
narrow either.

Full-table streams (projects, groups, namespaces, and the members streams) are read
completely every run; every record carries the run's version, and once the run is complete
an ACTIVATE_VERSION per stream tells the loader that rows without it are gone at the source.
Pipelines are read every run for every CI-enabled project in scope, from a per-project
``updated_at`` bookmark: scheduled and API pipelines, retries and pipelines finishing do not
move a project's ``last_activity_at``, so nothing else would find them.

Request cost of a run (README, "What a run costs"): P projects, G groups, N namespaces listed
for the token, M namespaces in scope but not listed, C CI-enabled projects, U new or updated
pipelines:
  ceil(P/100) + ceil(G/100) + ceil(N/100) + M (groups among them) + 2P (members, members/all)
  + G (group members) + 2C (pipelines, child pipelines) + 2U (details, jobs) [+ U bridges].
"""

from __future__ import annotations

import itertools
import typing as t
from datetime import UTC, datetime
from urllib.parse import quote

from typing_extensions import override

from tap_dataops.client import DataOpsStream, RecordPages
from tap_dataops.errors import AccessError, ApiError
from tap_dataops.pagination import ShiftAwareOffsetPaginator, UpdatedAtCursorPaginator, same_instant
from tap_dataops.run import INSTANCE, MEMBERSHIP

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

# The fields of GitLab's NamespaceBasic entity: what a project embeds of its namespace, and
# all the API tells a member of a project about a namespace it may not read.
NAMESPACE_BASIC = ("id", "name", "path", "kind", "full_path", "parent_id", "avatar_url", "web_url")


def _path_ref(ref: str | int) -> str:
    """A project or group given by id or by full path, as one URL path segment."""
    return quote(str(ref), safe="")


def _within(full_path: str, groups: t.Iterable[str]) -> bool:
    return any(full_path == group or full_path.startswith(group + "/") for group in groups)


class VersionedStream(DataOpsStream):
    """A full-table stream, read completely every run: the loader drops what is gone."""

    versioned = True


class ProjectsStream(VersionedStream):
    """The projects in scope, with statistics.

    ``GET /projects?membership=true``: the projects the token's user is a member of,
    directly, through a group or one of its ancestors, or through a share (without it,
    GitLab lists every public and internal project of the instance: other customers'
    too; ``ProjectsFinder``, doc/api/projects.md). Keyset pagination ordered by id: a
    cursor (``id_after``) instead of an offset, so projects created or deleted mid-listing
    shift nothing, and there is no offset cap.
    """

    name = "projects"
    path = "/projects"
    primary_keys = ("id",)

    @override
    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"order_by": "id", "sort": "asc", "statistics": "true"}
        if self.run.scope.mode == MEMBERSHIP:
            params["membership"] = "true"
        if not self.config.get("include_archived", True):
            params["archived"] = "false"
        return params

    @override
    def first_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"pagination": "keyset", **super().first_params(context)}

    @override
    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        scope = self.run.scope
        if scope.project_refs and not scope.group_refs:
            pages = self._named_pages(set())  # only named projects: no need to list them all
        elif scope.group_refs:
            paths = [named_group(self, ref)["full_path"] for ref in scope.group_refs]
            pages = self._within_groups(super().record_pages(context, lookahead=lookahead), paths)
        else:
            pages = super().record_pages(context, lookahead=lookahead)
        return self._complete(pages)

    def _within_groups(self, listing: RecordPages, paths: list[str]) -> RecordPages:
        seen: set[str] = set()
        for page in listing:
            kept = [project for project in page if _within(project["namespace"]["full_path"], paths)]
            seen.update(str(project["id"]) for project in kept)
            seen.update(project["path_with_namespace"] for project in kept)
            yield kept
        yield from self._named_pages(seen)

    def _named_pages(self, seen: set[str]) -> RecordPages:
        named: list[dict] = []
        for ref in self.run.scope.project_refs:
            if str(ref) in seen:
                continue
            try:
                project = self.fetch_one(f"/projects/{_path_ref(ref)}", {"statistics": "true"})
            except AccessError as exc:
                raise ApiError(
                    f"the projects setting names {str(ref)!r}, which this token cannot see ({exc.status}); "
                    "fix the path or id, or the token's access"
                ) from None
            if project.get("archived") and not self.config.get("include_archived", True):
                continue
            if str(project["id"]) in seen:
                continue
            seen.update((str(project["id"]), project["path_with_namespace"]))
            named.append(project)
        if named:
            yield named

    def _complete(self, pages: RecordPages) -> RecordPages:
        yield from pages
        self.run.scope.projects_complete = True

    @override
    def observe_page(self, records: list[dict]) -> None:
        scope = self.run.scope
        for project in records:
            scope.projects.add(project["id"])
            namespace = project.get("namespace") or {}
            if namespace.get("id") is not None:
                scope.project_namespaces.setdefault(namespace["id"], namespace)
            if project.get("builds_access_level") == "disabled" or project.get("jobs_enabled") is False:
                scope.ci_disabled_projects.add(project["id"])
            if not project.get("statistics"):
                scope.without_statistics += 1

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        # The runner registration token is a secret: it never leaves the tap.
        row.pop("runners_token", None)
        return row

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        # Only the key: the SDK commits a child's per-project bookmark when its context
        # equals its state partition ({"project_id": ...}).
        return {"project_id": record["id"]}


class GroupsStream(VersionedStream):
    """The groups in scope: ``GET /groups`` as GitLab answers it for the token's user.

    For a non-administrator GitLab lists the groups the user is a member of and their
    descendants, the groups of the projects and shares the user reaches, and every ancestor
    of those (``GroupsFinder``; ``all_available`` is false by default). The ``instance``
    scope adds every public and internal group (``all_available=true``).
    """

    name = "groups"
    path = "/groups"
    primary_keys = ("id",)

    @override
    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        params = {"order_by": "id", "sort": "asc"}
        if self.run.scope.mode == INSTANCE:
            params["all_available"] = "true"
        return params

    @override
    def new_paginator(self, context: Context | None) -> ShiftAwareOffsetPaginator:
        return ShiftAwareOffsetPaginator()

    @override
    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        if self.run.scope.group_refs:
            return self._complete(self._named_pages())
        return self._complete(super().record_pages(context, lookahead=lookahead))

    def _named_pages(self) -> RecordPages:
        emitted: set[int] = set()
        for ref in self.run.scope.group_refs:
            descendants = self.fetch_pages(
                f"{self.url_base}/groups/{_path_ref(ref)}/descendant_groups",
                {"per_page": self.run.page_size, **self.listing_params(None)},
                ShiftAwareOffsetPaginator(),
            )
            for page in itertools.chain([[named_group(self, ref)]], descendants):
                new = [group for group in page if group["id"] not in emitted]
                emitted.update(group["id"] for group in new)
                yield new

    def _complete(self, pages: RecordPages) -> RecordPages:
        yield from pages
        self.run.scope.groups_complete = True

    @override
    def observe_page(self, records: list[dict]) -> None:
        for group in records:
            self.run.scope.groups[group["id"]] = group

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        row.pop("runners_token", None)  # a secret, sent on group details to owners
        row.pop("projects", None)  # deprecated embedded list; the projects stream has them
        row.pop("shared_projects", None)
        return row

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"group_id": record["id"]}


def named_group(stream: DataOpsStream, ref: str) -> dict:
    """A group of the groups setting (asked for once per run)."""
    found = stream.run.named_groups.get(ref)
    if found is None:
        try:
            found = stream.fetch_one(f"/groups/{_path_ref(ref)}", {"with_projects": "false"})
        except AccessError as exc:
            raise ApiError(
                f"the groups setting names {str(ref)!r}, which this token cannot see ({exc.status}); "
                "fix the path or id, or the token's access"
            ) from None
        stream.run.named_groups[ref] = found
    return found


class NamespacesStream(VersionedStream):
    """The namespaces in scope: the groups in scope and the namespaces holding a project in scope
    (with the ``instance`` scope, also every other namespace the token may list).


    ``GET /namespaces`` lists, for a non-administrator, only the user's own namespace and the
    groups with a direct membership (``User#namespaces``, doc/api/namespaces.md). A group in
    scope that it does not list is asked for (``GET /namespaces/:id``: members of an
    ancestor may read it); where the API refuses (a group seen only through one of its
    projects, another user's personal namespace), the record is the ``namespace`` object
    GitLab embeds in projects (``NamespaceBasic``): all the API tells this token.
    """

    name = "namespaces"
    path = "/namespaces"
    primary_keys = ("id",)

    @override
    def new_paginator(self, context: Context | None) -> ShiftAwareOffsetPaginator:
        return ShiftAwareOffsetPaginator()

    @override
    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        self.ensure_listed("projects")
        self.ensure_listed("groups")
        scope = self.run.scope
        wanted: dict[int, dict] = dict(scope.project_namespaces)
        for group_id, group in scope.groups.items():
            wanted.setdefault(group_id, {**{key: group.get(key) for key in NAMESPACE_BASIC}, "kind": "group"})
        return self._in_scope(super().record_pages(context, lookahead=lookahead), wanted)

    def _in_scope(self, listing: RecordPages, wanted: dict[int, dict]) -> RecordPages:
        everything = self.run.scope.mode == INSTANCE and not self.run.scope.narrowed
        for page in listing:
            kept = [namespace for namespace in page if everything or namespace["id"] in wanted]
            for namespace in kept:
                wanted.pop(namespace["id"], None)
            yield kept


        def detail(basic: dict) -> dict:
            if basic.get("kind") != "group":
                return basic  # another user's personal namespace: GitLab answers 404
            try:
                return self.fetch_one(f"/namespaces/{basic['id']}")
            except AccessError:
                return {key: basic.get(key) for key in NAMESPACE_BASIC}

        rest = [wanted[namespace_id] for namespace_id in sorted(wanted)]
        if rest:
            yield [found for _, found in self.run.fetcher.map_ordered(detail, rest)]


class ChildStream(DataOpsStream):
    """A listing under one parent record. 403/404 (CI disabled, no access) skips that parent
    for this stream, counted and reported in one warning per stream at the end; the run goes on."""

    parent_key: str = ""
    # Full-table children keep no per-parent state (it would grow with every project).
    state_partitioning_keys: t.ClassVar[list[str]] = []

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        try:
            yield from super().get_records(context)
        except AccessError as exc:
            self.run.skips.record(self.name, exc.status)
            self.logger.debug(
                "%s: skipping %s %s: %s", self.name, self.parent_key, (context or {}).get(self.parent_key), exc
            )

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        row[self.parent_key] = (context or {})[self.parent_key]
        return row


class ProjectMembersStream(ChildStream):
    """Direct members of each project, with access level and expiry (``GET /projects/:id/members``)."""

    name = "project_members"
    path = "/projects/{project_id}/members"
    primary_keys = ("project_id", "id")
    parent_stream_type = ProjectsStream
    parent_key = "project_id"
    versioned = True


class ProjectMembersAllStream(ChildStream):
    """Everyone with access to each project, as ``GET /projects/:id/members/all`` answers.

    Direct members, members inherited from the project's ancestor groups and members of
    the groups the project (or an ancestor) is shared with, each once at the access level
    GitLab grants (``MembersFinder``, doc/api/members.md). One request per project: the
    exact answer, where computing it from direct members would need the members of private
    ancestor groups, which GitLab does not show to members of a subgroup.
    """

    name = "project_members_all"
    path = "/projects/{project_id}/members/all"
    primary_keys = ("project_id", "id")
    parent_stream_type = ProjectsStream
    parent_key = "project_id"
    versioned = True


class GroupMembersStream(ChildStream):
    """Direct members of each group in scope, with access level and expiry.

    A private ancestor the user is not a member of is listed by ``GET /groups`` but its
    members are not readable (404): counted as skipped.
    """

    name = "group_members"
    path = "/groups/{group_id}/members"
    primary_keys = ("group_id", "id")
    parent_stream_type = GroupsStream
    parent_key = "group_id"
    versioned = True


class PipelinesStream(ChildStream):
    """Pipelines of each CI-enabled project in scope, incremental by ``updated_at`` per project.

    Read every run: ``last_activity_at`` does not move for scheduled or API pipelines,
    retries or pipelines finishing. Two listings per project from its bookmark: the
    pipelines, and the child pipelines GitLab leaves out of that listing unless asked for
    (``source=parent_pipeline``, ``PipelinesFinder``; GitLab 17.0 and later). Listed in
    ``updated_at`` order from a cursor (see UpdatedAtCursorPaginator); ``updated_after`` is
    inclusive (``UpdatedAtFilterable``), so the pipelines at the bookmark's instant that the
    last run emitted are remembered in the bookmark and not emitted again. Then each new or
    updated pipeline's detail object, which adds duration, timestamps and user. The
    per-project bookmark is committed when that project's listings are done.
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

    def _bookmark(self, context: Context | None) -> tuple[str | None, set[int]]:
        """Where this project's listings start, and the pipelines already emitted at that instant."""
        since = self.get_starting_timestamp(context)
        if since is None:
            return None, set()
        start = since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        state = self.get_context_state(context)
        emitted = set(state.get("ids_at_bookmark") or ()) if state.get("replication_key_value") else set()
        return start, emitted

    @override
    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        start, emitted = self._bookmark(context)
        url, params = self.get_url(context), self.first_params(context)
        listings = [
            self.fetch_pages(url, extra, UpdatedAtCursorPaginator(self.run.page_size, start, emitted),
                             lookahead=lookahead)
            for extra in (params, {**params, "source": "parent_pipeline"})
        ]
        return itertools.chain(*listings)

    @override
    def prefetch(self, context: Context) -> None:
        if context["project_id"] not in self.run.scope.ci_disabled_projects:
            super().prefetch(context)

    @override
    def prefetch_children(self, records: list[dict], context: Context | None) -> None:
        """Jobs and bridges are started with each pipeline's detail (get_records), in the same order."""

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        project_id = (context or {})["project_id"]
        if project_id in self.run.scope.ci_disabled_projects:
            self.run.skips.record(self.name, "CI/CD disabled")
            return
        children = [child for child in self.child_streams
                    if isinstance(child, DataOpsStream) and (child.selected or child.has_selected_descendents)
                    and self.run.fetcher.concurrent]

        def detail(listed: dict) -> dict | None:
            try:
                return {**listed, **self.fetch_one(f"/projects/{project_id}/pipelines/{listed['id']}")}
            except AccessError as exc:
                if exc.status != 404:
                    raise
                return None  # deleted between the listing and its detail

        def start_children(listed: dict) -> None:
            for stream in children:
                stream.prefetch(self.get_child_context(listed, context))

        newest: str | None = None
        at_newest: set[int] = set()
        for listed, pipeline in self.run.fetcher.map_ordered(detail, super().get_records(context), start_children):
            if pipeline is None:
                for stream in children:
                    stream.discard_prefetch(self.get_child_context(listed, context))
                continue
            updated = listed.get("updated_at")
            if updated is not None and (newest is None or updated > newest):
                newest, at_newest = updated, set()
            if updated == newest:
                at_newest.add(listed["id"])
            yield pipeline
        self._remember_bookmark_ids(context, newest, at_newest)

    def _remember_bookmark_ids(self, context: Context | None, newest: str | None, at_newest: set[int]) -> None:
        """Keep, beside the bookmark the SDK commits, the ids emitted at its instant."""
        if newest is None:
            return  # nothing new: the bookmark and its ids stay as they were
        start, emitted = self._bookmark(context)
        if start is not None and same_instant(start, newest):
            at_newest |= emitted
        self.get_context_state(context)["ids_at_bookmark"] = sorted(at_newest)

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


class BridgesStream(JobsStream):
    """Trigger jobs of each new or updated pipeline, with the pipeline each one started.

    GitLab lists them apart from the jobs (``GET .../pipelines/:id/bridges``; doc/api/jobs.md).
    Not selected by default: one request per new or updated pipeline.
    """

    name = "bridges"
    path = "/projects/{project_id}/pipelines/{pipeline_id}/bridges"
    selected_by_default = False

    @override
    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        return {}


class RemovedProjectsStream(VersionedStream):
    """Projects that left the scope since an earlier run; no request.

    A project gone from a complete projects listing leaves the projects and members tables
    (ACTIVATE_VERSION); its pipelines and jobs stay, as history, and this table says they
    belong to a project that is gone. Known projects are those with a pipelines bookmark;
    a project that comes back leaves this table again.
    """

    name = "removed_projects"
    primary_keys = ("id",)

    @override
    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        self.ensure_listed("projects")
        return self._removed()

    def _removed(self) -> RecordPages:
        state = self.stream_state
        removed: dict[str, str] = dict(state.get("removed") or {})
        partitions = self.tap_state.get("bookmarks", {}).get("pipelines", {}).get("partitions", [])
        known = {str(partition["context"].get("project_id")) for partition in partitions}
        in_scope = {str(project_id) for project_id in self.run.scope.projects}
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for project_id in known - in_scope:
            removed.setdefault(project_id, now)
        for project_id in in_scope & set(removed):
            del removed[project_id]
        state["removed"] = removed  # read again by the next run
        yield [{"id": int(project_id), "removed_at": removed[project_id]} for project_id in sorted(removed, key=int)]


STREAM_TYPES: list[type[DataOpsStream]] = [
    ProjectsStream,
    GroupsStream,
    NamespacesStream,
    ProjectMembersStream,
    ProjectMembersAllStream,
    GroupMembersStream,
    PipelinesStream,
    JobsStream,
    BridgesStream,
    RemovedProjectsStream,
]

# The streams' names, in sync order: the one list tests and benchmarks use too.
STREAM_NAMES: tuple[str, ...] = tuple(vars(stream_type)["name"] for stream_type in STREAM_TYPES)
