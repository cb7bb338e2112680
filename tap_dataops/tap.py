"""tap-dataops: settings and the list of streams."""

from __future__ import annotations

import gc
import ipaddress
import typing as t
from collections import Counter
from datetime import datetime
from functools import cached_property
from urllib.parse import urlsplit

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import Catalog

from tap_dataops import cli
from tap_dataops.concurrency import Fetcher
from tap_dataops.errors import ConfigError
from tap_dataops.http import ApiClient
from tap_dataops.output import BufferedMessageWriter, PacedStateWriter
from tap_dataops.redaction import redact_secrets
from tap_dataops.streams import STREAM_TYPES


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


DEFAULT_API_URL = "https://app.dataops.live/api/v4"
SECRET_SETTINGS = ("private_token", "job_token")


class TapDataOps(Tap):
    """Singer tap for the DataOps.live REST API (GitLab API v4)."""

    name = "tap-dataops"
    message_writer_class = BufferedMessageWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_url",
            th.StringType,
            default=DEFAULT_API_URL,
            description="Base URL of the DataOps.live REST API, including /api/v4.",
        ),
        th.Property(
            "private_token",
            th.StringType,
            secret=True,
            description="Personal, project or group access token (read_api scope), sent as the private-token header.",
        ),
        th.Property(
            "job_token",
            th.StringType,
            secret=True,
            description="CI_JOB_TOKEN, for runs inside a DataOps.live pipeline job; sent as the JOB-TOKEN header. "
            "Set this or private_token, not both.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Only sync records active or updated since this time on the first run.",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=100),
            default=100,
            description="Records per page (per_page); 100 is the API's maximum and costs the fewest requests.",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType(minimum=1),
            default=600,
            description="The most requests sent in any 60-second window (DataOps.live allows 600 per user).",
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType(minimum=1, maximum=32),
            default=8,
            description="Requests in flight at once (all under requests_per_minute); 1 fetches one at a time.",
        ),
        th.Property(
            "request_timeout",
            th.NumberType(exclusive_minimum=0),
            default=60,
            description="Seconds to wait for one response before retrying it.",
        ),
        th.Property(
            "retry_time_budget",
            th.NumberType(minimum=0),
            default=300,
            description="Seconds one request may spend retrying server errors, resets and timeouts before the run fails.",
        ),
        th.Property(
            "max_rate_limit_wait",
            th.NumberType(minimum=0),
            default=900,
            description="The longest wait a 429 may ask for; a longer Retry-After ends the run with a resumable state.",
        ),
        th.Property(
            "groups",
            th.ArrayType(th.StringType),
            description="Only these groups (full paths or ids) and their subgroups: their projects, groups and members.",
        ),
        th.Property(
            "projects",
            th.ArrayType(th.StringType),
            description="Only these projects (full paths or ids), in addition to the groups' projects.",
        ),
        th.Property(
            "include_archived",
            th.BooleanType,
            default=True,
            description="Include archived projects.",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            description="User-Agent header sent with every request.",
        ),
        th.Property(
            "allow_insecure_http",
            th.BooleanType,
            default=False,
            description="Allow a plain http:// api_url to a host other than loopback (the token travels in clear text).",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, catalog: t.Any = None, state: t.Any = None, **kwargs: t.Any) -> None:
        # The SDK would fail on a catalog or state of the wrong shape with a bare
        # TypeError/AttributeError, and silently skip a selected stream it does not know.
        check_catalog(catalog)
        check_state(state)
        super().__init__(*args, catalog=catalog, state=state, **kwargs)
        self._state_writer = PacedStateWriter(self.message_writer)  # see tap_dataops.output

    def discover_streams(self) -> list:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @cached_property
    def skips(self) -> SkipCounter:
        return SkipCounter()

    @cached_property
    def fetcher(self) -> Fetcher:
        return Fetcher(self.config["max_concurrency"])

    @cached_property
    def ci_disabled_projects(self) -> set[int]:
        """Projects whose pipelines and jobs are not requested at all (CI/CD is off)."""
        return set()

    def sync_all(self) -> None:  # type: ignore[misc]  # the SDK has no after-sync hook
        # Everything alive now (the SDK, schemas, catalog) lives the whole run; frozen, it
        # is no longer walked by every full garbage collection, which decoding pages of
        # thousands of dicts triggers often (10-15% of the tap's CPU).
        gc.freeze()
        try:
            super().sync_all()
            self._state_writer.flush()  # the final state, whether or not it was due
        finally:
            self.fetcher.close()
        for line in self.skips.summary():
            self.logger.warning(line)
        stats = self.api_client.stats
        self.logger.info(
            "Run complete: %d requests, %d retried, %d rate limited (%.0fs waited for the rate limit)",
            stats.requests, stats.retries, stats.rate_limited, stats.rate_limit_wait_seconds,
        )

    @cached_property
    def api_client(self) -> ApiClient:
        if self.config.get("private_token"):
            auth_headers, token_setting = {"PRIVATE-TOKEN": self.config["private_token"]}, "private_token"
        else:
            auth_headers, token_setting = {"JOB-TOKEN": self.config["job_token"]}, "job_token"
        return ApiClient(
            auth_headers=auth_headers,
            token_setting=token_setting,
            requests_per_minute=self.config["requests_per_minute"],
            timeout=float(self.config["request_timeout"]),
            user_agent=self.config.get("user_agent") or f"tap-dataops/{self.plugin_version}",
            retry_time_budget=float(self.config["retry_time_budget"]),
            max_rate_limit_wait=float(self.config["max_rate_limit_wait"]),
            max_concurrency=self.config["max_concurrency"],
        )

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's JSON Schema check, then the rules a schema cannot state, as one line."""
        secrets = [str(self.config.get(name)) for name in SECRET_SETTINGS if self.config.get(name)]
        redact_secrets(secrets)
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            detail = "; ".join(exc.errors)
            for secret in secrets:
                detail = detail.replace(secret, "***")
            raise ConfigError(f"invalid configuration: {detail}") from None
        if raise_errors:
            check_settings(self.config)
        return errors

    def _handle_termination(self, signum: int, frame: t.Any) -> None:  # noqa: ARG002
        # The SDK's handler writes STATE from inside the signal handler (possibly in the
        # middle of a write to stdout) and exits 0, after worker threads finish whatever
        # they are waiting for (a Retry-After of many minutes): a stopped run looked like a
        # successful one, late. Stop now, non-zero; the last STATE written stands.
        cli.terminate(signum)

    @classmethod
    def get_singer_command(cls):  # noqa: ANN206
        return cli.with_one_line_errors(super().get_singer_command(), cls.logger)


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
            "no token configured: set private_token (env TAP_DATAOPS_PRIVATE_TOKEN) to an access token "
            "with read_api scope, or job_token inside a DataOps.live CI job"
        )
    if has_private and has_job:
        raise ConfigError("both private_token and job_token are set: keep only one of them")

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


CATALOG_HINT = "regenerate it with tap-dataops --config CONFIG --discover"
STATE_HINT = "pass the last STATE line the loader emitted, or run without --state to start over"


def check_catalog(catalog: t.Any) -> None:
    """Refuse a catalog that is not a Singer catalog, or that names a stream this tap lacks."""
    if catalog is None or isinstance(catalog, Catalog):
        return
    entries = catalog.get("streams") if isinstance(catalog, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("tap_stream_id"), str) and isinstance(e.get("schema"), dict)
        for e in entries
    ):
        raise ConfigError(
            'the catalog is not a Singer catalog (an object with a "streams" list of entries, each with '
            f'"tap_stream_id" and "schema"); {CATALOG_HINT}'
        )
    known = {stream_type.name for stream_type in STREAM_TYPES}
    unknown = sorted({e["tap_stream_id"] for e in entries} - known)
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


if __name__ == "__main__":
    TapDataOps.cli()
