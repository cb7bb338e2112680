"""The API's endpoints: routing, query parameters, scope per viewer, ordering and pagination.

``Api.dispatch`` maps (path, query, request context) to a ``Page`` or raises ``ApiError`` (an error
answer) or ``Redirect`` (a 301 for a moved project). The data comes from ``tenant.py``; who may see
what from ``access.py``; this module decides which records, in which order, on which page. Each
behaviour names the GitLab source it follows in the docstring of the method that models it.
"""

from __future__ import annotations

import base64
import json
import math
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode

from . import ci as ci_mod
from .access import Access, Viewer, group_members_all, project_members_all
from .model import VISIBILITY, Namespace, Project
from .tenant import Tenant
from .util import jbytes

API_PREFIX = "/api/v4"
JOB_STATUSES = ("created", "pending", "running", "failed", "success", "canceled", "skipped",
                "waiting_for_resource", "manual", "scheduled", "preparing", "canceling")
PIPELINE_SCOPES = ("running", "pending", "finished", "branches", "tags")
PIPELINE_SOURCES = ("unknown", "push", "web", "trigger", "schedule", "api", "external", "pipeline", "chat", "webide",
                    "merge_request_event", "external_pull_request_event", "parent_pipeline", "ondemand_dast_scan",
                    "ondemand_dast_validation", "security_orchestration_policy", "container_registry_push",
                    "duo_workflow", "pipeline_execution_policy_schedule")
ACCESS_VALUES = (10, 15, 20, 30, 40, 50)
REDACTED_PARAMS = ("private_token", "job_token", "access_token", "token")
# Routes a CI job token authenticates (``route_setting :authentication, job_token_allowed: true``):
# GET /job always; the pipeline routes on recent versions (lib/api/ci/pipelines.rb, newest).
JOB_ROUTES = frozenset(("job",))
JOB_PIPELINE_ROUTES = frozenset(("pipelines", "pipeline", "pipeline_jobs", "pipeline_bridges"))


class ApiError(Exception):
    """An error answer: status, body (a dict for JSON, bytes for a raw body) and extra headers."""

    def __init__(self, status: int, body, headers=None, ctype: str | None = "application/json"):
        super().__init__(status, body)
        self.status, self.body, self.headers, self.ctype = status, body, list(headers or ()), ctype


class Redirect(Exception):
    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def message(status: int, text: str) -> ApiError:
    return ApiError(status, {"message": text})


def _invalid(name: str) -> ApiError:
    return ApiError(400, {"error": f"{name} is invalid"})


def _not_valid_value(name: str) -> ApiError:
    return ApiError(400, {"error": f"{name} does not have a valid value"})


UNAUTHORIZED = {"message": "401 Unauthorized"}


# --- query parameters -------------------------------------------------------------------------


class Query:
    """The request's query string: ordered pairs, last-wins look-ups and typed getters."""

    def __init__(self, raw: str):
        self.raw = raw
        self.pairs = parse_qsl(raw, keep_blank_values=True)
        self.values = dict(self.pairs)

    def get(self, name, default=None):
        return self.values.get(name, default)

    def many(self, name) -> list[str]:
        """Repeated ``name[]`` (or ``name``, comma separated) values."""
        out = [v for k, v in self.pairs if k == f"{name}[]"]
        if not out and name in self.values:
            out = [v for v in self.values[name].split(",") if v]
        return out

    def boolean(self, name, default=None):
        raw = self.values.get(name)
        if raw is None or raw == "":
            return default
        low = raw.lower()
        if low in ("true", "1", "t", "yes", "y"):
            return True
        if low in ("false", "0", "f", "no", "n"):
            return False
        raise _invalid(name)

    def integer(self, name, default=None):
        raw = self.values.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise _invalid(name) from None

    def timestamp_ms(self, name):
        raw = self.values.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = datetime.fromisoformat(raw.strip().replace(" ", "+").replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(name) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)

    def choice(self, name, allowed, default):
        raw = self.values.get(name)
        if raw is None or raw == "":
            return default
        if raw not in allowed:
            raise _not_valid_value(name)
        return raw

    def for_log(self) -> dict:
        out: dict[str, str] = {}
        for k, v in self.pairs:
            if k in REDACTED_PARAMS:
                v = "[REDACTED]"
            out[k] = f"{out[k]},{v}" if k in out else v
        return out


# --- pagination -------------------------------------------------------------------------------


class Page(NamedTuple):
    status: int
    headers: list
    body: bytes


