"""The HTTP side of the simulator: routing, query parameters, pagination, auth, the request log.

Order of concerns for every request: fault plan (a faulted request changes no state), then auth
(401 never touches the rate budget), token expiry, rate limit (429), method (405), then the route.
The data comes from ``tenant.py``; this module decides which records, in which order, on which page.
Token values are never stored: the request log keeps only the kind of token.
"""

from __future__ import annotations

import base64
import json
import math
import random
import socket
import struct
import threading
import time
import traceback
from bisect import bisect_left, bisect_right
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from .faults import FaultPlan
from .ratelimit import RateLimiter
from .tenant import Tenant

API_PREFIX = "/api/v4"
STREAMS = ("projects", "namespaces", "groups", "project_members", "group_members", "pipelines", "jobs")
EXPIRED_BODY = (b'{"error":"invalid_token","error_description":"Token is expired. '
                b'You can either do re-authorization or token refresh."}')
BAD_GATEWAY_HTML = (b"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>502 Bad Gateway</title>\n"
                    b"</head>\n<body>\n<h1>502</h1>\n<h2>Whoops, GitLab is taking too much time to respond.</h2>\n"
                    b"<p>Try refreshing the page, or going back and attempting the action again.</p>\n"
                    b"</body>\n</html>\n")
JOB_STATUSES = ("created", "pending", "running", "failed", "success", "canceled", "skipped",
                "waiting_for_resource", "manual")
PIPELINE_SCOPES = ("running", "pending", "finished", "branches", "tags")
REDACTED_PARAMS = ("private_token", "job_token", "access_token")


class ServedRequest(NamedTuple):
    method: str
    path: str
    query: dict
    status: int
    token_kind: str | None   # "private", "job" or None; never the token itself
    fault: str | None
    started: float
    finished: float


class ApiError(Exception):
    """An error answer: status and JSON body."""

    def __init__(self, status: int, body: dict):
        super().__init__(status, body)
        self.status, self.body = status, body


def _message(status: int, message: str) -> ApiError:
    return ApiError(status, {"message": message})


def _invalid(name: str) -> ApiError:
    return ApiError(400, {"error": f"{name} is invalid"})


def _not_valid_value(name: str) -> ApiError:
    return ApiError(400, {"error": f"{name} does not have a valid value"})


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --- query parameters -------------------------------------------------------------------------


class Query:
    """The request's query string: ordered pairs, last-wins look-ups and typed getters."""

    def __init__(self, raw: str):
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
            value = value.replace(tzinfo=timezone.utc)
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

    def offset(self, path: str, q: Query, items: list, render, record_type: str | None = None) -> Page:
        page, per_page = self.page_params(q)
        if record_type is not None and self.offset_cap and page * per_page > self.offset_cap:
            raise ApiError(405, {"error": (
                f"Offset pagination has a maximum allowed offset of {self.offset_cap} for requests that return "
                f"objects of type {record_type}. Remaining records can be retrieved using keyset pagination.")})
        total = len(items)
        start = (page - 1) * per_page
        chunk = items[start:start + per_page]
        has_next = start + per_page < total
        counted = total <= self.count_limit
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
    "status": lambda x: (x.record["status"], x.id),
    "ref": lambda x: (x.record["ref"], x.id),
    "updated_at": lambda x: (x.updated_ms, x.id),
    "user_id": lambda x: (x.record["_user_id"], x.id),
}
KEYSET_UNAVAILABLE = ApiError(405, {"error": "Keyset pagination is not yet available for this type of request"})


