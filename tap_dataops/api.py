"""The HTTP policy every request of a run goes through, and the pages it answers with.

One ``ApiClient`` per tap run owns: the request budget shared by every stream and thread,
authentication headers, the wait the server asks for on 429, retries with exponential
backoff and jitter for transient faults (bounded by a time budget), the parsing and
checking of JSON bodies, and the one-line errors a user sees when it gives up. Each
answer is a ``Page``. Tokens live only in request headers; nothing here ever formats
them into text.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import re
import threading
import time
import typing as t
from urllib.parse import urlsplit

import backoff
import msgspec
import requests

from tap_dataops.budget import EndpointBudgets, RequestBudget, endpoint_family
from tap_dataops.errors import AccessError, ApiError, AuthError, RateLimitTooLong

LOGGER = logging.getLogger("tap-dataops")

# msgspec parses a page of 100 full projects about three times faster than json.
_decode_json = msgspec.json.Decoder().decode
# Checks that a body is well-formed JSON without building it (a seventh of the cost).
_check_json = msgspec.json.Decoder(msgspec.Raw).decode

RESET_MARGIN_SECONDS = 0.5
PROGRESS_SECONDS = 15.0

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 524})


@dataclasses.dataclass(eq=False)
class Page:
    """One answer of the API: its JSON body and the headers that say what follows it.

    A page fetched ahead on a worker thread keeps its body as checked JSON bytes
    (``raw``) until ``parse`` is called on the thread that hands its records on: parsed
    there, after the page before was let go of, its objects reuse memory still in the
    CPU's cache (a fifth of the tap's CPU at zero latency, against parsing on the worker).
    """

    endpoint: str  # the URL's path, for messages
    headers: t.Mapping[str, str]
    links: t.Mapping[str, t.Mapping[str, str]]  # the Link header, by rel
    body: t.Any = None
    raw: bytes = b""

    def parse(self) -> t.Any:
        if self.raw:
            self.body, self.raw = _decode_json(self.raw), b""
        return self.body

    @property
    def records(self) -> list[dict]:
        """The body of a listing: a JSON array of objects."""
        body = self.parse()
        if not isinstance(body, list):
            raise ApiError(f"GET {self.endpoint} answered with a JSON {type(body).__name__}, expected a list")
        return body

    @property
    def object(self) -> dict:
        """The body of a single object's endpoint."""
        body = self.parse()
        if not isinstance(body, dict):
            raise ApiError(f"GET {self.endpoint} answered with a JSON {type(body).__name__}, expected an object")
        return body


class RequestStats:
    """Counters a run reports at its end (and the benchmarks read)."""

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.rate_limit_wait_seconds = 0.0  # waits the server asked for (429, RateLimit-Remaining)
        self.paced_seconds = 0.0  # waits of our own budgets, summed over threads
        self._lock = threading.Lock()

    def describe(self) -> str:
        return (f"{self.requests} requests, {self.retries} retried, {self.rate_limited} rate limited "
                f"({self.rate_limit_wait_seconds:.0f}s waited for the server's rate limit, "
                f"{self.paced_seconds:.0f}s of request time paced under the request budgets)")

    def add(self, **increments: float) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)


class RateLimited(Exception):
    """A 429: the budget is paused for as long as the server asked; try the same request again."""