class Paginator:
    """GitLab's offset and keyset pagination over an already filtered and ordered list."""

    def __init__(self, base_url: str, count_limit: int, offset_cap: int):
        self.base_url = base_url
        self.count_limit = count_limit
        self.offset_cap = offset_cap

    @staticmethod
    def page_params(q: Query) -> tuple[int, int]:
        page = max(1, q.integer("page", 1))
        per_page = min(100, max(1, q.integer("per_page", 20)))
        return page, per_page

    def link(self, path: str, q: Query, **changes) -> str:
        pairs, seen = [], set()
        for k, v in q.pairs:
            if k in REDACTED_PARAMS:
                continue
            if k in changes:
                if k in seen:
                    continue
                seen.add(k)
                v = changes[k]
                if v is None:
                    continue
            pairs.append((k, str(v)))
        for k, v in changes.items():
            if k not in seen and v is not None:
                pairs.append((k, str(v)))
        return f"{self.base_url}{path}?{urlencode(pairs)}"

    def offset(self, path: str, q: Query, items: list, render, record_type: str | None = None,
               count: bool = True) -> Page:
        """Offset pagination (``Gitlab::Pagination::OffsetPagination``); ``count=False`` is
        ``without_count`` (no ``X-Total``, ``X-Total-Pages`` or ``last`` link); ``record_type`` caps
        the offset with GitLab's 405 (``PaginationStrategies`` offset limit)."""
        page, per_page = self.page_params(q)
        if record_type is not None and self.offset_cap and page * per_page > self.offset_cap:
            raise ApiError(405, {"error": (
                f"Offset pagination has a maximum allowed offset of {self.offset_cap} for requests that return "
                f"objects of type {record_type}. Remaining records can be retrieved using keyset pagination.")})
        total = len(items)
        start = (page - 1) * per_page
        chunk = items[start:start + per_page]
        has_next = start + per_page < total
        counted = count and total <= self.count_limit
        headers = [
            ("X-Page", str(page)), ("X-Per-Page", str(per_page)),
            ("X-Next-Page", str(page + 1) if has_next else ""),
            ("X-Prev-Page", str(page - 1) if page > 1 else ""),
        ]
        links = []
        if page > 1:
            links.append(f'<{self.link(path, q, page=page - 1, per_page=per_page)}>; rel="prev"')
        if has_next:
            links.append(f'<{self.link(path, q, page=page + 1, per_page=per_page)}>; rel="next"')
        links.append(f'<{self.link(path, q, page=1, per_page=per_page)}>; rel="first"')
        if counted:
            total_pages = max(1, math.ceil(total / per_page))
            headers += [("X-Total", str(total)), ("X-Total-Pages", str(total_pages))]
            links.append(f'<{self.link(path, q, page=total_pages, per_page=per_page)}>; rel="last"')
        headers.append(("Link", ", ".join(links)))
        return Page(200, headers, b"[" + b",".join(render(item) for item in chunk) + b"]")

    def keyset(self, path: str, q: Query, items: list, render, next_changes) -> Page:
        """One keyset page: the first per_page items; ``next_changes(last)`` gives the next link's params."""
        per_page = min(100, max(1, q.integer("per_page", 20)))
        chunk = items[:per_page]
        headers = [("X-Per-Page", str(per_page))]
        if len(items) > per_page:
            link = f'<{self.link(path, q, **next_changes(chunk[-1]))}>; rel="next"'
            headers += [("Link", link), ("Links", link)]
        return Page(200, headers, b"[" + b",".join(render(item) for item in chunk) + b"]")


def _cursor(values: dict) -> str:
    return base64.urlsafe_b64encode(jbytes({**values, "_kd": "n"})).decode().rstrip("=")


def _read_cursor(q: Query) -> dict | None:
    raw = q.get("cursor")
    if not raw:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(found, dict):
            raise ValueError(raw)
        return found
    except (ValueError, TypeError):
        raise ApiError(400, {"message": "400 Bad request - Invalid cursor parameter"}) from None


# --- the API ----------------------------------------------------------------------------------

PROJECT_ORDER = {
    "id": lambda p: p.id,
    "name": lambda p: (p.name, p.id),
    "path": lambda p: (p.path, p.id),
    "created_at": lambda p: (p.created_ms, p.id),
    "updated_at": lambda p: (p.updated_ms, p.id),
    "last_activity_at": lambda p: (p.last_activity_ms, p.id),
}
GROUP_ORDER = {
    "name": lambda g: (g.name, g.id),
    "path": lambda g: (g.path, g.id),
    "id": lambda g: g.id,
    "similarity": lambda g: (g.name, g.id),
}
PIPELINE_ORDER = {
    "id": lambda x: x.id,
    "status": lambda x: (x.status, x.id),
    "ref": lambda x: (x.ref, x.id),
    "updated_at": lambda x: (x.updated_ms, x.id),
    "user_id": lambda x: (x.user.id, x.id),
}
KEYSET_UNAVAILABLE = ApiError(405, {"error": "Keyset pagination is not yet available for this type of request"})


class Req(NamedTuple):
    """One request as the handlers see it: the path below /api/v4, its segments, the query, the context."""

    rel: str
    parts: list
    q: Query
    ctx: Ctx


class Ctx:
    """One request's context: who asks, their access, and the rate-limit hook for endpoint rules."""

    __slots__ = ("access", "job_auth", "limit", "raw_path", "viewer")

    def __init__(self, viewer: Viewer, access: Access, job_auth: bool, limit, raw_path: str):
        self.viewer, self.access, self.job_auth, self.limit, self.raw_path = viewer, access, job_auth, limit, raw_path


