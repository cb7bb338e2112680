"""The HTTP side of the simulator: authentication, rate limits, faults, the request log.

Order of concerns for every request: fault plan (a faulted request changes no state), then
authentication (an unknown private token is 401 and never touches the rate budget; a CI job token
counts only on the routes GitLab lets it authenticate, elsewhere the request is anonymous), token
expiry, the per-user throttle (429 ``Retry later``), method (405), then the route (``api.py``), which
applies the per-endpoint limits. Token values are never stored: the request log keeps only the kind
of token.
"""

from __future__ import annotations

import contextlib
import gc
import json
import random
import socket
import struct
import threading
import time
import traceback
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from . import ci as ci_mod
from .access import ANONYMOUS, Viewer
from .activity import advance_day
from .api import API_PREFIX, JOB_PIPELINE_ROUTES, JOB_ROUTES, Api, ApiError, Ctx, Paginator, Query, Redirect, route_of
from .faults import FaultPlan
from .instance import TOKENS, build_instance
from .ratelimit import ENDPOINT_BODY, GITLAB_COM_LIMITS, THROTTLED_BODY, EndpointLimiter, RateLimiter
from .tenant import Tenant
from .truth import STREAMS, TRUTH_STREAMS

__all__ = ["STREAMS", "TRUTH_STREAMS", "ServedRequest", "Simulator"]

EXPIRED_BODY = (b'{"error":"invalid_token","error_description":"Token is expired. '
                b'You can either do re-authorization or token refresh."}')
UNAUTHORIZED_BODY = b'{"message":"401 Unauthorized"}'
BAD_GATEWAY_HTML = (b"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>502 Bad Gateway</title>\n"
                    b"</head>\n<body>\n<h1>502</h1>\n<h2>Whoops, GitLab is taking too much time to respond.</h2>\n"
                    b"<p>Try refreshing the page, or going back and attempting the action again.</p>\n"
                    b"</body>\n</html>\n")
JSON = "application/json"