class Redirected(Exception):
    """A same-host redirect (a renamed project's old path answers 301): ask its Location."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


MAX_REDIRECTS = 5
# A connection that fails like this before any answer came back means api_url is wrong.
UNREACHABLE = ("name or service not known", "temporary failure in name resolution", "connection refused")


class TransientFault(Exception):
    """A failure worth retrying (5xx, reset, timeout, broken body)."""

    def __init__(self, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after


def endpoint_of(url: str) -> str:
    """The path of a URL, for messages: never the query string or host credentials."""
    return urlsplit(url).path or "/"


def _seconds_from_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def server_wait_seconds(headers: t.Mapping[str, str]) -> float | None:
    """How long the server asks us to wait: ``Retry-After``, else ``RateLimit-Reset``."""
    wait = _seconds_from_retry_after(headers.get("Retry-After"))
    if wait is not None:
        return wait
    reset = headers.get("RateLimit-Reset")
    if reset and reset.strip().isdigit():
        # Whole seconds: a little margin so that we do not arrive just before the reset.
        return max(0.0, int(reset) - time.time() + RESET_MARGIN_SECONDS)
    return None


class ApiClient:
    """Sends GET requests to DataOps.live under the run's budget and retry policy."""

    def __init__(
        self,
        *,
        auth_headers: dict[str, str],
        token_setting: str,
        requests_per_minute: int,
        timeout: float,
        user_agent: str,
        retry_time_budget: float,
        max_rate_limit_wait: float,
        max_concurrency: int = 1,
        base_url: str = "",
        endpoint_limits: t.Mapping[str, tuple[int, float]] | None = None,
    ) -> None:
        self.budget = RequestBudget(requests_per_minute)
        self.endpoints = EndpointBudgets(endpoint_limits or {})
        self._base = urlsplit(base_url)
        self._answered_once = False
        self.stats = RequestStats()
        self.timeout = timeout
        self.retry_time_budget = retry_time_budget
        self.max_rate_limit_wait = max_rate_limit_wait
        self._token_setting = token_setting
        self._local = threading.local()
        self._last_progress = time.monotonic()
        self._headers = {"User-Agent": user_agent, "Accept": "application/json", **auth_headers}
        # Slow down before the server says no: at this many requests left in its window
        # (at least one per thread, since requests already in flight may take them) we
        # wait for the window to reset rather than spend the last ones.
        self.low_water = max(2, max_concurrency, min(20, requests_per_minute // 30))

    @property
    def session(self) -> requests.Session:
        """One session per thread: requests.Session is not safe to share across threads."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            self._local.session = session
        return session

    def get(self, url: str, params: t.Mapping[str, t.Any] | None = None, *, parse: bool = True) -> Page:
        """GET ``url``; return its page, the JSON body parsed.

        With ``parse=False`` the body is only checked to be well-formed JSON (a malformed
        one is retried like any transient fault); ``Page.parse`` parses it later, on the
        thread that uses it.

        Waits out 429s as the server asks, retries transient faults with exponential
        backoff and full jitter until ``retry_time_budget`` is spent, and raises a
        one-line ``ApiError`` (or ``AuthError``/``AccessError``) otherwise.
        """
        endpoint = endpoint_of(url)
        started = time.monotonic()
        delays = backoff.expo(base=2, factor=0.5, max_value=30)
        next(delays)  # backoff's generators yield 0 first
        attempts = redirects = 0
        while True:
            attempts += 1
            try:
                return self._attempt(url, params, endpoint, parse)
            except RateLimited:
                # Not a fault: waiting as long as the server asks is always right, and it
                # does not spend the retry budget. The same request is sent again.
                attempts -= 1
                continue
            except Redirected as moved:
                # Its Location keeps the query (GitLab's url_with_project_id), so ask it as it is.
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise ApiError(f"GET {endpoint} was redirected more than {MAX_REDIRECTS} times") from None
                url, params, attempts = moved.location, None, attempts - 1
                continue
            except TransientFault as fault:
                delay = backoff.full_jitter(next(delays))
                if fault.retry_after is not None:
                    delay = max(delay, fault.retry_after)
                elapsed = time.monotonic() - started
                if elapsed + delay > self.retry_time_budget:
                    raise ApiError(
                        f"GET {endpoint} failed after {attempts} attempts over {elapsed:.0f}s: "
                        f"{fault.description}. DataOps.live may be unavailable; rerun later "
                        f"(the run resumes from its last state) or raise retry_time_budget."
                    ) from None
                self.stats.add(retries=1)
                LOGGER.warning(
                    "GET %s: %s; retrying in %.1fs (attempt %d)", endpoint, fault.description, delay, attempts + 1
                )
                time.sleep(delay)

    def _family(self, endpoint: str) -> str | None:
        base = self._base.path.rstrip("/")
        return endpoint_family(endpoint[len(base):]) if base and endpoint.startswith(base) else None

    def _attempt(self, url: str, params: t.Mapping[str, t.Any] | None, endpoint: str, parse: bool) -> Page:
        family = self._family(endpoint)
        paced = self.budget.acquire()
        family_budget = self.endpoints.budget_for(family)
        if family_budget is not None:
            paced += family_budget.acquire()
        self.stats.add(requests=1, paced_seconds=paced)
        self._report_progress()
        try:
            response = self.session.get(url, params=params, timeout=self.timeout, allow_redirects=False, stream=True)
            content = _read_body(response)
        except requests.exceptions.Timeout:
            raise TransientFault(f"no answer within request_timeout ({self.timeout:g}s)") from None
        except requests.exceptions.SSLError as exc:
            raise ApiError(
                f"GET {endpoint}: TLS failed ({_tls_reason(exc)}); check api_url's scheme "
                f"and host and the server's certificate (REQUESTS_CA_BUNDLE for a private CA)"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            reason = _connection_reason(exc)
            if not self._answered_once and reason in UNREACHABLE:
                host = self._base.hostname or urlsplit(url).hostname
                raise ApiError(
                    f"cannot reach {host}: {reason}; check api_url (the host name, the port, and that the server "
                    "is up)", status=None, exit_code=2,
                ) from None
            raise TransientFault(f"connection failed ({reason})") from None

        self._answered_once = True
        self._observe_rate_limit(response.headers)
        status = response.status_code
        if status == 429:
            self._wait_for_rate_limit(response, endpoint, family)
            raise RateLimited
        if status in (301, 302, 307, 308):
            raise self._redirect(response, endpoint)
        if status == 401:
            raise AuthError(self._auth_message(response, endpoint), status=401)
        if status in (403, 404):
            raise AccessError(f"GET {endpoint} answered {status} {_api_message(response)}", status=status)
        if status in TRANSIENT_STATUSES:
            raise TransientFault(
                f"server error {status} {_api_message(response)}",
                retry_after=_seconds_from_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 300:
            raise ApiError(
                f"GET {endpoint} answered {status} {_api_message(response)}; "
                f"check api_url points at the DataOps.live API (…/api/v4)",
                status=status,
            )
        body = self._check_body(response, content, parse=parse)
        return Page(endpoint, response.headers, response.links, body, b"" if parse else content)

    def _report_progress(self) -> None:
        """A line every PROGRESS_SECONDS, so that a long run shows it is moving."""
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_SECONDS:
            return
        self._last_progress = now
        LOGGER.info("Progress: %s so far", self.stats.describe())

    def _check_body(self, response: requests.Response, content: bytes, *, parse: bool) -> t.Any:
        if not content:
            raise TransientFault("empty body on a 200 response")
        declared = response.headers.get("Content-Length")
        encoded = "Content-Encoding" in response.headers
        if declared and declared.isdigit() and int(declared) != len(content) and not encoded:
            raise TransientFault(f"truncated body ({len(content)} of {declared} bytes)")
        if "json" not in response.headers.get("Content-Type", "application/json"):
            raise TransientFault(f"non-JSON body ({response.headers.get('Content-Type')}) on a 200 response")
        try:
            if parse:
                return _decode_json(content)
            _check_json(content)
            return None
        except msgspec.DecodeError:
            raise TransientFault("truncated or malformed JSON body on a 200 response") from None

    def _observe_rate_limit(self, headers: t.Mapping[str, str]) -> None:
        remaining = headers.get("RateLimit-Remaining")
        if remaining is None or not remaining.strip().isdigit():
            return
        # The window's quota is Observed + Remaining (RateLimit-Limit is per minute whatever the
        # window, so a short window would make every answer look low).
        observed = headers.get("RateLimit-Observed", "")
        limit = headers.get("RateLimit-Limit", "")
        quota: int | None
        if observed.strip().isdigit():
            quota = int(observed) + int(remaining)
        else:
            quota = int(limit) if limit.strip().isdigit() else None
        reserve = self.low_water if quota is None else min(self.low_water, quota // 2)
        if int(remaining) <= max(1, reserve):
            wait = server_wait_seconds({"RateLimit-Reset": headers.get("RateLimit-Reset", "")})
            if wait and wait > self.max_rate_limit_wait:
                # Beyond the user's patience: never pause every thread for it (a 429 that
                # asks for it ends the run with RateLimitTooLong; until then the server
                # still allows the requests it says remain).
                return
            if wait:
                LOGGER.info("RateLimit-Remaining is %s: pausing %.1fs until the server's window resets",
                            remaining, wait)
                self.budget.pause_until(time.monotonic() + wait)
                self.stats.add(rate_limit_wait_seconds=wait)

    def _redirect(self, response: requests.Response, endpoint: str) -> Exception:
        """A redirect is followed only within the configured API: the token goes nowhere else."""
        location = response.headers.get("Location", "")
        target = urlsplit(requests.compat.urljoin(response.url or "", location))
        base = self._base
        if (target.scheme, target.netloc) == (base.scheme, base.netloc) and target.path.startswith(base.path):
            return Redirected(target.geturl())
        return ApiError(
            f"GET {endpoint} answered {response.status_code}, redirecting to {target.scheme}://{target.hostname}"
            f"{target.path}, outside api_url: not followed (the token would go there); check api_url",
            status=response.status_code,
        )

    def _wait_for_rate_limit(self, response: requests.Response, endpoint: str, family: str | None) -> None:
        # The per-user throttle (Rack::Attack) answers plain text ("Retry later") with
        # RateLimit-* headers and holds back every request; a per-endpoint limit
        # (ApplicationRateLimiter, JSON) holds back that endpoint only, and on older GitLab
        # says nothing of how long: then its interval (lib/api/helpers/rate_limiter.rb).
        per_endpoint = (family in self.endpoints.intervals and "RateLimit-Name" not in response.headers
                        and "json" in response.headers.get("Content-Type", ""))
        wait = server_wait_seconds(response.headers)
        if wait is None:
            wait = self.endpoints.intervals[family] if per_endpoint and family else 60.0
        self.stats.add(rate_limited=1, rate_limit_wait_seconds=wait)
        if wait > self.max_rate_limit_wait:
            raise RateLimitTooLong(
                f"GET {endpoint} was rate limited and DataOps.live asks to wait {wait:.0f}s, longer than "
                f"max_rate_limit_wait ({self.max_rate_limit_wait:g}s); rerun later with the last state, "
                f"or raise max_rate_limit_wait",
                status=429,
            )
        LOGGER.warning("GET %s: rate limited (429); waiting %.1fs as the server asks", endpoint, wait)
        budget = (self.endpoints.budget_for(family) if per_endpoint else None) or self.budget
        budget.pause_until(time.monotonic() + wait)

    def _auth_message(self, response: requests.Response, endpoint: str) -> str:
        body = _json_or_none(response)
        if isinstance(body, dict) and body.get("error") == "invalid_token":
            return (
                f"GET {endpoint}: the token has expired or was revoked (401 invalid_token); "
                f"create a new token and set {self._token_setting}"
            )
        return (
            f"GET {endpoint}: DataOps.live rejected the token (401 Unauthorized); "
            f"check {self._token_setting} (a personal, project or group access token with read_api scope)"
        )


def _json_or_none(response: requests.Response) -> t.Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _read_body(response: requests.Response) -> bytes:
    """The whole body of a streamed response.

    requests' ``.content`` reads a body in 10 KiB chunks through four layers of Python,
    a tenth of the tap's CPU on pages of 100 projects (700 KB); ``chunk_size=None`` reads
    it in one go, with requests' own error mapping. Error bodies are read the usual way,
    so that ``.json()`` and ``.text`` keep working on them.
    """
    if response.status_code != 200:
        return response.content
    return b"".join(response.iter_content(chunk_size=None))


def _api_message(response: requests.Response) -> str:
    """GitLab's error text, e.g. ``{"message": "403 Forbidden"}``, kept short and on one line."""
    body = _json_or_none(response)
    text = ""
    if isinstance(body, dict):
        text = str(body.get("message") or body.get("error") or "")
    elif "html" in response.headers.get("Content-Type", ""):
        text = "(HTML error page)"
    text = " ".join(text.split())
    return f"({text[:200]})" if text else f"({response.reason})"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _tls_reason(exc: BaseException) -> str:
    """The OpenSSL reason inside requests' nested wrappers (which start with the pool's repr)."""
    text = str(exc)
    verify = re.search(r"certificate verify failed: ([^()'\"]+)", text)
    if verify:
        return f"certificate verify failed: {verify.group(1).strip()}"
    reason = re.search(r"\[SSL: ([A-Z0-9_]+)\]", text)
    if reason:
        hint = " (is the server speaking plain http?)" if reason.group(1) == "WRONG_VERSION_NUMBER" else ""
        return reason.group(1).lower().replace("_", " ") + hint
    return _first_line(exc)


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    for known in ("Connection refused", "Connection reset", "Name or service not known",
                  "Temporary failure in name resolution", "Remote end closed connection",
                  "IncompleteRead", "Connection aborted"):
        if known in text:
            return known.lower()
    return type(exc).__name__