def route_of(parts: list[str]) -> str | None:
    """The route name of a path split into segments (decides job-token auth and endpoint limits)."""
    n = len(parts)
    head = parts[0] if parts else ""
    if head == "projects":
        if n == 1:
            return "projects"
        if n == 2:
            return "project"
        sub = parts[2]
        if sub == "members":
            if n == 3:
                return "project_members"
            return "project_members_all" if n == 4 and parts[3] == "all" else None
        if sub == "pipelines":
            if n == 3:
                return "pipelines"
            if n == 4:
                return "pipeline"
            if n == 5:
                return {"jobs": "pipeline_jobs", "bridges": "pipeline_bridges"}.get(parts[4])
        if sub == "jobs":
            return {3: "project_jobs", 4: "project_job"}.get(n)
        return None
    if head == "groups":
        if n == 1:
            return "groups"
        if n == 2:
            return "group"
        if n == 3:
            return {"subgroups": "subgroups", "descendant_groups": "descendant_groups", "members": "group_members",
                    "projects": "group_projects"}.get(parts[2])
        if n == 4 and parts[2:] == ["members", "all"]:
            return "group_members_all"
        return None
    if head == "namespaces":
        return {1: "namespaces", 2: "namespace"}.get(n)
    if head in ("job", "user") and n == 1:
        return head
    return None


