"""The base every DataOps.live stream shares: URL, listing parameters, paging, parsing.

Requests do not go through the SDK's own retry decorator: they go through the tap's
``ApiClient`` (``tap_dataops.http``), which shares one request budget across streams and
honours the server's ``Retry-After``.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.streams import RESTStream

from tap_dataops.errors import ApiError
from tap_dataops.pagination import GitLabPaginator, PageToken

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_dataops.http import ApiClient


def _schemas_dir() -> Path:
    package = Path(__file__).parent
    installed = package / "schemas"  # inside a wheel (see pyproject's force-include)
    return installed if installed.is_dir() else package.parent / "schemas"


SCHEMAS = SchemaDirectory(_schemas_dir())


class DataOpsStream(RESTStream[PageToken]):
    """A GitLab API v4 listing, paginated as the server reports it."""

    # schemas/<stream name>.json
    schema = StreamSchema(SCHEMAS)

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @property
    def api(self) -> ApiClient:
        return self._tap.api_client  # type: ignore[attr-defined]

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

    def _write_schema_message(self) -> None:
        # The SDK sends a child stream's SCHEMA again for every parent record; once per
        # run is all a target needs (thousands of repeats slow every loader down).
        if not getattr(self, "_schema_sent", False):
            super()._write_schema_message()
            self._schema_sent = True

    def request_decorator(self, func: t.Callable) -> t.Callable:
        # Retries, rate-limit waits and error classification live in ApiClient.
        return func

    def _request(self, prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
        response = self.api.get(t.cast("str", prepared_request.url))
        self._write_request_duration_log(endpoint=self.path, response=response, context=context, extra_tags=None)
        return response

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        body = response.body  # type: ignore[attr-defined]  # parsed once by ApiClient
        if not isinstance(body, list):
            raise ApiError(f"GET {self.path} answered with a JSON {type(body).__name__}, expected a list")
        return body

    # Requests outside the stream's own listing (details, scoped listings) go through the
    # same ApiClient and the same paginator as the listing does.

    def fetch_one(self, path: str, params: dict[str, t.Any] | None = None) -> dict:
        body = self.api.get(f"{self.url_base}{path}", params).body  # type: ignore[attr-defined]
        if not isinstance(body, dict):
            raise ApiError(f"GET {path} answered with a JSON {type(body).__name__}, expected an object")
        return body

    def fetch_all(self, path: str, params: dict[str, t.Any], paginator: GitLabPaginator | None = None) -> t.Iterator[dict]:
        paginator = paginator or GitLabPaginator()
        while not paginator.finished:
            page = {"per_page": self.config["page_size"], **params, **(paginator.current_value or {})}
            response = self.api.get(f"{self.url_base}{path}", page)
            yield from self.parse_response(response)
            paginator.advance(response)