class ServedRequest(NamedTuple):
    method: str
    path: str
    query: dict
    status: int
    token_kind: str | None   # "private", "job" or None; never the token itself
    fault: str | None
    started: float
    finished: float


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


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
        self.sim.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.sim.track(self.connection, False)

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass

    def do_GET(self):
        self.sim.serve(self, "GET")

    def _not_get(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.sim.serve(self, self.command)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _not_get


class _Auth(NamedTuple):
    log_kind: str | None     # what the request log shows: "private", "job" or None
    principal: str | None    # the token kind it runs as ("admin", "user", ..., "job"), None: anonymous
    token: str | None
    rejected: bool           # an unknown private token, or a dead job token on a job route: 401


class Simulator:
    """A DataOps.live (GitLab API v4) server on loopback. See the package docstring for the API.

    ``Simulator(projects=N, seed=S, ...)`` serves the single-tenant layout (every private token is
    an administrator); ``Simulator.instance(...)`` a shared instance seen through ordinary tokens.
    """

    def __init__(self, projects: int = 200, seed: int = 1, tokens=("sim-token",), job_tokens=("sim-job-token",),
                 latency: float = 0.0, jitter: float = 0.0, rate_limit: int | None = 600, rate_window: float = 60.0,
                 fault_rate: float = 0.0, fault_kinds=None, fault_seed: int = 0, stall_seconds: float = 5.0,
                 offset_cap: int = 50_000, count_limit: int = 10_000, pipelines_per_project=(0, 6),
                 jobs_per_pipeline=(1, 4), host: str = "127.0.0.1", port: int = 0, anchor=None,
                 child_pipelines: float = 0.0, retries: float = 0.06, endpoint_limits=None,
                 endpoint_retry_after: bool = True, rate_limit_headers: str = "429", job_token_pipelines: bool = True,
                 tenant: Tenant | None = None, token_kinds: dict | None = None):
        if tenant is None:
            tenant = Tenant(projects=projects, seed=seed, pipelines_per_project=pipelines_per_project,
                            jobs_per_pipeline=jobs_per_pipeline, anchor=anchor, child_pipelines=child_pipelines,
                            retries=retries)
        self.tenant = tenant
        kinds: dict[str, str] = dict(token_kinds or {})
        for tok in tokens:
            kinds.setdefault(tok, tenant.default_principal)
        for tok in job_tokens:
            kinds.setdefault(tok, "job")
        self._token_kinds = kinds
        self.latency, self.jitter = float(latency), float(jitter)
        self.stall_seconds = float(stall_seconds)
        self.limiter = RateLimiter(rate_limit, rate_window, headers=rate_limit_headers)
        if endpoint_limits == "gitlab.com":
            endpoint_limits = GITLAB_COM_LIMITS
        self.endpoint_limiter = EndpointLimiter(endpoint_limits, retry_after=endpoint_retry_after)
        self.job_token_pipelines = job_token_pipelines
        self.faults = FaultPlan(fault_rate, fault_kinds, fault_seed)
        self.offset_cap, self.count_limit = offset_cap, count_limit
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._requests: list[ServedRequest] = []
        self._hooks: list[list] = []          # [requests still to go, fn]
        self._expiring: dict[str, int] = {}   # token -> authenticated requests it still may make
        self._connections: set = set()
        self._latency_rng = random.Random()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.api: Api | None = None

    @classmethod
    def instance(cls, projects: int = 100, other_projects: int = 250, seed: int = 1, anchor=None, customers: int = 6,
                 pipelines_per_project=(0, 6), jobs_per_pipeline=(1, 4), child_pipelines: float = 0.15,
                 retries: float = 0.06, tokens: dict | None = None, endpoint_limits="gitlab.com",
                 **options) -> Simulator:
        """A shared DataOps.live instance seen through ordinary tokens (see ``instance.py``).

        ``projects``: the customer's (Acme's) projects; ``other_projects``: the other customers' and
        the vendor's. ``tokens`` maps token values to kinds (default ``instance.TOKENS``); a token of
        kind "job" is sent as ``JOB-TOKEN``.
        """
        tenant = build_instance(projects=projects, other_projects=other_projects, seed=seed, anchor=anchor,
                                customers=customers, pipelines_per_project=pipelines_per_project,
                                jobs_per_pipeline=jobs_per_pipeline, child_pipelines=child_pipelines, retries=retries)
        kinds = dict(tokens if tokens is not None else TOKENS)
        return cls(tenant=tenant, tokens=(), job_tokens=(), token_kinds=kinds, endpoint_limits=endpoint_limits,
                   **options)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"sim": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        base = f"http://{self.host}:{self.port}"
        self.api = Api(self.tenant, Paginator(base, self.count_limit, self.offset_cap), base)
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
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def warm(self) -> Simulator:
        """Pre-build the cached JSON of every project (and the CI of the first ones), so a benchmark
        measures warm serving; what was built is then frozen out of the garbage collector's scans."""
        self.tenant.warm()
        gc.collect()
        gc.freeze()
        return self

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    # -- test hooks --------------------------------------------------------------------------

    @property
    def tokens(self) -> dict[str, str]:
        """Token value -> kind, every token this simulator accepts (simulator tokens, not secrets)."""
        return dict(self._token_kinds)

    def token(self, kind: str) -> str:
        """A token value of ``kind`` ("user", "admin", "project_bot", "group_bot", "external", "job")."""
        for tok, k in self._token_kinds.items():
            if k == kind:
                return tok
        raise ValueError(f"no {kind!r} token; known kinds: {', '.join(sorted(set(self._token_kinds.values())))}")

    def headers(self, kind: str | None = None) -> dict[str, str]:
        """The request headers that authenticate as a token of ``kind`` (default: this layout's)."""
        tok = self.token(kind or self.tenant.default_principal)
        return {"JOB-TOKEN": tok} if self._token_kinds[tok] == "job" else {"private-token": tok}

    def truth(self, stream: str, token: str | None = None, scope: str = "membership") -> list[dict]:
        """Every record of ``stream`` a correct extraction lands for ``token`` (a token value or a
        kind; default: this layout's default token) in ``scope``: "membership" (the default: what
        the token's user is a member of) or "instance" (everything the token can see; with an
        admin token, the whole instance). See ``truth.py``."""
        if stream not in TRUTH_STREAMS:
            raise ValueError(f"unknown stream {stream!r}; known: {', '.join(TRUTH_STREAMS)}")
        kind = self._token_kinds.get(token, token) if token is not None else None
        return self.tenant.truth(stream, kind, scope)

    def advance_day(self, seed: int | None = None):
        """Advance the customer's tenant by a day of activity; returns what changed (``activity.py``)."""
        return advance_day(self.tenant, seed)

    @property
    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def inject(self, kind: str, count: int = 1, path_prefix: str | None = None, retry_after=None,
               reset_after=None) -> None:
        """Answer the next ``count`` requests (under ``path_prefix``) with a ``kind`` fault. A 429
        says ``Retry-After: retry_after`` (default 1) and ``RateLimit-Reset`` ``reset_after`` seconds
        from now (default: the same). GitLab computes both from one instant, but RateLimit-Reset
        is an absolute time, read against the client's clock: a clock ahead sees it sooner."""
        self.faults.inject(kind, count, path_prefix, retry_after, reset_after)

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

    def track(self, conn, add: bool) -> None:
        """The handler reports an open (``add``) or closed connection, so ``stop`` can close them."""
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _authenticate(self, headers, q: Query, route: str | None) -> _Auth:
        """``find_user_from_sources`` (lib/api/api_guard.rb): a private or bearer token, else a job
        token, which only counts on ``job_token_allowed`` routes (``find_user_from_job_token``,
        lib/gitlab/auth/auth_finders.rb); without either the request is anonymous."""
        token = headers.get("private-token") or q.get("private_token")
        if token is None:
            auth = headers.get("Authorization") or ""
            if auth[:7].lower() == "bearer ":
                token = auth[7:].strip()
        if token is not None:
            kind = self._token_kinds.get(token)
            if kind is None or kind == "job":
                return _Auth(None, None, None, True)
            return _Auth("private", kind, token, False)
        job = headers.get("JOB-TOKEN") or q.get("job_token")
        if job is not None:
            allowed = route in JOB_ROUTES or (self.job_token_pipelines and route in JOB_PIPELINE_ROUTES)
            if not allowed:
                return _Auth("job", None, job, False)   # ignored: the request is anonymous
            if self._token_kinds.get(job) != "job" or self._job_of() is None:
                return _Auth("job", None, job, True)
            return _Auth("job", "job", job, False)
        return _Auth(None, None, None, False)

    def _job_of(self):
        """The running job a job token belongs to (None once it stopped running)."""
        job = self.tenant.principals.get("job")
        if job is None:
            job = _find_running_job(self.tenant)
            if job is not None:
                self.tenant.principals["job"] = job
        if isinstance(job, ci_mod.Job) and job.status == "running":
            return job
        return None

    def _viewer(self, auth: _Auth) -> Viewer:
        if auth.principal is None:
            return ANONYMOUS
        if auth.principal == "job":
            job = self._job_of()
            return Viewer("user", job.user, job=job)
        return self.tenant.viewer(auth.principal)

    def _answer(self, method, path, q: Query, auth: _Auth, dry: bool):
        """(status, headers, body, content type) of the normal answer. ``dry``: count nothing."""
        if auth.rejected:
            return 401, [], UNAUTHORIZED_BODY, JSON
        token = auth.token
        remaining = None
        if auth.log_kind == "private" and token is not None:
            with self._lock:
                remaining = self._expiring.get(token)
                if remaining is not None and not dry:
                    self._expiring[token] = remaining - 1
        if remaining is not None and remaining <= 0:
            www = ('Bearer realm="Protected by OAuth 2.0", error="invalid_token", '
                   'error_description="Token is expired. You can either do re-authorization or token refresh."')
            return 401, [("WWW-Authenticate", www)], EXPIRED_BODY, JSON
        key = token if auth.principal is not None and token is not None else "anonymous:127.0.0.1"
        if dry:
            allowed, rate_headers = True, self.limiter.peek(key)
        else:
            allowed, rate_headers = self.limiter.hit(key)
        if not allowed:
            return 429, rate_headers, THROTTLED_BODY, "text/plain"
        if method != "GET":
            return 405, rate_headers, b'{"message":"405 Method Not Allowed"}', JSON
        if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
            return 404, rate_headers, b'{"message":"404 Not Found"}', JSON
        viewer = self._viewer(auth)
        access = self.tenant.access(viewer)
        limiter = self.endpoint_limiter

        def limit(rule: str, source=None) -> None:
            if dry:
                return
            headers = limiter.hit(rule, key, None if source is None else str(source))
            if headers is not None:
                raise ApiError(429, ENDPOINT_BODY, headers)

        ctx = Ctx(viewer, access, auth.principal == "job", limit, path)
        assert self.api is not None
        try:
            page = self.api.dispatch(path[len(API_PREFIX):], q, ctx)
        except Redirect as moved:
            body = f"This resource has been moved permanently to {moved.location}".encode()
            return 301, [*rate_headers, ("Location", moved.location)], body, None
        except ApiError as err:
            body = err.body if isinstance(err.body, bytes) else _json(err.body)
            return err.status, rate_headers + err.headers, body, err.ctype
        return page.status, page.headers + rate_headers, page.body, JSON

    def serve(self, handler: _Handler, method: str) -> None:
        """Answer one request (called by the handler thread)."""
        started = time.time()
        split = urlsplit(handler.path)
        path = split.path
        q = Query(split.query)
        rel = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else path
        parts = [unquote(s) for s in rel.strip("/").split("/")] if rel.strip("/") else []
        route = route_of(parts)
        auth = self._authenticate(handler.headers, q, route)
        kind = auth.log_kind
        fault = self.faults.decide(path, rel)
        fault_name = fault.kind if fault else None
        if fault_name == "reset":
            self._reset(handler)
            self._served(ServedRequest(method, path, q.for_log(), 0, kind, fault_name, started, time.time()))
            return
        if fault_name == "stall":
            time.sleep(self.stall_seconds)
        status: int
        headers: list
        body: bytes
        ctype: str | None
        if fault_name in (None, "stall"):
            try:
                status, headers, body, ctype = self._answer(method, path, q, auth, dry=False)
            except Exception:  # noqa: BLE001 - a simulator bug: answer 500 as GitLab would, keep serving
                traceback.print_exc()
                status, headers, body, ctype = 500, [], b'{"message":"500 Internal Server Error"}', JSON
        elif fault_name == "500":
            status, headers, body, ctype = 500, [], b'{"message":"500 Internal Server Error"}', JSON
        elif fault_name == "502_html":
            status, headers, body, ctype = 502, [], BAD_GATEWAY_HTML, "text/html; charset=utf-8"
        elif fault_name == "503_retry_after":
            status, headers, body, ctype = 503, [("Retry-After", "1")], b'{"message":"503 Service Unavailable"}', JSON
        elif fault_name == "429":
            assert fault is not None
            retry_after = fault.retry_after if fault.retry_after is not None else 1
            status, headers, body, ctype = (429, self.limiter.throttled_headers(auth.token or "", retry_after,
                                                                                           fault.reset_after),
                                            THROTTLED_BODY, "text/plain")
        else:  # truncated / empty: a 200 whose body is broken
            _, headers, body, ctype = self._answer(method, path, q, auth, dry=True)
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
        ]
        if ctype is not None:
            lines.append(f"Content-Type: {ctype}\r\n")
        lines += [
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
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
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


def _find_running_job(tenant: Tenant):
    """The single layout's job token: the newest running build of the tenant, if any."""
    with tenant.lock:
        best = None
        for pid in sorted(tenant.projects):
            p = tenant.projects[pid]
            if p.not_found or p.builds_access_level == "disabled":
                continue
            for job in tenant.jobs(p):
                if job.status == "running" and (best is None or job.id > best.id):
                    best = job
        return best