class Api:
    """Maps (path, query) to an answer. Stateless apart from a small cache of filtered listings."""

    def __init__(self, tenant: Tenant, paginator: Paginator):
        self.tenant = tenant
        self.pages = paginator
        self._listing_cache: dict[tuple, list] = {}

    def dispatch(self, rel: str, q: Query) -> Page:
        parts = [unquote(s) for s in rel.strip("/").split("/")] if rel.strip("/") else []
        n = len(parts)
        head = parts[0] if parts else ""
        if head == "projects":
            if n == 1:
                return self.projects(rel, q, self._all_projects)
            project = self._project(parts[1])
            if n == 2:
                return Page(200, [], self.tenant.project_json(project, self._project_variant(q, detail=True)))
            sub = parts[2]
            if sub == "members" and n == 3:
                return self.members(rel, q, self._child(project, "members"))
            if sub == "pipelines":
                project = self._child(project, "pipelines")
                if n == 3:
                    return self.pipelines(rel, q, project)
                pipe = self._pipeline(project, parts[3])
                if n == 4:
                    return Page(200, [], pipe.detail_json())
                if n == 5 and parts[4] == "jobs":
                    return self.jobs(rel, q, sorted(pipe.jobs, key=lambda j: j.id))
            if sub == "jobs":
                project = self._child(project, "jobs")
                if n == 3:
                    return self.jobs(rel, q, self.tenant.jobs(project))
                if n == 4:
                    for job in self.tenant.jobs(project):
                        if str(job.id) == parts[3]:
                            return Page(200, [], job.json())
                    raise _message(404, "404 Not found")
        elif head == "groups":
            if n == 1:
                return self.groups(rel, q, None)
            group = self.tenant.group(parts[1])
            if group is None:
                raise _message(404, "404 Group Not Found")
            if n == 2:
                return Page(200, [], self.tenant.group_detail_json(group))
            if n == 3:
                if parts[2] == "subgroups":
                    return self.groups(rel, q, list(group.children))
                if parts[2] == "descendant_groups":
                    return self.groups(rel, q, group.descendants())
                if parts[2] == "members":
                    return self.members(rel, q, group, group=True)
                if parts[2] == "projects":
                    return self.projects(rel, q, lambda: self._group_projects(group, q))
        elif head == "namespaces":
            if n == 1:
                return self.namespaces(rel, q)
            if n == 2:
                ns = self._namespace(parts[1])
                return Page(200, [], self.tenant.namespace_json(ns))
        raise _message(404, "404 Not Found")

    # -- look-ups ----------------------------------------------------------------------------

    def _project(self, ref):
        project = self.tenant.project(ref)
        if project is None:
            raise _message(404, "404 Project Not Found")
        return project

    def _child(self, project, child):
        status = self.tenant.child_status(project.id, child)
        if status == 404:
            raise _message(404, "404 Project Not Found")
        if status == 403:
            raise _message(403, "403 Forbidden")
        return project

    def _pipeline(self, project, ref):
        for pipe in self.tenant.pipelines(project):
            if str(pipe.id) == ref:
                return pipe
        raise _message(404, "404 Not found")

    def _namespace(self, ref):
        t = self.tenant
        with t.lock:
            if ref.isdigit() and int(ref) in t.namespaces:
                return t.namespaces[int(ref)]
            for ns in t.namespaces.values():
                if ns.full_path == ref:
                    return ns
        raise _message(404, "404 Namespace Not Found")

    def _all_projects(self):
        with self.tenant.lock:
            return list(self.tenant.projects.values())

    def _group_projects(self, group, q: Query):
        groups = [group]
        if q.boolean("include_subgroups", False):
            groups += group.descendants()
        t = self.tenant
        with t.lock:
            return [t.projects[pid] for g in groups for pid in g.project_ids if pid in t.projects]

    def _cached(self, key, build):
        key = (self.tenant.version,) + key
        found = self._listing_cache.get(key)
        if found is None:
            if len(self._listing_cache) > 64:
                self._listing_cache.clear()
            found = self._listing_cache[key] = build()
        return found

    # -- projects ----------------------------------------------------------------------------

    @staticmethod
    def _project_variant(q: Query, detail=False) -> str:
        if not detail and q.boolean("simple", False):
            return "simple"
        return "statistics" if q.boolean("statistics", False) else "full"

    def projects(self, rel: str, q: Query, source) -> Page:
        order_by = q.choice("order_by", PROJECT_ORDER, "created_at")
        sort = q.choice("sort", ("asc", "desc"), "desc")
        updated_after, updated_before = q.timestamp_ms("updated_after"), q.timestamp_ms("updated_before")
        if (updated_after is not None or updated_before is not None) and order_by != "updated_at":
            raise _message(400, "400 Bad request - `updated_at` filter and `updated_at` sorting must be paired")
        keyset = q.get("pagination") == "keyset"
        if keyset and order_by != "id":
            raise KEYSET_UNAVAILABLE
        filters = (
            q.boolean("archived"), q.choice("visibility", ("private", "internal", "public"), None),
            q.timestamp_ms("last_activity_after"), q.timestamp_ms("last_activity_before"),
            updated_after, updated_before, q.integer("id_after"), q.integer("id_before"),
            (q.get("search") or "").lower(), tuple(q.many("topic")),
        )
        q.boolean("membership"), q.boolean("owned"), q.boolean("simple"), q.boolean("statistics")

        items = self._project_listing(rel, source, filters, order_by, sort)
        variant = self._project_variant(q)
        render = lambda p: self.tenant.project_json(p, variant)  # noqa: E731
        if keyset:
            cursor = "id_after" if sort == "asc" else "id_before"
            other = "id_before" if sort == "asc" else "id_after"
            return self.pages.keyset(API_PREFIX + rel, q, items, render,
                                     lambda last: {cursor: last.id, other: q.get(other)})
        return self.pages.offset(API_PREFIX + rel, q, items, render, record_type="Project")

    def _project_listing(self, rel, source, filters, order_by, sort) -> list:
        """The filtered, ordered projects. Ordered by id, the id bounds (keyset pagination's cursor)
        are cut from one cached listing by bisection instead of filtering the tenant per page."""
        id_after, id_before = filters[6], filters[7]
        if order_by == "id":
            base = filters[:6] + (None, None) + filters[8:]
            items, keys = self._cached(("projects", rel, order_by, sort) + base,
                                       lambda: self._keyed(self._filter_projects(source, base, order_by, sort), sort))
            if sort == "asc":
                lo = bisect_right(keys, id_after) if id_after is not None else 0
                hi = bisect_left(keys, id_before) if id_before is not None else len(keys)
            else:  # keys are negated ids, ascending
                lo = bisect_right(keys, -id_before) if id_before is not None else 0
                hi = bisect_left(keys, -id_after) if id_after is not None else len(keys)
            return items[lo:hi] if (lo, hi) != (0, len(keys)) else items
        return self._cached(("projects", rel, order_by, sort) + filters,
                            lambda: self._filter_projects(source, filters, order_by, sort))

    @staticmethod
    def _keyed(items, sort):
        return items, [p.id if sort == "asc" else -p.id for p in items]

    @staticmethod
    def _filter_projects(source, filters, order_by, sort) -> list:
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
            if up_after is not None and not p.updated_ms > up_after:
                continue
            if up_before is not None and not p.updated_ms < up_before:
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

    # -- groups and namespaces ---------------------------------------------------------------

    def groups(self, rel: str, q: Query, source) -> Page:
        order_by = q.choice("order_by", GROUP_ORDER, "name")
        sort = q.choice("sort", ("asc", "desc"), "asc")
        top_level_only = q.boolean("top_level_only", False)
        q.boolean("all_available"), q.boolean("owned")
        statistics = q.boolean("statistics", False)
        search = (q.get("search") or "").lower()
        skip = {int(x) for x in q.many("skip_groups") if x.isdigit()}
        keyset = q.get("pagination") == "keyset"
        if keyset and (source is not None or order_by != "name" or sort != "asc"):
            raise KEYSET_UNAVAILABLE
        t = self.tenant

        def build():
            with t.lock:
                pool = list(t.groups.values()) if source is None else [g for g in source if g.id in t.groups]
            out = [g for g in pool
                   if not (top_level_only and g.parent is not None) and g.id not in skip
                   and (not search or search in g.name.lower() or search in g.path)]
            out.sort(key=GROUP_ORDER[order_by], reverse=sort == "desc")
            return out

        key = ("groups", rel, order_by, sort, top_level_only, search, tuple(sorted(skip)))
        items = self._cached(key, build) if source is None else build()
        render = lambda g: t.group_json(g, statistics)  # noqa: E731
        if keyset:
            cursor = q.get("cursor")
            if cursor:
                try:
                    c = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
                    after = (c["name"], int(c["id"]))
                except (ValueError, KeyError, TypeError):
                    raise ApiError(400, {"message": "400 Bad request - Invalid cursor parameter"}) from None
                items = [g for g in items if (g.name, g.id) > after]

            def next_cursor(last):
                raw = _json({"name": last.name, "id": str(last.id), "_kd": "n"})
                return {"cursor": base64.urlsafe_b64encode(raw).decode().rstrip("=")}

            return self.pages.keyset(API_PREFIX + rel, q, items, render, next_cursor)
        return self.pages.offset(API_PREFIX + rel, q, items, render,
                                 record_type="Group" if source is None else None)

    def namespaces(self, rel: str, q: Query) -> Page:
        t = self.tenant
        search = (q.get("search") or "").lower()

        def build():
            with t.lock:
                return [t.namespaces[i] for i in sorted(t.namespaces)
                        if not search or search in t.namespaces[i].full_path.lower()]

        items = self._cached(("namespaces", search), build)
        return self.pages.offset(API_PREFIX + rel, q, items, t.namespace_json)

    # -- members, pipelines, jobs ------------------------------------------------------------

    def members(self, rel: str, q: Query, owner, group=False) -> Page:
        members = self.tenant.group_members(owner) if group else self.tenant.project_members(owner)
        return self.pages.offset(API_PREFIX + rel, q, members, lambda m: m.json())

    def pipelines(self, rel: str, q: Query, project) -> Page:
        order_by = q.choice("order_by", PIPELINE_ORDER, "id")
        sort = q.choice("sort", ("asc", "desc"), "desc")
        scope = q.choice("scope", PIPELINE_SCOPES, None)
        status = q.choice("status", JOB_STATUSES + ("preparing", "scheduled"), None)
        ref, sha, source, username = q.get("ref"), q.get("sha"), q.get("source"), q.get("username")
        up_after, up_before = q.timestamp_ms("updated_after"), q.timestamp_ms("updated_before")
        cr_after, cr_before = q.timestamp_ms("created_after"), q.timestamp_ms("created_before")
        yaml_errors = q.boolean("yaml_errors")
        out = []
        for pipe in self.tenant.pipelines(project):
            r = pipe.record
            if scope == "running" and r["status"] != "running":
                continue
            if scope == "pending" and r["status"] != "pending":
                continue
            if scope == "finished" and r["status"] not in ("success", "failed", "canceled", "skipped"):
                continue
            if scope == "branches" and r["tag"]:
                continue
            if scope == "tags" and not r["tag"]:
                continue
            if status and r["status"] != status:
                continue
            if ref and r["ref"] != ref:
                continue
            if sha and r["sha"] != sha:
                continue
            if source and r["source"] != source:
                continue
            if username and r["user"]["username"] != username:
                continue
            if yaml_errors and not r["yaml_errors"]:
                continue
            if up_after is not None and not pipe.updated_ms > up_after:
                continue
            if up_before is not None and not pipe.updated_ms < up_before:
                continue
            if cr_after is not None and not r["_created_ms"] > cr_after:
                continue
            if cr_before is not None and not r["_created_ms"] < cr_before:
                continue
            out.append(pipe)
        out.sort(key=PIPELINE_ORDER[order_by], reverse=sort == "desc")
        return self.pages.offset(API_PREFIX + rel, q, out, lambda x: x.list_json())

    def jobs(self, rel: str, q: Query, jobs: list) -> Page:
        scopes = q.many("scope")
        for i, s in enumerate(scopes):
            if s not in JOB_STATUSES:
                raise _not_valid_value(f"scope[{i}]")
        if scopes:
            wanted = set(scopes)
            jobs = [j for j in jobs if j.status in wanted]
        return self.pages.offset(API_PREFIX + rel, q, jobs, lambda j: j.json())


