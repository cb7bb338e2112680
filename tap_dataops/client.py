"""The base every DataOps.live stream shares: URL, listing parameters, paging, parsing,
fetching ahead, and the record path.

Requests do not go through the SDK's own retry decorator or request loop: they go through
the tap's ``ApiClient`` (``tap_dataops.http``), which shares one request budget across
streams and threads and honours the server's ``Retry-After``, and through the page loop
here, which asks for the next page while the current one is written.
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from itertools import islice
from pathlib import Path

from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import RESTStream

from tap_dataops.errors import ApiError
from tap_dataops.http import decode_body
from tap_dataops.pagination import GitLabPaginator, PageToken
from tap_dataops.state import IndexedStateManager

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    import requests
    from singer_sdk.helpers.types import Context

    from tap_dataops.concurrency import Fetcher
    from tap_dataops.http import ApiClient


SCHEMAS = SchemaDirectory(Path(__file__).parent / "schemas")


def _partition_key(context: Context | None) -> tuple:
    return tuple(sorted((context or {}).items()))


class DataOpsStream(RESTStream[PageToken]):
    """A GitLab API v4 listing, paginated as the server reports it."""

    # schemas/<stream name>.json
    schema = StreamSchema(SCHEMAS)

    # Records are parsed JSON whose types the schemas describe honestly, so the SDK's
    # per-value conformance pass only costs time (it was 60% of the tap's CPU); the
    # schema's top-level properties are still enforced, see _generate_record_messages.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # Partitions fetched ahead on worker threads, taken by request_records.
        self._prefetched: dict[tuple, Future[list[dict]]] = {}

    @property
    def state_manager(self) -> IndexedStateManager:
        # The SDK's own, with partitions found by key (see tap_dataops.state).
        if self._state_manager is None:
            self._state_manager = IndexedStateManager(
                tap_name=self.tap_name,
                stream_name=self.name,
                tap_state=self._tap_state,
                state_partitioning_keys=self.state_partitioning_keys,
                is_sorted=self.is_sorted,
                check_sorted=self.check_sorted,
            )
        return self._state_manager

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @property
    def api(self) -> ApiClient:
        return self._tap.api_client  # type: ignore[attr-defined]

    @property
    def fetcher(self) -> Fetcher:
        return self._tap.fetcher  # type: ignore[attr-defined]

    # -- what a listing asks for -------------------------------------------------------

    def listing_params(self, context: Context | None) -> dict[str, t.Any]:
        """Query parameters of the first page (filters, ordering); streams extend this."""
        return {}

    def get_url_params(self, context: Context | None, next_page_token: PageToken | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"per_page": self.config["page_size"], **self.listing_params(context)}
        if next_page_token:
            params.update(next_page_token)
        return params

    def get_new_paginator(self) -> GitLabPaginator:
        return GitLabPaginator()

    def partition_paginator(self, context: Context | None) -> GitLabPaginator:
        """The paginator of one partition (streams whose cursor starts from state override this)."""
        return self.get_new_paginator()

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        body = response.body  # type: ignore[attr-defined]  # parsed once by ApiClient
        if not isinstance(body, list):
            raise ApiError(f"GET {self.path} answered with a JSON {type(body).__name__}, expected a list")
        return body

    # -- the page loop -----------------------------------------------------------------

    def request_records(self, context: Context | None) -> t.Iterable[dict]:
        prefetched = self._prefetched.pop(_partition_key(context), None)
        if prefetched is not None:
            yield from prefetched.result()
            return
        for page in self._pages(self.get_url(context), self.get_url_params(context, None),
                                self.partition_paginator(context), lookahead=self.fetcher.concurrent):
            yield from page
            del page  # before the next page is parsed (see _pages)

    def _pages(self, url: str, params: dict[str, t.Any], paginator: GitLabPaginator, *, lookahead: bool) -> t.Iterator[list[dict]]:
        """Each page's new records, following the server's pagination.

        With ``lookahead`` the next page is requested (on a worker thread) as soon as this
        one has arrived, before this one's records are handed on. Everything that reads
        stream state (params, paginator) was prepared by the caller, on the writing thread.

        A page fetched ahead is only checked on the worker and parsed here, on the thread
        that hands its records on, once the page before is let go of (the caller drops it
        too): its objects then reuse memory still in the CPU's cache. Parsed ahead on the
        worker, with the page before still alive, parsing and writing took half as long
        again. A page fetched here is parsed as it arrives.
        """

        def fetch(token: PageToken | None, decode: bool) -> requests.Response:
            return self.api.get(url, {**params, **(token or {})}, decode=decode)

        pending = self.fetcher.submit(fetch, paginator.current_value, False) if lookahead else None
        while not paginator.finished:
            if pending is not None:
                response = pending.result()
                decode_body(response)
            else:
                response = fetch(paginator.current_value, True)
            records = [record for record in self.parse_response(response) if paginator.keep(record)]
            if not response.body and not paginator.continue_if_empty(response):  # type: ignore[attr-defined]
                return
            paginator.advance(response)
            pending = (
                self.fetcher.submit(fetch, paginator.current_value, False)
                if lookahead and not paginator.finished
                else None
            )
            del response  # its body is this page
            yield records
            del records

    # -- fetching ahead ----------------------------------------------------------------

    def prefetch(self, context: Context) -> None:
        """Start fetching this partition on a worker thread (no-op when sequential)."""
        if not self.fetcher.concurrent or not (self.selected or self.has_selected_descendents):
            return
        if self.replication_key:
            # The SDK records a partition's starting bookmark when it begins syncing it;
            # this partition is fetched before that, so record it now (it is idempotent).
            self._write_starting_replication_value(context)
        url, params = self.get_url(context), self.get_url_params(context, None)
        paginator = self.partition_paginator(context)
        self._prefetched[_partition_key(context)] = self.fetcher.submit(
            lambda: [record for page in self._pages(url, params, paginator, lookahead=False) for record in page]
        )

    def discard_prefetch(self, context: Context) -> None:
        future = self._prefetched.pop(_partition_key(context), None)
        if future is not None:
            future.cancel()

    @cached_property
    def _syncs_children(self) -> bool:
        return any(child.selected or child.has_selected_descendents for child in self.child_streams)

    def generate_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[Context | None]:
        # The SDK asks every record for its children's context, then finds no child
        # selected; with none selected there is nothing to ask.
        if self._syncs_children:
            yield from super().generate_child_contexts(record, context)

    def with_children_prefetched(self, records: t.Iterable[dict], context: Context | None) -> t.Iterator[dict]:
        """Hand on ``records`` a page at a time, each page's children already being fetched."""
        children = [
            child
            for child in self.child_streams
            if isinstance(child, DataOpsStream) and (child.selected or child.has_selected_descendents)
        ]
        if not self.fetcher.concurrent or not children:
            yield from records
            return
        iterator = iter(records)
        while page := list(islice(iterator, self.config["page_size"])):
            for record in page:
                child_context = self.get_child_context(record, context)
                for child in children:
                    child.prefetch(child_context)
            yield from page
            del page  # before the next page is parsed (see _pages)

    # Requests outside the stream's own listing (details, scoped listings) go through the
    # same ApiClient and paginators as the listing does.

    def fetch_one(self, path: str, params: dict[str, t.Any] | None = None) -> dict:
        body = self.api.get(f"{self.url_base}{path}", params).body  # type: ignore[attr-defined]
        if not isinstance(body, dict):
            raise ApiError(f"GET {path} answered with a JSON {type(body).__name__}, expected an object")
        return body

    def fetch_all(self, path: str, params: dict[str, t.Any], paginator: GitLabPaginator | None = None) -> t.Iterator[dict]:
        pages = self._pages(
            f"{self.url_base}{path}",
            {"per_page": self.config["page_size"], **params},
            paginator or GitLabPaginator(),
            lookahead=self.fetcher.concurrent,
        )
        for page in pages:
            yield from page

    # -- the record path ---------------------------------------------------------------

    @cached_property
    def _declared_properties(self) -> frozenset[str] | None:
        """The schema's top-level properties when every one is selected (the usual case)."""
        if any(not selected for breadcrumb, selected in self.mask.items() if breadcrumb):
            return None
        return frozenset(self.schema["properties"])

    def _generate_record_messages(self, record: dict) -> t.Iterator[RecordMessage]:
        # The SDK's version walks every property of every record against the selection
        # mask (and conforms types); with every property selected, dropping the fields
        # the schema does not declare is the whole job, and a dict comprehension does it.
        declared = self._declared_properties
        if declared is None:
            yield from super()._generate_record_messages(record)
            return
        if not declared.issuperset(record):
            record = {key: value for key, value in record.items() if key in declared}
        extracted_at = utc_now()
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=extracted_at,
                )

    def _write_schema_message(self) -> None:
        # The SDK sends a child stream's SCHEMA again for every parent record; once per
        # run is all a target needs (thousands of repeats slow every loader down).
        if not getattr(self, "_schema_sent", False):
            super()._write_schema_message()
            self._schema_sent = True
