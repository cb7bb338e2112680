"""The base every DataOps.live stream shares: URL, listing parameters, pages, fetching ahead.

Requests do not go through the SDK's REST machinery: they go through the run's
``ApiClient`` (``tap_dataops.api``), which shares one request budget across streams and
threads and honours the server's ``Retry-After``, and through the page loop here, which
asks for the next page while the current one is written. Records flow a page at a time,
so the children of a page's records are fetched while the page is written.
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_dataops.pagination import GitLabPaginator
from tap_dataops.sdk_overrides import StreamSeams

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_dataops.api import Page
    from tap_dataops.run import RunContext

# schemas/<stream name>.json, inside the package
SCHEMAS = SchemaDirectory(Path(__file__).parent / "schemas")

RecordPages = t.Iterator[list[dict]]


def _partition_key(context: Context | None) -> tuple:
    return tuple(sorted((context or {}).items()))


class DataOpsStream(StreamSeams):
    """A GitLab API v4 listing, paginated as the server reports it."""

    schema = StreamSchema(SCHEMAS)
    path: str = ""  # relative to api_url; "{project_id}" and the like come from the context
    # Read completely every run: records carry the run's version, and an ACTIVATE_VERSION
    # follows a complete run (rows without it are gone at the source).
    versioned: bool = False

    # Records are parsed JSON whose types the schemas describe honestly, so the SDK's
    # per-value conformance pass only costs time (it was 60% of the tap's CPU); the
    # schema's top-level properties are still enforced (StreamSeams).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, run: RunContext) -> None:
        super().__init__(tap)
        self.run = run
        if self.versioned:
            self.stamp_version(run.version)
        # Partitions fetched ahead on worker threads, taken by get_records.
        self._prefetched: dict[tuple, Future[list[dict]]] = {}

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    def get_url(self, context: Context | None) -> str:
        values = {key: quote(str(value), safe="") for key, value in (context or {}).items()}
        return self.url_base + self.path.format(**values)

    # -- what a listing asks for -------------------------------------------------------

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:  # noqa: ARG002 - streams use it
        """Query parameters of the first page (filters, ordering); streams extend this."""
        return {}

    def first_params(self, context: Context | None) -> dict[str, t.Any]:
        return {"per_page": self.run.page_size, **self.listing_params(context)}

    def new_paginator(self, context: Context | None) -> GitLabPaginator:  # noqa: ARG002 - streams use it
        """The paginator of one partition (streams whose cursor starts from state override this)."""
        return GitLabPaginator()

    # -- records, a page at a time -----------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        prefetched = self._prefetched.pop(_partition_key(context), None)
        pages: t.Iterable[list[dict]] = [prefetched.result()] if prefetched is not None else self.record_pages(context)
        for records in pages:
            self.observe_page(records)
            self.prefetch_children(records, context)
            yield from records
            del records  # before the next page is parsed (see fetch_pages)

    def observe_page(self, records: list[dict]) -> None:
        """What the run learns from a page, before its children are fetched (streams override this)."""

    def record_pages(self, context: Context | None, *, lookahead: bool | None = None) -> RecordPages:
        """This stream's records of one partition, a page at a time (streams with a scope override this).

        Not a generator itself: what it reads of the stream's state (parameters, the
        paginator's start) is read when it is called, on the writing thread.
        """
        return self.fetch_pages(self.get_url(context), self.first_params(context), self.new_paginator(context),
                                lookahead=lookahead)

    def fetch_pages(self, url: str, params: dict[str, t.Any], paginator: GitLabPaginator, *,
                    lookahead: bool | None = None) -> RecordPages:
        """Each page's records new to the listing, following the server's pagination.

        With ``lookahead`` (the default when requests run concurrently) the next page is
        requested on a worker thread as soon as this one has arrived, before this one's
        records are handed on. Everything that reads stream state (params, paginator) was
        prepared by the caller, on the writing thread. A page fetched ahead is parsed here,
        on the thread that hands its records on, once the page before is let go of (the
        caller drops it too): parsed ahead on the worker, with the page before still alive,
        parsing and writing took half as long again.
        """
        if lookahead is None:
            lookahead = self.run.fetcher.concurrent
        api, fetcher = self.run.api, self.run.fetcher

        def fetch(token: dict | None, parse: bool) -> Page:
            return api.get(url, {**params, **(token or {})}, parse=parse)

        pending = fetcher.submit(fetch, paginator.token, False) if lookahead else None
        while not paginator.finished:
            page = pending.result() if pending is not None else fetch(paginator.token, True)
            records = [record for record in page.records if paginator.keep(record)]
            if not page.body and not paginator.continue_if_empty(page):
                return
            paginator.advance(page)
            pending = fetcher.submit(fetch, paginator.token, False) if lookahead and not paginator.finished else None
            del page  # its body is this page
            yield records
            del records

    def ensure_listed(self, stream_name: str) -> None:
        """Have that stream's listing read in this run (its records, not emitted, fill the scope)."""
        scope = self.run.scope
        if getattr(scope, f"{stream_name}_complete"):
            return
        stream = self.run.streams[stream_name]
        for page in stream.record_pages(None):
            stream.observe_page(page)

    def fetch_one(self, path: str, params: dict[str, t.Any] | None = None) -> dict:
        """One object (a detail, a named project or group), through the same client."""
        return self.run.api.get(f"{self.url_base}{path}", params).object

    # -- fetching ahead ----------------------------------------------------------------

    @cached_property
    def _children_to_prefetch(self) -> list[DataOpsStream]:
        if not self.run.fetcher.concurrent:
            return []
        return [child for child in self.child_streams
                if isinstance(child, DataOpsStream) and (child.selected or child.has_selected_descendents)]

    def prefetch_children(self, records: list[dict], context: Context | None) -> None:
        """Start fetching the children of a page's records while the page is written."""
        for child in self._children_to_prefetch:
            for record in records:
                child_context = self.get_child_context(record, context)
                if child_context is not None:
                    child.prefetch(child_context)

    def prefetch(self, context: Context) -> None:
        """Start fetching this partition on a worker thread."""
        if self.replication_key:
            # The SDK records a partition's starting bookmark when it begins syncing it;
            # this partition is fetched before that, so record it now (it is idempotent).
            self.write_starting_bookmark(context)
        # Its pages one after another inside the task: work on a worker thread never waits
        # for other submitted work (which could deadlock a full pool).
        pages = self.record_pages(context, lookahead=False)
        self._prefetched[_partition_key(context)] = self.run.fetcher.submit(
            lambda: [record for page in pages for record in page]
        )

    def discard_prefetch(self, context: Context) -> None:
        future = self._prefetched.pop(_partition_key(context), None)
        if future is not None:
            future.cancel()

    @cached_property
    def _syncs_children(self) -> bool:
        return any(child.selected or child.has_selected_descendents for child in self.child_streams)

    @override
    def generate_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[Context | None]:
        # The SDK asks every record for its children's context, then finds no child
        # selected; with none selected there is nothing to ask.
        if self._syncs_children:
            yield from super().generate_child_contexts(record, context)

    # -- the record path ---------------------------------------------------------------

    @cached_property
    def _declared_properties(self) -> frozenset[str] | None:
        if any(not selected for breadcrumb, selected in self.mask.items() if breadcrumb):
            return None
        return frozenset(self.schema["properties"])

    @override
    def declared_properties(self) -> frozenset[str] | None:
        return self._declared_properties
