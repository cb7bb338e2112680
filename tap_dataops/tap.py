"""tap-dataops: its settings, its streams, and the run that syncs them."""

from __future__ import annotations

import gc
import signal
import threading
import typing as t
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.singerlib import ActivateVersionMessage
from typing_extensions import override

from tap_dataops.api import ApiClient
from tap_dataops.budget import GITLAB_COM_ENDPOINT_LIMITS
from tap_dataops.checks import (
    DEFAULT_API_URL,
    check_catalog_shape,
    check_catalog_streams,
    check_endpoint_limits,
    check_settings,
    check_state,
    check_unknown_settings,
)
from tap_dataops.concurrency import Fetcher
from tap_dataops.errors import ConfigError
from tap_dataops.logs import keep_stderr_readable
from tap_dataops.output import BufferedMessageWriter, PacedStateWriter
from tap_dataops.redaction import redact_secrets
from tap_dataops.run import MEMBERSHIP, SCOPES, RunContext, Scope
from tap_dataops.sdk_overrides import TapSeams, terminate
from tap_dataops.streams import STREAM_NAMES, STREAM_TYPES

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_dataops.client import DataOpsStream

SECRET_SETTINGS = ("private_token", "job_token")


class TapDataOps(TapSeams):
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
            description="The first run reads pipelines updated since this time (later runs: since their bookmark).",
        ),
        th.Property(
            "scope",
            th.StringType,
            default=MEMBERSHIP,
            allowed_values=list(SCOPES),
            description="membership: the projects and groups the token's user is a member of (directly, through "
            "a group or a share); instance: everything the token can see (for an administrator, the whole "
            "instance; for anyone else, also every public and internal project and group of a shared instance).",
        ),
        th.Property(
            "endpoint_rate_limits",
            th.ObjectType(additional_properties=th.ArrayType(th.NumberType)),
            description="Per-endpoint limits as [requests, seconds], beside requests_per_minute; defaults are "
            "GitLab.com's (GET /projects 2,000 per 600 s, GET /projects/:id 400 per 60 s, GET /groups 200 per "
            "60 s, GET /groups/:id 400 per 60 s, GET /groups/:id/projects 600 per 60 s); [0, 60] turns one off.",
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
            description="Seconds one request may spend retrying server errors, resets and timeouts "
            "before the run fails.",
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
            description="Only these groups (full paths or ids) and their subgroups: their projects, groups "
            "and members.",
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
            description="Allow a plain http:// api_url to a host other than loopback (the token travels in "
            "clear text).",
        ),
    ).to_dict()

    @override
    def __init__(self, *, catalog: t.Any = None, validate_config: bool = True, **kwargs: t.Any) -> None:
        # The SDK would fail on a catalog object of the wrong shape with a bare TypeError,
        # and silently skip a selected stream it does not know (checked once it is loaded).
        check_catalog_shape(catalog)
        keep_stderr_readable()
        try:
            super().__init__(catalog=catalog, validate_config=validate_config, **kwargs)
        except ConfigValidationError as exc:
            # The SDK logs each JSON-Schema error on its own line, with the values: one line, secrets masked.
            detail = "; ".join(exc.errors)
            for secret in self._secrets():
                detail = detail.replace(secret, "***")
            raise ConfigError(f"invalid configuration: {detail}") from None
        redact_secrets(self._secrets())
        check_catalog_streams(self.input_catalog, STREAM_NAMES)
        if validate_config:
            check_unknown_settings(self.config, self.config_jsonschema)
            check_settings(self.config)
        self.install_state_writer(PacedStateWriter(t.cast("BufferedMessageWriter", self.message_writer)))
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda received, _frame: terminate(self.name, received))

    def _secrets(self) -> list[str]:
        return [str(self.config.get(name)) for name in SECRET_SETTINGS if self.config.get(name)]

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        check_state(state)  # the SDK would fail on a state of the wrong shape with a bare TypeError
        super().load_state(state)

    @cached_property
    def run(self) -> RunContext:
        """What every stream of this run shares (the API client, the fetcher, what was learned)."""
        if self.config.get("private_token"):
            auth_headers, token_setting = {"PRIVATE-TOKEN": self.config["private_token"]}, "private_token"
        else:
            auth_headers, token_setting = {"JOB-TOKEN": self.config.get("job_token") or ""}, "job_token"
        api = ApiClient(
            auth_headers=auth_headers,
            token_setting=token_setting,
            requests_per_minute=self.config["requests_per_minute"],
            timeout=float(self.config["request_timeout"]),
            user_agent=self.config.get("user_agent") or f"tap-dataops/{self.plugin_version}",
            retry_time_budget=float(self.config["retry_time_budget"]),
            max_rate_limit_wait=float(self.config["max_rate_limit_wait"]),
            max_concurrency=self.config["max_concurrency"],
            base_url=str(self.config["api_url"]),
            endpoint_limits={**GITLAB_COM_ENDPOINT_LIMITS,
                             **check_endpoint_limits(self.config.get("endpoint_rate_limits") or {})},
        )
        scope = Scope(
            mode=self.config.get("scope") or MEMBERSHIP,
            group_refs=tuple(str(ref) for ref in self.config.get("groups") or ()),
            project_refs=tuple(str(ref) for ref in self.config.get("projects") or ()),
        )
        return RunContext(api=api, fetcher=Fetcher(self.config["max_concurrency"]),
                          page_size=self.config["page_size"], scope=scope)

    @override
    def sync_order(self, streams: list[Stream]) -> list[Stream]:
        # STREAM_TYPES' order: namespaces and removed_projects are made from the projects and
        # groups listings before them.
        return sorted(streams, key=lambda stream: STREAM_NAMES.index(stream.name))

    @override
    def discover_streams(self) -> list[DataOpsStream]:
        streams = [stream_type(tap=self, run=self.run) for stream_type in STREAM_TYPES]
        self.run.streams.update((stream.name, stream) for stream in streams)
        return streams


    # -- the run (called by sdk_overrides.TapSeams around the SDK's sync) ------------------

    @override
    def before_sync(self) -> None:
        # Everything alive now (the SDK, schemas, catalog) lives the whole run; frozen, it
        # is no longer walked by every full garbage collection, which decoding pages of
        # thousands of dicts triggers often (10-15% of the tap's CPU).
        gc.freeze()

    @override
    def after_sync(self) -> None:
        self.activate_versions()
        t.cast("PacedStateWriter", self.state_writer).flush()  # the final state, whether or not it was due

    @override
    def connection_test_passed(self) -> None:
        self.run.fetcher.close()
        self.logger.info("Connection test passed, every stream answered: %s", self.run.api.stats.describe())

    def activate_versions(self) -> None:
        """Every full-table stream was read completely: rows without this run's version are gone.

        Sent only after the last record of the run and only when the run succeeded, so a
        loader never deletes rows for a listing that did not finish.
        """
        for stream in self.streams.values():
            if not (getattr(stream, "versioned", False) and stream.selected):
                continue
            for stream_map in stream.stream_maps:
                if not isinstance(stream_map, RemoveRecordTransform):
                    self.write_message(ActivateVersionMessage(stream=stream_map.stream_alias, version=self.run.version))

    @override
    def close_run(self) -> None:
        self.run.fetcher.close()
        scope = self.run.scope
        for line in self.run.skips.summary():
            self.logger.warning(line)
        if scope.without_statistics:
            self.logger.warning(
                "projects: %d of %d projects have no statistics (storage sizes are NULL): GitLab shows them only "
                "where the token's user has Reporter access or above", scope.without_statistics, len(scope.projects))
        if scope.projects_complete or scope.groups_complete:
            self.logger.info("Run complete: %s", scope.describe())
        self.logger.info("Run complete: %s", self.run.api.stats.describe())

if __name__ == "__main__":
    TapDataOps.cli()