class Api:
    """Maps (path, query, context) to an answer. Stateless apart from a small cache of filtered listings."""

    def __init__(self, tenant: Tenant, paginator: Paginator, base_url: str):
        self.tenant = tenant
        self.pages = paginator
        self.base_url = base_url
        self._listing_cache: dict[tuple, list] = {}

    def dispatch(self, rel: str, q: Query, ctx: Ctx) -> Page:
        parts = [unquote(s) for s in rel.strip("/").split("/")] if rel.strip("/") else []
        route = route_of(parts)
        handler = getattr(self, f"r_{route}", None) if route else None
        if handler is None:
            raise message(404, "404 Not Found")
        return handler(Req(rel, parts, q, ctx))

    # -- look-ups ----------------------------------------------------------------------------

    def _project(self, ref: str, ctx: Ctx, parts: list[str], q: Query) -> Project:
        """``find_project!`` (lib/api/helpers.rb): by id or full path; an old path of a renamed or
        moved project answers 301 to the same route with the numeric id, query kept
        (``project_moved?``, ``url_with_project_id``), after the read check; no access is 404."""
        t = self.tenant
        project = t.project(ref)
        moved = False
        if project is None and "/" in ref:
            pid = t.redirects.get(ref)
            if pid is None:
                lowered = ref.lower()
                pid = next((v for k, v in t.redirects.items() if k.lower() == lowered), None)
                if pid is None:
                    pid = next((v for k, v in t.project_by_path.items() if k.lower() == lowered), None)
                    project = t.projects.get(pid) if pid is not None else None
                    pid = None
            if pid is not None:
                project, moved = t.projects.get(pid), True
        if project is None or not ctx.access.can_read_project(project):
            raise message(404, "404 Project Not Found")
        if ctx.job_auth:
            self._job_token_scope(project, ctx)
        if moved:
            rest = "/".join(parts[2:])
            location = f"{self.base_url}{API_PREFIX}/projects/{project.id}" + (f"/{rest}" if rest else "")
            if q.raw:
                location += "?" + q.raw
            raise Redirect(location)
        return project

    def _job_token_scope(self, project: Project, ctx: Ctx) -> None:
        """A job token reaches only its own project and projects that allow-list it
        (``handle_job_token_failure!``; doc/ci/jobs/ci_job_token.md, "Control job token access")."""
        source = ctx.viewer.job.pipeline.project
        if project.id != source.id and source.id not in project.job_token_allowlist:
            raise ApiError(403, {"message": f"403 Forbidden - Authentication by CI/CD job token not allowed from "
                                            f"{source.path_with_namespace} to {project.path_with_namespace}."})

    def _readable_children(self, project: Project, builds: bool, ctx: Ctx) -> None:
        if project.not_found:  # single layout: listed, but its children answer 404
            raise message(404, "404 Project Not Found")
        if builds and not ctx.access.can_read_builds(project):
            raise message(403, "403 Forbidden")

    def _group(self, ref: str, ctx: Ctx) -> Namespace:
        """``find_group!``: needs ``read_group`` (public, internal for signed-in users, membership,
        or a visible project inside it: ``GroupPolicy``), else 404."""
        group = self.tenant.group(ref)
        if group is None or not ctx.access.can_read_group(group):
            raise message(404, "404 Group Not Found")
        return group

    @staticmethod
    def _authenticated(ctx: Ctx) -> None:
        """``before { authenticate! }``: anonymous requests (and job tokens off their routes) get 401."""
        if not ctx.viewer.signed_in or (ctx.viewer.job is not None and not ctx.job_auth):
            raise ApiError(401, UNAUTHORIZED)

    def _cached(self, key, build):
        key = (self.tenant.version, *key)
        found = self._listing_cache.get(key)
        if found is None:
            if len(self._listing_cache) > 64:
                self._listing_cache.clear()
            found = self._listing_cache[key] = build()
        return found

    # -- projects ----------------------------------------------------------------------------

    def r_projects(self, req: Req) -> Page:
        """``GET /projects`` (lib/api/projects.rb, ``ProjectsFinder``): signed-in users see public,
        internal and authorized projects; ``membership=true`` authorized only; ``owned=true`` the
        projects of namespaces they own; ``min_access_level`` authorized at that level; anonymous
        callers public projects as ``BasicProjectDetails``."""
        req.ctx.limit("projects_api")
        v, a = req.ctx.viewer, req.ctx.access
        membership = req.q.boolean("membership", False)
        owned = req.q.boolean("owned", False)
        mal = req.q.integer("min_access_level")
        if mal is not None and mal not in ACCESS_VALUES:
            raise _not_valid_value("min_access_level")
        t = self.tenant
        if not v.signed_in:
            kind: tuple = ("none",) if (membership or owned or mal is not None) else ("public",)
        elif owned:
            kind = ("owned",)
        elif mal is not None:
            kind = ("min", mal)
        elif membership:
            kind = ("membership",)
        else:
            kind = ("visible",)

        def source():
            with t.lock:
                if kind[0] == "visible":
                    return a.visible_projects()
                if kind[0] == "public":
                    return [p for p in t.projects.values() if p.visibility == "public"]
                if kind[0] == "none":
                    return []
                auth = a.authorized()
                if kind[0] == "membership":
                    return [t.projects[i] for i in auth if i in t.projects]
                if kind[0] == "min":
                    return [t.projects[i] for i in auth if i in t.projects and auth[i] >= kind[1]]
                return [p for p in t.projects.values() if self._owns_project(p, v)]

        entity = "access" if v.signed_in and not req.q.boolean("simple", False) else "simple"
        return self._project_page(req.rel, req.q, req.ctx, ("projects", v.key, *kind), source, entity)

    @staticmethod
    def _owns_project(p: Project, v: Viewer) -> bool:
        """``User#owned_projects``: personal projects and projects of groups the user directly owns."""
        if p.namespace.kind == "user":
            return p.namespace.user is v.user
        return any(m.user is v.user and m.access_level >= 50 for g in p.namespace.self_and_ancestors()
                   for m in (g.members or ()))

    def _project_page(self, rel, q: Query, ctx: Ctx, key: tuple, source, entity: str) -> Page:
        order_by = q.choice("order_by", PROJECT_ORDER, "created_at")
        sort = q.choice("sort", ("asc", "desc"), "desc")
        updated_after, updated_before = q.timestamp_ms("updated_after"), q.timestamp_ms("updated_before")
        if (updated_after is not None or updated_before is not None) and order_by != "updated_at":
            raise message(400, "400 Bad request - `updated_at` filter and `updated_at` sorting must be paired")
        keyset = q.get("pagination") == "keyset"
        if keyset and order_by != "id":
            raise KEYSET_UNAVAILABLE
        filters = (
            q.boolean("archived"), q.choice("visibility", ("private", "internal", "public"), None),
            q.timestamp_ms("last_activity_after"), q.timestamp_ms("last_activity_before"),
            updated_after, updated_before, q.integer("id_after"), q.integer("id_before"),
            (q.get("search") or "").lower(), tuple(q.many("topic")),
        )
        statistics = bool(q.boolean("statistics", False)) and entity == "access"
        items = self._project_listing(key, source, filters, order_by, sort)
        t, a = self.tenant, ctx.access
        render = lambda p: t.project_json(p, a, entity, statistics)  # noqa: E731
        if keyset:
            cursor = "id_after" if sort == "asc" else "id_before"
            other = "id_before" if sort == "asc" else "id_after"
            return self.pages.keyset(API_PREFIX + rel, q, items, render,
                                     lambda last: {cursor: last.id, other: q.get(other)})
        return self.pages.offset(API_PREFIX + rel, q, items, render, record_type="Project")

    def _project_listing(self, key, source, filters, order_by, sort) -> list:
        """The filtered, ordered projects. Ordered by id, the id bounds (keyset pagination's cursor)
        are cut from one cached listing by bisection instead of filtering the tenant per page."""
        id_after, id_before = filters[6], filters[7]
        if order_by == "id":
            base = (*filters[:6], None, None, *filters[8:])
            items, keys = self._cached((*key, order_by, sort, *base),
                                       lambda: self._keyed(self._filter_projects(source, base, order_by, sort), sort))
            if sort == "asc":
                lo = bisect_right(keys, id_after) if id_after is not None else 0
                hi = bisect_left(keys, id_before) if id_before is not None else len(keys)
            else:  # keys are negated ids, ascending
                lo = bisect_right(keys, -id_before) if id_before is not None else 0
                hi = bisect_left(keys, -id_after) if id_after is not None else len(keys)
            return items[lo:hi] if (lo, hi) != (0, len(keys)) else items
        return self._cached((*key, order_by, sort, *filters),
                            lambda: self._filter_projects(source, filters, order_by, sort))

    @staticmethod
    def _keyed(items, sort):
        return items, [p.id if sort == "asc" else -p.id for p in items]

    @staticmethod
    def _filter_projects(source, filters, order_by, sort) -> list:
        """``ProjectsFinder`` filters: ``last_activity_after``/``before`` strict (``>``/``<``);
        ``updated_after``/``before`` inclusive (``UpdatedAtFilterable``: ``gteq``/``lteq``)."""
        archived, visibility, la_after, la_before, up_after, up_before, id_after, id_before, search, topics = filters
        out = []
        for p in source():
            if archived is not None and p.archived != archived:
                continue
            if visibility is not None and p.visibility != visibility:
                continue
            if la_after is not None and not p.last_activity_ms > la_after:
                continue
            if la_before is not None and not p.last_activity_ms < la_before:
                continue
            if up_after is not None and not p.updated_ms >= up_after:
                continue
            if up_before is not None and not p.updated_ms <= up_before:
                continue
            if id_after is not None and not p.id > id_after:
                continue
            if id_before is not None and not p.id < id_before:
                continue
            if search and search not in p.name.lower() and search not in p.path:
                continue
            if topics and not set(topics) <= set(p.topics):
                continue
            out.append(p)
        out.sort(key=PROJECT_ORDER[order_by], reverse=sort == "desc")
        return out

    def r_project(self, req: Req) -> Page:
        """``GET /projects/:id`` (ProjectWithAccess for signed-in users, BasicProjectDetails otherwise)."""
        req.ctx.limit("project_api")
        p = self._project(req.parts[1], req.ctx, req.parts, req.q)
        entity = "access" if req.ctx.viewer.signed_in else "simple"
        statistics = bool(req.q.boolean("statistics", False))
        return Page(200, [], self.tenant.project_json(p, req.ctx.access, entity, statistics))

    # -- members -----------------------------------------------------------------------------

    def r_project_members(self, req: Req) -> Page:
        """``GET /projects/:id/members``: direct members (lib/api/members.rb, ``source_members``)."""
        self._authenticated(req.ctx)
        p = self._project(req.parts[1], req.ctx, req.parts, req.q)
        self._readable_children(p, False, req.ctx)
        t, a = self.tenant, req.ctx.access
        members = self._member_filter(req.q, t.members_source(p))
        return self.pages.offset(API_PREFIX + req.rel, req.q, members, lambda m: t.member_json(m, a))

    def r_project_members_all(self, req: Req) -> Page:
        """``GET /projects/:id/members/all`` (``access.project_members_all``)."""
        self._authenticated(req.ctx)
        p = self._project(req.parts[1], req.ctx, req.parts, req.q)
        req.ctx.limit("project_members_api", p.id)
        self._readable_children(p, False, req.ctx)
        t, a = self.tenant, req.ctx.access
        rows = project_members_all(t, a, p)
        return self.pages.offset(API_PREFIX + req.rel, req.q, rows, lambda r: t.member_json(r[0], a, r[1]))

    @staticmethod
    def _member_filter(q: Query, members: list) -> list:
        needle = (q.get("query") or "").lower()
        if not needle:
            return members
        return [m for m in members if needle in m.user.username.lower() or needle in m.user.name.lower()]

    def r_group_members(self, req: Req) -> Page:
        """``GET /groups/:id/members``: direct members; ``read_group_member`` (``GroupPolicy``): 404
        without ``read_group``, 403 for a private group the viewer has no membership in."""
        self._authenticated(req.ctx)
        g = self._group(req.parts[1], req.ctx)
        self._group_member_check(g, req.ctx)
        t, a = self.tenant, req.ctx.access
        members = self._member_filter(req.q, t.members_source(g))
        return self.pages.offset(API_PREFIX + req.rel, req.q, members, lambda m: t.member_json(m, a))

    def r_group_members_all(self, req: Req) -> Page:
        """``GET /groups/:id/members/all`` (``access.group_members_all``)."""
        self._authenticated(req.ctx)
        g = self._group(req.parts[1], req.ctx)
        req.ctx.limit("group_members_all", g.id)
        self._group_member_check(g, req.ctx)
        t, a = self.tenant, req.ctx.access
        rows = group_members_all(t, a, g)
        return self.pages.offset(API_PREFIX + req.rel, req.q, rows, lambda r: t.member_json(r[0], a, r[1]))

    @staticmethod
    def _group_member_check(g: Namespace, ctx: Ctx) -> None:
        status = ctx.access.group_members_status(g)
        if status == 403:
            raise message(403, "403 Forbidden")
        if status == 404:
            raise message(404, "404 Group Not Found")

    # -- pipelines, jobs, bridges ------------------------------------------------------------

    def _ci_project(self, parts, q: Query, ctx: Ctx) -> Project:
        p = self._project(parts[1], ctx, parts, q)
        self._readable_children(p, True, ctx)
        return p

    def r_pipelines(self, req: Req) -> Page:
        """``GET /projects/:id/pipelines`` (``Ci::PipelinesFinder``): child pipelines are left out
        (``no_child``) unless ``source=parent_pipeline``; ``updated_after``/``updated_before`` are
        inclusive (``UpdatedAtFilterable``); ``created_after``/``created_before`` strict."""
        p = self._ci_project(req.parts, req.q, req.ctx)
        order_by = req.q.choice("order_by", PIPELINE_ORDER, "id")
        sort = req.q.choice("sort", ("asc", "desc"), "desc")
        scope = req.q.choice("scope", PIPELINE_SCOPES, None)
        status = req.q.choice("status", JOB_STATUSES, None)
        source = req.q.choice("source", PIPELINE_SOURCES, None)
        ref, sha, username, name = req.q.get("ref"), req.q.get("sha"), req.q.get("username"), req.q.get("name")
        up_after, up_before = req.q.timestamp_ms("updated_after"), req.q.timestamp_ms("updated_before")
        cr_after, cr_before = req.q.timestamp_ms("created_after"), req.q.timestamp_ms("created_before")
        yaml_errors = req.q.boolean("yaml_errors")
        iids = {int(x) for x in req.q.many("iids") if x.isdigit()}
        out = []
        for pipe in self.tenant.pipelines(p):
            if not iids and source != "parent_pipeline" and pipe.parent is not None:
                continue
            if iids and pipe.iid not in iids:
                continue
            st = pipe.status
            if scope == "running" and st != "running":
                continue
            if scope == "pending" and st != "pending":
                continue
            if scope == "finished" and st not in ci_mod.COMPLETED:
                continue
            if scope == "branches" and pipe.tag:
                continue
            if scope == "tags" and not pipe.tag:
                continue
            if status and st != status:
                continue
            if source and pipe.source != source:
                continue
            if ref and pipe.ref != ref:
                continue
            if sha and pipe.sha != sha:
                continue
            if username and pipe.user.username != username:
                continue
            if name and pipe.script.name != name:
                continue
            if yaml_errors is not None and bool(pipe.script.yaml_error) != yaml_errors:
                continue
            if up_after is not None and not pipe.updated_ms >= up_after:
                continue
            if up_before is not None and not pipe.updated_ms <= up_before:
                continue
            if cr_after is not None and not pipe.created_ms > cr_after:
                continue
            if cr_before is not None and not pipe.created_ms < cr_before:
                continue
            out.append(pipe)
        out.sort(key=PIPELINE_ORDER[order_by], reverse=sort == "desc")
        return self.pages.offset(API_PREFIX + req.rel, req.q, out, ci_mod.pipeline_list_json)

    def _pipeline(self, p: Project, ref: str) -> ci_mod.Pipeline:
        pipe = self.tenant.ci(p).pipeline(int(ref)) if ref.isdigit() else None
        if pipe is None:
            raise message(404, "404 Not found")
        return pipe

    def r_pipeline(self, req: Req) -> Page:
        p = self._ci_project(req.parts, req.q, req.ctx)
        return Page(200, [], ci_mod.pipeline_detail_json(self._pipeline(p, req.parts[3])))

    def r_pipeline_jobs(self, req: Req) -> Page:
        """``GET /projects/:id/pipelines/:pipeline_id/jobs`` (``Ci::JobsFinder#pipeline_jobs``):
        builds only, latest only unless ``include_retried=true``, newest first (``order_id_desc``)."""
        p = self._ci_project(req.parts, req.q, req.ctx)
        pipe = self._pipeline(p, req.parts[3])
        retried = req.q.boolean("include_retried", False)
        jobs = [j for j in pipe.jobs if retried or j.retried_ms is None]
        jobs.sort(key=lambda j: -j.id)
        return self._jobs_page(req.rel, req.q, p, jobs)

    def r_pipeline_bridges(self, req: Req) -> Page:
        """``GET /projects/:id/pipelines/:pipeline_id/bridges``: the trigger jobs (``Ci::Bridge``,
        ``API::Entities::Ci::Bridge`` with ``downstream_pipeline``), latest only, newest first."""
        p = self._ci_project(req.parts, req.q, req.ctx)
        pipe = self._pipeline(p, req.parts[3])
        bridges = sorted((b for b in pipe.bridges if b.retried_ms is None), key=lambda b: -b.id)
        return self._jobs_page(req.rel, req.q, p, bridges)

    def _scoped(self, q: Query, jobs: list) -> list:
        scopes = q.many("scope")
        for i, s in enumerate(scopes):
            if s not in JOB_STATUSES:
                raise _not_valid_value(f"scope[{i}]")
        if scopes:
            wanted = set(scopes)
            jobs = [j for j in jobs if j.status in wanted]
        return jobs

    def _jobs_page(self, rel, q: Query, p: Project, jobs: list, count: bool = True) -> Page:
        jobs = self._scoped(q, jobs)
        clock = self.tenant.job_clock(p)
        return self.pages.offset(API_PREFIX + rel, q, jobs, lambda j: ci_mod.job_json(j, clock), count=count)

    def r_project_jobs(self, req: Req) -> Page:
        """``GET /projects/:id/jobs`` (lib/api/ci/jobs.rb): every build of the project (retried ones and
        child pipelines' included; bridges never), ``order(id: :desc)``; offset pages without counts
        (``without_count: true``) or keyset (``pagination=keyset``, id descending only:
        ``CursorBasedKeyset::SUPPORTED_ORDERING``)."""
        p = self._ci_project(req.parts, req.q, req.ctx)
        jobs = self.tenant.jobs(p)
        if req.q.get("pagination") != "keyset":
            return self._jobs_page(req.rel, req.q, p, jobs, count=False)
        if req.q.get("order_by", "id") != "id" or req.q.get("sort", "desc") != "desc":
            raise KEYSET_UNAVAILABLE
        jobs = self._scoped(req.q, jobs)
        cur = _read_cursor(req.q)
        if cur is not None:
            try:
                before = int(cur["id"])
            except (KeyError, TypeError, ValueError):
                raise ApiError(400, {"message": "400 Bad request - Invalid cursor parameter"}) from None
            jobs = [j for j in jobs if j.id < before]
        clock = self.tenant.job_clock(p)
        return self.pages.keyset(API_PREFIX + req.rel, req.q, jobs, lambda j: ci_mod.job_json(j, clock),
                                 lambda last: {"cursor": _cursor({"id": str(last.id)})})

    def r_project_job(self, req: Req) -> Page:
        p = self._ci_project(req.parts, req.q, req.ctx)
        if req.parts[3].isdigit():
            jid = int(req.parts[3])
            for job in self.tenant.jobs(p):
                if job.id == jid:
                    return Page(200, [], ci_mod.job_json(job, self.tenant.job_clock(p)))
        raise message(404, "404 Not found")

    def r_job(self, req: Req) -> Page:
        """``GET /job``: the job whose CI_JOB_TOKEN authenticates the request (lib/api/ci/jobs.rb)."""
        if not req.ctx.job_auth:
            raise ApiError(401, UNAUTHORIZED)
        job = req.ctx.viewer.job
        return Page(200, [], ci_mod.job_json(job, self.tenant.job_clock(job.pipeline.project)))

    def r_user(self, req: Req) -> Page:
        """``GET /user``: the token's user (UserPublic; ``is_admin`` for administrators)."""
        self._authenticated(req.ctx)
        u = req.ctx.viewer.user
        assert u is not None
        d = u.full()
        d.update({"email": u.email, "namespace_id": u.namespace_id, "is_admin": u.admin} if u.admin else
                 {"namespace_id": u.namespace_id})
        return Page(200, [], jbytes(d))

    # -- groups and namespaces ---------------------------------------------------------------

    def r_groups(self, req: Req) -> Page:
        """``GET /groups`` (lib/api/groups.rb ``find_groups``, ``GroupsFinder``): ``all_available``
        defaults to true for admins only; statistics for admins only; signed-in callers get offset
        pages (``present_groups``, no cap), anonymous callers may use keyset (name asc) and are capped
        (``paginate_with_strategies``, ``CursorBasedKeyset::ENFORCED_TYPES``)."""
        req.ctx.limit("groups_api")
        return self._group_listing(req.rel, req.q, req.ctx, None)

    def r_subgroups(self, req: Req) -> Page:
        """``GET /groups/:id/subgroups``: the ``/groups`` set, direct children of the group only."""
        g = self._group(req.parts[1], req.ctx)
        return self._group_listing(req.rel, req.q, req.ctx, ("children", g))

    def r_descendant_groups(self, req: Req) -> Page:
        g = self._group(req.parts[1], req.ctx)
        return self._group_listing(req.rel, req.q, req.ctx, ("descendants", g))

    def _group_listing(self, rel, q: Query, ctx: Ctx, within) -> Page:
        v, a, t = ctx.viewer, ctx.access, self.tenant
        order_by = q.choice("order_by", GROUP_ORDER, "name")
        sort = q.choice("sort", ("asc", "desc"), "asc")
        top_level_only = q.boolean("top_level_only", False)
        all_available = q.boolean("all_available", v.admin)
        owned = q.boolean("owned", False)
        mal = q.integer("min_access_level")
        if mal is not None and mal not in ACCESS_VALUES:
            raise _not_valid_value("min_access_level")
        statistics = bool(q.boolean("statistics", False)) and v.admin
        search = (q.get("search") or "").lower()
        skip = {int(x) for x in q.many("skip_groups") if x.isdigit()}
        keyset = q.get("pagination") == "keyset" and not v.signed_in and within is None
        if keyset and (order_by != "name" or sort != "asc"):
            raise KEYSET_UNAVAILABLE

        def build():
            with t.lock:
                if owned and v.signed_in:
                    ids = {gid for gid, lvl in a.direct_groups().items() if lvl >= 50}
                elif mal is not None and v.signed_in:
                    ids = set()
                    for gid, lvl in a.direct_groups().items():
                        if lvl >= mal:
                            ids.add(gid)
                            ids.update(d.id for d in t.groups[gid].descendants())
                elif v.admin and all_available:
                    ids = set(t.groups)
                else:
                    ids = a.groups_all_available() if all_available else a.groups_default()
                if within is not None:
                    kind, g = within
                    allowed = {c.id for c in g.children} if kind == "children" else {d.id for d in g.descendants()}
                    ids = ids & allowed
                pool = [t.groups[i] for i in ids if i in t.groups]
            out = [g for g in pool
                   if not (top_level_only and g.parent is not None) and g.id not in skip
                   and (not search or search in g.name.lower() or search in g.path)]
            out.sort(key=GROUP_ORDER[order_by], reverse=sort == "desc")
            return out

        key = ("groups", v.key, within[0] if within else None, within[1].id if within else None, order_by, sort,
               top_level_only, all_available, owned, mal, search, tuple(sorted(skip)))
        items = self._cached(key, build)
        render = lambda g: t.group_json(g, statistics)  # noqa: E731
        if keyset:
            cur = _read_cursor(q)
            if cur is not None:
                try:
                    after = (cur["name"], int(cur["id"]))
                except (KeyError, TypeError, ValueError):
                    raise ApiError(400, {"message": "400 Bad request - Invalid cursor parameter"}) from None
                items = [g for g in items if (g.name, g.id) > after]
            return self.pages.keyset(API_PREFIX + rel, q, items, render,
                                     lambda last: {"cursor": _cursor({"name": last.name, "id": str(last.id)})})
        record_type = "Group" if (within is None and not v.signed_in) else None
        return self.pages.offset(API_PREFIX + rel, q, items, render, record_type=record_type)

    def r_group(self, req: Req) -> Page:
        req.ctx.limit("group_api")
        g = self._group(req.parts[1], req.ctx)
        return Page(200, [], self.tenant.group_detail_json(g, req.ctx.access))

    def r_group_projects(self, req: Req) -> Page:
        """``GET /groups/:id/projects`` (``GroupProjectsFinder``): the group's projects (with
        ``include_subgroups`` its subgroups' too) and, by default (``with_shared``), the projects shared
        with it, those the viewer can see; rendered as ``Entities::Project``: no ``permissions``, and
        ``statistics`` is not a parameter of this route."""
        req.ctx.limit("group_projects_api")
        g = self._group(req.parts[1], req.ctx)
        t, a = self.tenant, req.ctx.access
        subgroups = bool(req.q.boolean("include_subgroups", False))
        shared = req.q.boolean("with_shared", True)

        def source():
            with t.lock:
                groups = [g, *g.descendants()] if subgroups else [g]
                found = {pid: t.projects[pid] for sub in groups for pid in sub.project_ids if pid in t.projects}
                if shared:
                    for s in g.shared_projects:
                        if s.target.id in t.projects:
                            found[s.target.id] = s.target
                return [p for p in found.values() if a.can_read_project(p)]

        entity = "simple" if req.q.boolean("simple", False) or not req.ctx.viewer.signed_in else "project"
        key = ("group_projects", req.ctx.viewer.key, g.id, subgroups, shared)
        return self._project_page(req.rel, req.q, req.ctx, key, source, entity)

    def r_namespaces(self, req: Req) -> Page:
        """``GET /namespaces`` (lib/api/namespaces.rb): admins all; others their own namespace plus the
        groups they are a direct member of (``User#namespaces``); anonymous 401."""
        self._authenticated(req.ctx)
        t, a = self.tenant, req.ctx.access
        search = (req.q.get("search") or "").lower()
        owned_only = req.q.boolean("owned_only", False)
        top_level_only = req.q.boolean("top_level_only", False)

        def build():
            with t.lock:
                out = a.namespaces()
            if owned_only and not req.ctx.viewer.admin:
                out = [ns for ns in out if ns.kind == "user" or a.direct_groups().get(ns.id, 0) >= 50]
            return [ns for ns in out if (not search or search in ns.full_path.lower())
                    and not (top_level_only and ns.parent is not None)]

        items = self._cached(("namespaces", req.ctx.viewer.key, search, owned_only, top_level_only), build)
        return self.pages.offset(API_PREFIX + req.rel, req.q, items, lambda ns: t.namespace_json(ns, a))

    def r_namespace(self, req: Req) -> Page:
        """``GET /namespaces/:id``: ``check_namespace_access`` needs ``read_namespace_via_membership``
        (lib/api/helpers.rb): a membership of the group or an ancestor (or a share into them), or the
        owner of a personal namespace; otherwise ``404 Namespace Not Found``."""
        self._authenticated(req.ctx)
        t = self.tenant
        ref = req.parts[1]
        with t.lock:
            ns = t.namespaces.get(int(ref)) if ref.isdigit() else next(
                (n for n in t.namespaces.values() if n.full_path == ref), None)
        if ns is None or not req.ctx.access.can_read_namespace(ns):
            raise message(404, "404 Namespace Not Found")
        return Page(200, [], t.namespace_json(ns, req.ctx.access))


def visibility_rank(v: str) -> int:
    return VISIBILITY[v]
