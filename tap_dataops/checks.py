"""Refusing bad input before any request: settings, catalog and state, each as one line."""

from __future__ import annotations

import difflib
import ipaddress
import typing as t
from datetime import datetime
from urllib.parse import urlsplit

from singer_sdk.singerlib import Catalog

from tap_dataops.budget import GITLAB_COM_ENDPOINT_LIMITS
from tap_dataops.errors import ConfigError

DEFAULT_API_URL = "https://app.dataops.live/api/v4"


def check_settings(config: t.Mapping[str, t.Any]) -> None:
    """Refuse, before any request, a config that cannot authenticate, would leak the token,
    or that JSON Schema alone does not catch."""
    start_date = config.get("start_date")
    if start_date is not None:
        try:
            datetime.fromisoformat(str(start_date).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"start_date {str(start_date)[:40]!r} is not an ISO 8601 date-time; use e.g. 2024-01-31T00:00:00Z"
            ) from None
    has_private, has_job = bool(config.get("private_token")), bool(config.get("job_token"))
    if not has_private and not has_job:
        raise ConfigError(
            "no token configured: set private_token (env TAP_DATAOPS_PRIVATE_TOKEN) to a personal, project or "
            "group access token with read_api scope"
        )
    if has_private and has_job:
        raise ConfigError("both private_token and job_token are set: keep only one of them")
    if has_job:
        # GitLab accepts a CI job token only on the routes marked job_token_allowed (the job's
        # own job, and on recent versions its project's pipelines); everywhere else the request
        # is anonymous: public projects only, members and namespaces 401 (auth_finders.rb,
        # doc/ci/jobs/ci_job_token.md). A run with it would look like a tiny, wrong inventory.
        raise ConfigError(
            "job_token (CI_JOB_TOKEN) cannot read the inventory: GitLab accepts a CI job token only for the "
            "job's own job and, on recent versions, its project's pipelines, and treats every other request "
            "as anonymous (public projects only, no members or namespaces). Inside a pipeline, store a project "
            "or group access token with read_api scope as a masked CI/CD variable and set private_token from it"
        )

    api_url = str(config.get("api_url") or "")
    parts = urlsplit(api_url)
    shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}" if parts.scheme else api_url[:80]
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"api_url {shown!r} contains a user name or password (user:secret@host), which would be sent and "
            "logged with every request: remove it and set the token in private_token or job_token"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"api_url {shown!r} is not a valid http(s) URL; use e.g. {DEFAULT_API_URL}")
    if not parts.path.rstrip("/").endswith("/api/v4"):
        raise ConfigError(
            f"api_url {shown!r} must be the API base URL ending in /api/v4, e.g. "
            f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/api/v4"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not config.get("allow_insecure_http"):
        raise ConfigError(
            f"api_url {shown!r} uses plain http:// to a remote host, which would send the token in clear text: "
            "use https://, or set allow_insecure_http to true if you accept that risk"
        )


def check_unknown_settings(config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> None:
    """Refuse a setting this tap does not have (a typo would otherwise sync the whole scope)."""
    known = set(schema.get("properties", {}))
    unknown = sorted(set(config) - known)
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"the settings are {', '.join(sorted(known))}"
    more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    raise ConfigError(f"unknown setting {name[:60]!r}{more}: {hint}")


def check_endpoint_limits(limits: t.Mapping[str, t.Any]) -> dict[str, tuple[int, float]]:
    """endpoint_rate_limits as the budgets take it, or one line naming what is wrong."""
    checked: dict[str, tuple[int, float]] = {}
    for endpoint, value in limits.items():
        if endpoint not in GITLAB_COM_ENDPOINT_LIMITS:
            raise ConfigError(
                f"endpoint_rate_limits names {endpoint[:60]!r}; the rate-limited endpoints are "
                f"{', '.join(repr(e) for e in GITLAB_COM_ENDPOINT_LIMITS)}"
            )
        if (not isinstance(value, list | tuple) or len(value) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                or value[0] < 0 or value[1] <= 0):
            raise ConfigError(
                f"endpoint_rate_limits[{endpoint!r}] must be [requests, seconds] with requests >= 0 (0: no limit) "
                f"and seconds > 0, e.g. {list(GITLAB_COM_ENDPOINT_LIMITS[endpoint])}"
            )
        checked[endpoint] = (int(value[0]), float(value[1]))
    return checked


CATALOG_HINT = "regenerate it with tap-dataops --config CONFIG --discover"
STATE_HINT = "pass the last STATE line the loader emitted, or run without --state to start over"


def check_catalog_shape(catalog: t.Any) -> None:
    """Refuse a catalog object that is not a Singer catalog (the SDK would fail on it with a
    bare TypeError or AttributeError). A path is left to the SDK to read."""
    if not isinstance(catalog, dict):
        return
    entries = catalog.get("streams")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("tap_stream_id"), str) and isinstance(e.get("schema"), dict)
        for e in entries
    ):
        raise ConfigError(
            'the catalog is not a Singer catalog (an object with a "streams" list of entries, each with '
            f'"tap_stream_id" and "schema"); {CATALOG_HINT}'
        )


def check_catalog_streams(catalog: Catalog | None, known: t.Iterable[str]) -> None:
    """Refuse a catalog (as the SDK loaded it) that names a stream this tap lacks: the SDK
    would silently skip it."""
    if catalog is None:
        return
    known = set(known)
    unknown = sorted(set(catalog) - known)
    if unknown:
        raise ConfigError(
            f"the catalog names stream(s) {', '.join(repr(u[:60]) for u in unknown[:5])}, which tap-dataops "
            f"does not have (it has {', '.join(sorted(known))}); {CATALOG_HINT}"
        )


def check_state(state: t.Any) -> None:
    """Refuse a state that is not a Singer state (the SDK would fail on it with a bare TypeError)."""
    if state is None or state == {}:
        return
    if isinstance(state, dict) and state.get("type") == "STATE" and "value" in state:
        raise ConfigError(
            'the state file holds a whole STATE message; keep only its "value" (the loader prints just that)'
        )
    bookmarks = state.get("bookmarks", {}) if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict) or not all(isinstance(v, dict) for v in bookmarks.values()):
        raise ConfigError(
            'the state is not a Singer state (a JSON object whose "bookmarks" maps streams to objects); '
            f"{STATE_HINT}"
        )
    for stream, bookmark in bookmarks.items():
        partitions = bookmark.get("partitions", [])
        if not isinstance(partitions, list) or not all(_is_partition(p) for p in partitions):
            raise ConfigError(
                f"the state's {stream!r} partitions are not a list of objects, each with a \"context\" object of "
                f"plain values; {STATE_HINT}"
            )
        contexts = [tuple(sorted(p["context"].items())) for p in partitions]
        if len(set(contexts)) < len(contexts):
            raise ConfigError(f"the state's {stream!r} partitions list the same context twice; {STATE_HINT}")


def _is_partition(partition: t.Any) -> bool:
    context = partition.get("context") if isinstance(partition, dict) else None
    return isinstance(context, dict) and all(
        isinstance(value, str | int | float | bool) or value is None for value in context.values()
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