# --- HTTP -------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this
    sim: Simulator  # set on the per-simulator subclass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sim._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.sim._track(self.connection, False)

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass

    def do_GET(self):
        self.sim._serve(self, "GET")

    def _not_get(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.sim._serve(self, self.command)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _not_get


class Simulator:
    """A DataOps.live (GitLab API v4) server on loopback. See the package docstring for the API."""

    def __init__(self, projects: int = 200, seed: int = 1, tokens=("sim-token",), job_tokens=("sim-job-token",),
                 latency: float = 0.0, jitter: float = 0.0, rate_limit: int | None = 600, rate_window: float = 60.0,
                 fault_rate: float = 0.0, fault_kinds=None, fault_seed: int = 0, stall_seconds: float = 5.0,
                 offset_cap: int = 50_000, count_limit: int = 10_000, pipelines_per_project=(0, 6),
                 jobs_per_pipeline=(1, 4), host: str = "127.0.0.1", port: int = 0, anchor=None):
        self.tenant = Tenant(projects=projects, seed=seed, pipelines_per_project=pipelines_per_project,
                             jobs_per_pipeline=jobs_per_pipeline, anchor=anchor)
        self._tokens = frozenset(tokens)
        self._job_tokens = frozenset(job_tokens)
        self.latency, self.jitter = float(latency), float(jitter)
        self.stall_seconds = float(stall_seconds)
        self.limiter = RateLimiter(rate_limit, rate_window)
        self.faults = FaultPlan(fault_rate, fault_kinds, fault_seed)
        self.offset_cap, self.count_limit = offset_cap, count_limit
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._requests: list[ServedRequest] = []
        self._hooks: list[list] = []          # [requests still to go, fn]
        self._expiring: dict[str, int] = {}   # token -> authenticated requests it still may make
        self._connections: set = set()
        self._latency_rng = random.Random()
        self._server = None
        self._thread = None
        self.api = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"sim": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self.api = Api(self.tenant, Paginator(f"http://{self.host}:{self.port}", self.count_limit, self.offset_cap))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="dataops-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def warm(self) -> Simulator:
        """Pre-build the cached JSON of every project, so a benchmark measures warm serving."""
        self.tenant.warm()
        return self

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    # -- test hooks --------------------------------------------------------------------------

    def truth(self, stream: str) -> list[dict]:
        """Every record of ``stream`` as the API would serve it now (see tenant.Tenant.truth)."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}; known: {', '.join(STREAMS)}")
        return self.tenant.truth(stream)

    @property
    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def inject(self, kind: str, count: int = 1, path_prefix: str | None = None, retry_after=None) -> None:
        self.faults.inject(kind, count, path_prefix, retry_after)

    def after_requests(self, n: int, fn) -> None:
        """Call ``fn(tenant)`` once, right after the n-th request from now has been answered.

        The hook runs after that request's answer is computed and before it is sent, so the n-th
        answer shows the old state and every later request the new one.
        """
        with self._lock:
            self._hooks.append([int(n), fn])

    def expire_token(self, token: str, after_requests: int = 0) -> None:
        """The token answers 401 invalid_token after ``after_requests`` more authenticated requests."""
        with self._lock:
            self._expiring[token] = int(after_requests)

    # -- request handling --------------------------------------------------------------------

    def _track(self, conn, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _authenticate(self, headers) -> tuple[str | None, str | None]:
        token = headers.get("private-token")
        if token is None:
            auth = headers.get("Authorization") or ""
            if auth[:7].lower() == "bearer ":
                token = auth[7:].strip()
        if token is not None:
            return ("private", token) if token in self._tokens else (None, None)
        job = headers.get("JOB-TOKEN")
        if job is not None and job in self._job_tokens:
            return "job", job
        return None, None

    def _answer(self, method, path, q: Query, kind, token, dry: bool):
        """(status, headers, body, content type) of the normal answer. ``dry``: count nothing."""
        if kind is None:
            return 401, [], b'{"message":"401 Unauthorized"}', "application/json"
        with self._lock:
            remaining = self._expiring.get(token)
            if remaining is not None and not dry:
                self._expiring[token] = remaining - 1
        if remaining is not None and remaining <= 0:
            www = ('Bearer realm="Protected by OAuth 2.0", error="invalid_token", '
                   'error_description="Token is expired. You can either do re-authorization or token refresh."')
            return 401, [("WWW-Authenticate", www)], EXPIRED_BODY, "application/json"
        if dry:
            allowed, rate_headers = True, self.limiter.peek(token)
        else:
            allowed, rate_headers = self.limiter.hit(token)
        if not allowed:
            return 429, rate_headers, b'{"message":"Retry later"}', "application/json"
        if method != "GET":
            return 405, rate_headers, b'{"message":"405 Method Not Allowed"}', "application/json"
        if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
            return 404, rate_headers, b'{"message":"404 Not Found"}', "application/json"
        try:
            page = self.api.dispatch(path[len(API_PREFIX):], q)
        except ApiError as err:
            return err.status, rate_headers, _json(err.body), "application/json"
        return page.status, page.headers + rate_headers, page.body, "application/json"

    def _serve(self, handler: _Handler, method: str) -> None:
        started = time.time()
        split = urlsplit(handler.path)
        path = split.path
        q = Query(split.query)
        kind, token = self._authenticate(handler.headers)
        rel = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else path
        fault = self.faults.decide(path, rel)
        fault_name = fault.kind if fault else None
        if fault_name == "reset":
            self._reset(handler)
            self._served(ServedRequest(method, path, q.for_log(), 0, kind, fault_name, started, time.time()))
            return
        if fault_name == "stall":
            time.sleep(self.stall_seconds)
        if fault_name in (None, "stall"):
            try:
                status, headers, body, ctype = self._answer(method, path, q, kind, token, dry=False)
            except Exception:  # a simulator bug: answer like GitLab would rather than drop the connection
                traceback.print_exc()
                status, headers, body, ctype = 500, [], b'{"message":"500 Internal Server Error"}', "application/json"
        elif fault_name == "500":
            status, headers, body, ctype = 500, [], b'{"message":"500 Internal Server Error"}', "application/json"
        elif fault_name == "502_html":
            status, headers, body, ctype = 502, [], BAD_GATEWAY_HTML, "text/html; charset=utf-8"
        elif fault_name == "503_retry_after":
            status, headers, body, ctype = (503, [("Retry-After", "1")], b'{"message":"503 Service Unavailable"}',
                                            "application/json")
        elif fault_name == "429":
            retry_after = fault.retry_after if fault.retry_after is not None else 1
            status, headers, body, ctype = (429, self.limiter.throttled_headers(token or "", retry_after),
                                            b'{"message":"Retry later"}', "application/json")
        else:  # truncated / empty: a 200 whose body is broken
            _, headers, body, ctype = self._answer(method, path, q, kind, token, dry=True)
            status = 200
            body = body[: len(body) // 2] if fault_name == "truncated" else b""
        delay = self.latency + (self._latency_rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        if delay > 0:
            time.sleep(delay)
        # logged (and hooks run) before the answer leaves, so a client that has its answer sees both
        self._served(ServedRequest(method, path, q.for_log(), status, kind, fault_name, started, time.time()))
        self._write(handler, status, headers, body, ctype, head=method == "HEAD")

    @staticmethod
    def _write(handler: _Handler, status, headers, body, ctype, head=False) -> None:
        reason = handler.responses.get(status, ("",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}\r\n",
            f"Date: {formatdate(usegmt=True)}\r\n",
            "Server: nginx\r\n",
            f"Content-Type: {ctype}\r\n",
            f"Content-Length: {len(body)}\r\n",
            "Cache-Control: max-age=0, private, must-revalidate\r\n",
            "Vary: Origin\r\n",
            "X-Content-Type-Options: nosniff\r\n",
            "X-Frame-Options: SAMEORIGIN\r\n",
        ]
        lines += [f"{k}: {v}\r\n" for k, v in headers]
        if handler.close_connection:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1")
        try:
            handler.wfile.write(data if head else data + body)
        except OSError:
            handler.close_connection = True

    @staticmethod
    def _reset(handler: _Handler) -> None:
        """Drop the connection with a TCP reset and no response at all."""
        conn = handler.connection
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        handler.close_connection = True
        handler.rfile.close()  # drop the makefile reference so close() really closes (and resets)
        conn.close()

    def _served(self, entry: ServedRequest) -> None:
        due = []
        with self._lock:
            self._requests.append(entry)
            for hook in self._hooks:
                hook[0] -= 1
                if hook[0] <= 0:
                    due.append(hook[1])
            if due:
                self._hooks = [h for h in self._hooks if h[0] > 0]
        for fn in due:
            fn(self.tenant)
